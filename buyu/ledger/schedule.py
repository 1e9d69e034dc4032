"""Repayment schedule maths: pure functions over integer fen, no database.

Convention (documented in README): monthly rate = annual / 12; period interest =
round(opening balance × monthly rate); equal-instalment payment =
round(P·r(1+r)^n / ((1+r)^n − 1)); equal-principal principal = round(P / n); the last instalment
takes whatever principal remains so principal sums exactly to P; bullet pays
P + round(P × annual × n / 12) at maturity. Rounding is half-up to the fen throughout.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from enum import StrEnum

from buyu.money import RATE_SCALE, round_half_up


class Method(StrEnum):
    """Repayment methods."""

    EQUAL_INSTALMENT = "equal_instalment"  # 等额本息
    EQUAL_PRINCIPAL = "equal_principal"  # 等额本金
    INTEREST_FIRST = "interest_first"  # 先息后本
    BULLET = "bullet"


@dataclass(frozen=True, slots=True)
class Instalment:
    """One scheduled instalment, in fen."""

    seq: int
    due_date: date
    principal: int
    interest: int
    balance_after: int

    @property
    def payment(self) -> int:
        """What the borrower pays on the due date."""
        return self.principal + self.interest


def add_months(start: date, months: int, *, anchor_day: int | None = None) -> date:
    """The date `months` after `start` on the anchor day, clipped to the month's last day."""
    day = anchor_day or start.day
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def monthly_rate(annual_rate_micro: int) -> Decimal:
    """Annual rate in millionths → exact monthly rate."""
    return Decimal(annual_rate_micro) / Decimal(12 * RATE_SCALE)


def annuity_payment(*, principal: int, annual_rate_micro: int, periods: int) -> int:
    """The level payment that amortises `principal` over `periods` months (fen, half-up)."""
    if annual_rate_micro == 0:
        return round_half_up(Decimal(principal) / periods)
    with localcontext() as ctx:
        ctx.prec = 50
        r = monthly_rate(annual_rate_micro)
        growth = (1 + r) ** periods
        return round_half_up(Decimal(principal) * r * growth / (growth - 1))


def build_schedule(
    *,
    principal: int,
    annual_rate_micro: int,
    term_months: int,
    method: Method,
    start_date: date,
    anchor_day: int | None = None,
    first_seq: int = 1,
    payment: int | None = None,
) -> list[Instalment]:
    """The instalments of a loan of `principal` fen starting on `start_date`.

    `anchor_day` keeps the original day of month when a schedule is rebuilt mid-life;
    `payment` fixes the level payment of an equal-instalment schedule (used when a prepayment
    shortens the term instead of lowering the payment).
    """
    if principal <= 0 or term_months <= 0:
        raise ValueError("principal and term_months must be positive")
    dues = [add_months(start_date, k, anchor_day=anchor_day) for k in range(1, term_months + 1)]
    if method is Method.BULLET:
        interest = round_half_up(Decimal(principal) * annual_rate_micro * term_months / (12 * RATE_SCALE))
        return [Instalment(first_seq, dues[-1], principal, interest, 0)]
    r = monthly_rate(annual_rate_micro)
    level = payment or annuity_payment(
        principal=principal, annual_rate_micro=annual_rate_micro, periods=term_months
    )
    even_principal = round_half_up(Decimal(principal) / term_months)
    balance, rows = principal, []
    for k, due in enumerate(dues, start=1):
        interest = round_half_up(balance * r)
        if k == term_months:
            part = balance
        elif method is Method.EQUAL_INSTALMENT:
            part = min(max(level - interest, 0), balance)
        elif method is Method.EQUAL_PRINCIPAL:
            part = min(even_principal, balance)
        else:  # interest first: principal only at maturity
            part = 0
        balance -= part
        rows.append(Instalment(first_seq + k - 1, due, part, interest, balance))
        if balance == 0:
            break
    return rows


def periods_for_payment(*, principal: int, annual_rate_micro: int, payment: int, max_periods: int) -> int:
    """Fewest months at which the level payment for `principal` does not exceed `payment`."""
    for periods in range(1, max_periods + 1):
        if annuity_payment(principal=principal, annual_rate_micro=annual_rate_micro, periods=periods) <= payment:
            return periods
    return max_periods


def accrued_interest(*, principal: int, annual_rate_micro: int, days: int, basis: int) -> int:
    """Simple interest for `days` on the ACT/basis day count, in fen (half-up)."""
    return round_half_up(Decimal(principal) * annual_rate_micro * days / (Decimal(basis) * RATE_SCALE))
