"""The repayment waterfall: a pure allocation of an amount over what is due."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

COMPONENTS = ("penalty", "interest", "principal")
MODES = ("instalment_first", "component_first")


@dataclass(frozen=True, slots=True)
class Due:
    """What is open on one instalment, by component, in fen."""

    instalment_id: int
    due_date: date
    penalty: int
    interest: int
    principal: int

    def open(self, component: str) -> int:
        """The open amount of one component."""
        return int(getattr(self, component))


@dataclass(frozen=True, slots=True)
class Allocation:
    """Part of a payment applied to one component of one instalment."""

    instalment_id: int
    component: str
    amount: int


def parse_order(order: str) -> tuple[str, ...]:
    """Validate a waterfall order such as "penalty,interest,principal"."""
    parts = tuple(p.strip() for p in order.split(","))
    if sorted(parts) != sorted(COMPONENTS):
        raise ValueError(f"waterfall must order exactly {', '.join(COMPONENTS)}; got {order!r}")
    return parts


def allocate(
    *, amount: int, dues: Sequence[Due], order: Sequence[str], mode: str = "instalment_first"
) -> tuple[list[Allocation], int]:
    """Apply `amount` to `dues` (oldest first); returns the allocations and what is left over.

    instalment_first clears each instalment in component order before the next one;
    component_first pays one component across all instalments before the next component.
    """
    if amount < 0:
        raise ValueError("amount must not be negative")
    if mode not in MODES:
        raise ValueError(f"unknown waterfall mode {mode!r}")
    ordered = sorted(dues, key=lambda d: (d.due_date, d.instalment_id))
    if mode == "instalment_first":
        slots = [(d, c) for d in ordered for c in order]
    else:
        slots = [(d, c) for c in order for d in ordered]
    left, out = amount, []
    for due, component in slots:
        take = min(left, due.open(component))
        if take > 0:
            out.append(Allocation(due.instalment_id, component, take))
            left -= take
        if left == 0:
            break
    return out, left
