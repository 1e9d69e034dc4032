"""Hand-built histories for the scoring proofs (pure: no database)."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np

from buyu.scoring.features import EventLog, History, Loans

D0 = date(2026, 3, 2).toordinal()


def log(rows: list[tuple[int, int]] | None = None, **columns: list[Any]) -> EventLog:
    """An event log from (loan, day offset from D0) pairs and value columns."""
    pairs = rows or []
    return EventLog(loan=np.asarray([r[0] for r in pairs], dtype=np.int64),
                    day=np.asarray([D0 + r[1] for r in pairs], dtype=np.int64),
                    **{k: np.asarray(v) for k, v in columns.items()})


def loans(n: int, **overrides: Any) -> Loans:
    """n consumer loans with ids 1..n, 80,000 yuan, 12 months, disbursed a year before D0."""
    z = np.zeros(n, dtype=np.int64)
    values: dict[str, Any] = dict(
        loan_id=np.arange(1, n + 1, dtype=np.int64), borrower_id=np.arange(1, n + 1, dtype=np.int64),
        principal_fen=np.full(n, 8_000_000, dtype=np.int64), term_months=np.full(n, 12, dtype=np.int64),
        annual_rate_micro=np.full(n, 240_000, dtype=np.int64), disbursed=np.full(n, D0 - 365, dtype=np.int64),
        birth_year=np.full(n, 1985.0), contact_points=np.ones(n, dtype=np.int64),
        categorical={"segment": z.copy(), "region": z.copy(), "language": z.copy(), "income_band": z.copy()},
        levels={"segment": ("consumer",), "region": ("east",), "language": ("zh-CN",), "income_band": ("mid",)},
        cease_from=z.copy(), dispute_from=z.copy(), closed_on=z.copy(), written_off_on=z.copy())
    values.update(overrides)
    return Loans(**values)


def history(n: int, *, last: int = 60, **logs: EventLog) -> History:
    """A history of n loans; unspecified event logs are empty."""
    empty = {"snapshots": log(dpd=[], overdue=[], outstanding=[]),
             "attempts": log(channel=[], result=[], collector=[], hour=[]), "payments": log(amount=[]),
             "promises": log(due=[], amount=[], judged=[]), "judged": log(kept=[], broken=[]),
             "placements": log(kind=[], until=[]), "complaints": log(), "paid_lines": log(n=[])}
    loans_ = logs.pop("loans", None)
    return History(loans=loans_ if isinstance(loans_, Loans) else loans(n), first_day=D0, last_day=D0 + last,
                   **(empty | logs))


def daily_snapshots(loan: int, first: int, last: int, *, dpd0: int = 10, overdue: int = 300_000,
                    outstanding: int = 6_000_000) -> list[tuple[int, int, int, int, int]]:
    """(loan, day, dpd, overdue, outstanding) for consecutive nights."""
    return [(loan, d, dpd0 + d - first, overdue, outstanding) for d in range(first, last + 1)]


def snapshot_log(rows: list[tuple[int, int, int, int, int]]) -> EventLog:
    """A snapshot log from (loan, day, dpd, overdue, outstanding)."""
    return log([(r[0], r[1]) for r in rows], dpd=[r[2] for r in rows], overdue=[r[3] for r in rows],
               outstanding=[r[4] for r in rows])
