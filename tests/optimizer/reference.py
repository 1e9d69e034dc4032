"""An independent MIP of a Problem, solved by HiGHS (scipy.optimize.milp), for reference checks.

Written from the Problem's documented rules, not from the solver's arrays: one binary per option
worth more than 0 (continuity bonus included), at most one per account, every capacity, and the
workload band over the collectors that have an option worth doing, in the linear form
    load_c * team_minutes - (1 + b) * minutes_c * team_load <= 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from buyu.optimizer import Problem
from tests.optimizer.helpers import adjusted


@dataclass(frozen=True)
class Reference:
    """HiGHS's plan value and proven bound; `optimal` when it closed the gap."""

    objective: float
    bound: float
    optimal: bool


def highs_reference(problem: Problem, *, time_limit: float = 120.0) -> Reference:
    """Solve the full (unpruned) problem with HiGHS."""
    names = {n: i for i, n in enumerate(problem.resource_names)}
    values: list[int] = []
    rows: list[int] = []
    cols: list[int] = []
    amounts: list[float] = []
    account_row: list[int] = []
    working: set[str] = set()
    for a, account in enumerate(problem.accounts):
        for option in account.options:
            value = adjusted(problem, account, option)
            if value <= 0:
                continue
            j = len(values)
            values.append(value)
            account_row.append(a)
            if option.collector is not None:
                working.add(option.collector)
            for name, amount in option.uses:
                rows.append(names[name])
                cols.append(j)
                amounts.append(float(amount))
    n, n_acc, n_res = len(values), len(problem.accounts), len(names)
    if n == 0:
        return Reference(0.0, 0.0, True)
    use = sp.csr_matrix((amounts, (rows, cols)), shape=(n_res, n))
    blocks = [sp.csr_matrix((np.ones(n), (account_row, np.arange(n))), shape=(n_acc, n)), use]
    upper = [np.ones(n_acc), np.array([problem.capacity(r) for r in names], dtype=float)]
    band = _band_rows(problem, use=use, names=names, working=working)
    if band is not None:
        blocks.append(band)
        upper.append(np.zeros(band.shape[0]))
    a_matrix = sp.vstack(blocks).tocsr()
    res = milp(-np.array(values, dtype=float), constraints=LinearConstraint(a_matrix, -np.inf, np.concatenate(upper)),
               integrality=np.ones(n), bounds=Bounds(0, 1),
               options={"time_limit": time_limit, "mip_rel_gap": 0.0, "presolve": True})
    objective = -float(res.fun) if res.x is not None else 0.0
    bound = -float(getattr(res, "mip_dual_bound", -objective))
    return Reference(objective=objective, bound=bound, optimal=res.status == 0)


def _band_rows(
    problem: Problem, *, use: sp.csr_matrix, names: dict[str, int], working: set[str]
) -> sp.csr_matrix | None:
    """One integer-coefficient band row per balanced collector, or None without a band."""
    if problem.balance_band is None:
        return None
    band = Fraction(problem.balance_band).limit_denominator(10**9)
    teams: dict[str, list[int]] = {}
    minutes: dict[int, int] = {}
    for c in problem.collectors:
        if c.team is not None and c.minutes > 0 and c.id in working:
            teams.setdefault(c.team, []).append(names[c.resource])
            minutes[names[c.resource]] = c.minutes
    out = []
    for members in teams.values():
        total = sum(minutes[r] for r in members)
        team_load = use[members].sum(axis=0)
        for r in members:
            # scaled by the denominator so the row has integer coefficients
            row = use[r] * (total * band.denominator) - team_load * ((band.numerator + band.denominator) * minutes[r])
            out.append(sp.csr_matrix(row))
    return sp.vstack(out).tocsr() if out else None
