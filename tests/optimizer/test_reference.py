"""solve() against HiGHS on the full (unpruned) MIP: plan <= HiGHS optimum <= solve()'s bound."""

from __future__ import annotations

import pytest

from buyu.optimizer import solve
from tests.optimizer.helpers import check_plan, medium_problem
from tests.optimizer.reference import highs_reference

CASES = [
    (1, 200, 6, 0.2),
    (2, 200, 6, None),
    (3, 600, 12, 0.2),
    (4, 1000, 15, 0.1),
    (5, 2000, 25, 0.25),
    (6, 2000, 25, None),
]


@pytest.mark.parametrize(("seed", "accounts", "collectors", "band"), CASES)
def test_plan_and_bound_bracket_the_highs_optimum(seed: int, accounts: int, collectors: int,
                                                   band: float | None) -> None:
    """On random days of 200–2000 accounts (with and without a workload band, continuity on) the
    plan is feasible, worth no more than HiGHS's proven optimum, and the reported bound is no lower
    than that optimum: the certificate is honest for the full problem, not just the pruned one
    (top_k=2 prunes collectors here)."""
    problem = medium_problem(seed=seed, accounts=accounts, collectors=collectors, band=band)
    result = solve(problem, time_limit=5.0, gap_limit=0.0005, top_k=2)
    check_plan(problem, result)
    ref = highs_reference(problem)
    assert ref.optimal, "HiGHS did not prove its optimum in time; the case is too big for the reference"
    assert result.objective <= round(ref.objective)
    assert result.bound >= round(ref.objective)
    assert result.gap <= 0.05
