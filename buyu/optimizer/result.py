"""The optimizer's output: the plan, its quality certificate and a reason for every account."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from buyu.optimizer.problem import Treatment


class Status(StrEnum):
    """OPTIMAL when the bound proves the plan best; FEASIBLE otherwise (see `Result.gap`)."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"


class Reason(StrEnum):
    """Why an option lost to the chosen one."""

    CAPACITY = "capacity"  # a resource it needs is used up (the resource is named)
    RULE = "rule"  # a rule removed it: top-k pruning, continuity threshold, workload band
    VALUE = "value"  # it is worth less


@dataclass(frozen=True, slots=True)
class Choice:
    """One option of an account; `option` is its position in `Account.options`, None for no_action."""

    treatment: Treatment
    collector: str | None
    value: int
    option: int | None


NO_ACTION = Choice(treatment=Treatment.NO_ACTION, collector=None, value=0, option=None)


@dataclass(frozen=True, slots=True)
class Assignment:
    """What an account gets today, its best alternative and why that alternative lost."""

    account: str
    chosen: Choice
    alternative: Choice | None
    reason: Reason | None
    resource: str | None
    detail: str

    @property
    def treatment(self) -> Treatment:
        """The chosen treatment."""
        return self.chosen.treatment

    @property
    def collector(self) -> str | None:
        """The chosen collector, if the treatment needs one."""
        return self.chosen.collector


@dataclass(frozen=True, slots=True)
class Unplaced:
    """An account whose best option (highest value, positive) was not placed, and the binding reason."""

    account: str
    best: Choice
    reason: Reason
    resource: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class Result:
    """A plan for the day with its certificate.

    objective: fen; the maximised quantity: expected net value of the chosen options plus the
        continuity bonus earned by accounts kept with their incumbent.
    value: fen; expected net value alone.
    bound: fen; no plan for this problem (before top-k pruning) has a higher objective.
    gap: (bound - objective) / max(|bound|, 1).
    assignments: one per account in input order, each with its best alternative and the reason
        it lost; unplaced: the accounts whose best option was not placed. Both are sequences
        whose items are built when read.
    """

    status: Status
    objective: int
    value: int
    bound: int
    gap: float
    seconds: float
    assignments: Sequence[Assignment]
    unplaced: Sequence[Unplaced]
    usage: Mapping[str, int]
    stages: Mapping[str, float] = field(default_factory=dict)

    def assignment(self, account_id: str) -> Assignment:
        """The assignment of one account, by id (KeyError when unknown)."""
        lookup = getattr(self.assignments, "of", None)
        if lookup is not None:
            return lookup(account_id)
        for item in self.assignments:
            if item.account == account_id:
                return item
        raise KeyError(account_id)
