"""solve(): exact on small days (checked against enumeration), feasible and certified on bigger ones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from buyu.optimizer import (
    Account,
    Collector,
    Problem,
    Reason,
    Resource,
    Status,
    Treatment,
    solve,
)
from buyu.optimizer.model import Model
from tests.optimizer.helpers import (
    brute_force,
    call,
    check_plan,
    medium_problem,
    pooled,
    result_plan,
    small_problems,
)

STAFF = (Collector(id="c1", minutes=10), Collector(id="c2", minutes=10))
POOL = (Resource("robot_lines", 1), Resource("sms", 1))


def hand_day() -> Problem:
    """Five accounts, two 10-minute agents, one robot line, one SMS.

    By hand: c2 serves a4 (60; a2's 5 minutes would not fit beside it). c1's 10 minutes take two
    6-minute calls at most one at a time, so c1 carries a 6-minute call plus a5 (4 min, 40). If a1
    takes c1 (100) the robot line goes to a3 (70) and a2 only gets the SMS (20): 290. If a2 takes
    c1 (90), a1 takes the robot line (80) and a3 the SMS (30): 300, the optimum.
    """
    return Problem(
        accounts=(
            Account(id="a1", options=(call("c1", 100, 6), pooled(Treatment.ROBOT_CALL, 80))),
            Account(id="a2", options=(call("c1", 90, 6), call("c2", 50, 5), pooled(Treatment.SMS, 20))),
            Account(id="a3", options=(pooled(Treatment.ROBOT_CALL, 70), pooled(Treatment.SMS, 30))),
            Account(id="a4", options=(call("c2", 60, 6),)),
            Account(id="a5", options=(call("c1", 40, 4), pooled(Treatment.SMS, 35))),
        ),
        collectors=STAFF,
        resources=POOL,
    )


def test_hand_checked_day_is_solved_exactly() -> None:
    """The hand-computed optimum (300, see hand_day) equals enumeration and the solver's answer,
    which proves it optimal."""
    problem = hand_day()
    assert brute_force(problem)[0] == 300
    result = solve(problem, gap_limit=0)
    check_plan(problem, result)
    assert result.objective == 300
    assert result.status is Status.OPTIMAL and result.bound == 300 and result.gap == 0
    assert [(a.treatment, a.collector) for a in result.assignments] == [
        (Treatment.ROBOT_CALL, None), (Treatment.AGENT_CALL, "c1"), (Treatment.SMS, None),
        (Treatment.AGENT_CALL, "c2"), (Treatment.AGENT_CALL, "c1"),
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_matches_enumeration_on_random_small_days(problem: Problem) -> None:
    """On random small days (capacities, a field region, workload band, continuity) the solver's
    objective equals the enumerated optimum exactly, its plan is feasible and the bound holds."""
    best, _ = brute_force(problem)
    result = solve(problem, gap_limit=0, top_k=10)
    check_plan(problem, result)
    assert result.objective == best
    assert result.status is Status.OPTIMAL


def test_bound_and_gap_on_a_heuristic_sized_day() -> None:
    """A day too big to hand to SCIP whole: the plan is feasible (capacities, one option per account,
    band), the bound is at least the objective and the gap is (bound - objective) / bound."""
    problem = medium_problem(seed=3, accounts=1500, collectors=25)
    result = solve(problem, gap_limit=0.02)
    check_plan(problem, result)
    assert result.bound >= result.objective > 0
    assert result.gap == (result.bound - result.objective) / result.bound
    assert 0 <= result.gap < 0.05


def test_continuity_keeps_the_incumbent_unless_the_gain_exceeds_the_threshold() -> None:
    """Held by c1 (value 100), c2 would bring 150: with a threshold of 60 the account stays with c1
    (gain 50), at exactly 50 it still stays (the gain must exceed), at 40 it moves to c2."""
    account = Account(id="a", options=(call("c1", 100, 5), call("c2", 150, 5)), incumbent="c1")

    def chosen(threshold: int) -> str | None:
        problem = Problem(accounts=(account,), collectors=STAFF, continuity_threshold=threshold)
        return solve(problem, gap_limit=0).assignments[0].collector

    assert chosen(60) == "c1"
    assert chosen(50) == "c1"
    assert chosen(40) == "c2"
    stay = solve(Problem(accounts=(account,), collectors=STAFF, continuity_threshold=60), gap_limit=0)
    item = stay.assignments[0]
    assert item.alternative is not None and item.alternative.collector == "c2"
    assert item.reason is Reason.RULE and "continuity" in item.detail
    assert stay.objective == 160 and stay.value == 100  # the objective carries the bonus, value does not


def test_workload_band_is_respected() -> None:
    """Two 60-minute agents in one team with band 0 must carry equal minutes: every account prefers
    c1, yet the plan loads both equally (and without the band c1 alone would be full)."""
    accounts = tuple(
        Account(id=f"a{i}", options=(call("c1", 100, 10), call("c2", 30, 10))) for i in range(8)
    )
    staff = (Collector(id="c1", minutes=60, team="t"), Collector(id="c2", minutes=60, team="t"))
    banded = Problem(accounts=accounts, collectors=staff, balance_band=0.0)
    result = solve(banded, gap_limit=0)
    check_plan(banded, result)
    assert result.usage["collector:c1"] == result.usage["collector:c2"] == 40
    assert result.objective == brute_force(banded)[0] == 4 * 100 + 4 * 30
    free = solve(Problem(accounts=accounts, collectors=staff), gap_limit=0)
    assert free.usage["collector:c1"] == 60


def test_zero_capacity_day_returns_an_all_idle_plan_with_reasons() -> None:
    """With no capacity anywhere nothing can be placed: no exception, every account gets no_action,
    the bound proves it, and every account with an option worth doing is reported unplaced with the
    full resource named."""
    staff = (Collector(id="c1", minutes=0), Collector(id="c2", minutes=0))
    pool = (Resource("robot_lines", 0), Resource("sms", 0))
    base = hand_day()
    problem = Problem(accounts=base.accounts, collectors=staff, resources=pool, balance_band=0.2)
    result = solve(problem)
    assert result.objective == 0 and result.bound == 0 and result.status is Status.OPTIMAL
    assert all(a.treatment is Treatment.NO_ACTION for a in result.assignments)
    assert [u.account for u in result.unplaced] == ["a1", "a2", "a3", "a4", "a5"]
    first = result.unplaced[0]
    assert first.best.treatment is Treatment.AGENT_CALL and first.best.value == 100
    assert first.reason is Reason.CAPACITY and first.resource == "collector:c1"
    assert first.detail == "collector:c1 has no capacity today"
    assert {u.resource for u in result.unplaced} == {"collector:c1", "collector:c2", "robot_lines"}


def test_days_without_accounts_or_options_are_trivial() -> None:
    """No accounts, or accounts without options, or only worthless options: an empty optimal plan."""
    assert solve(Problem(accounts=())).objective == 0
    idle = Problem(accounts=(Account(id="a", options=()), Account(id="b", options=(pooled(Treatment.SMS, -5),))),
                   resources=(Resource("sms", 3),))
    result = solve(idle)
    assert result.status is Status.OPTIMAL and result.objective == 0
    assert [a.treatment for a in result.assignments] == [Treatment.NO_ACTION] * 2
    assert result.assignments[1].reason is Reason.VALUE and len(result.unplaced) == 0


def test_explanations_name_capacity_value_and_rules() -> None:
    """Capacity names the full resource; value says the alternative is worth less; a collector cut
    by top-k pruning is a rule."""
    problem = hand_day()
    result = solve(problem, gap_limit=0)
    by_id = {a.account: a for a in result.assignments}
    a5 = by_id["a5"]  # its c1 call (40) chosen over its SMS (35): value
    assert a5.reason is Reason.VALUE and a5.alternative is not None and a5.alternative.treatment is Treatment.SMS
    a1 = by_id["a1"]  # on the robot line: its c1 call (100) is its best option, kept out by c1's minutes
    assert a1.treatment is Treatment.ROBOT_CALL
    assert a1.alternative is not None and a1.alternative.collector == "c1"
    assert a1.reason is Reason.CAPACITY and a1.resource == "collector:c1"
    assert a1.detail == "collector:c1 is full (10/10)"
    assert result.assignment("a1") == a1
    a3 = by_id["a3"]  # on SMS (30): the robot line (70) is taken
    assert a3.reason is Reason.CAPACITY and a3.resource == "robot_lines"
    assert [u.account for u in result.unplaced] == ["a1", "a3"]
    three = Account(id="x", options=(call("c1", 100, 5), call("c2", 50, 5), call("c3", 40, 5)))
    pruned = solve(Problem(accounts=(three,), collectors=(*STAFF, Collector(id="c3", minutes=10))), top_k=1)
    item = pruned.assignments[0]
    assert item.collector == "c1"
    assert item.alternative is not None and item.alternative.collector == "c2"
    assert item.reason is Reason.VALUE  # it is worth less anyway: value comes before the pruning rule
    blocked = Problem(accounts=(Account(id="x", options=(call("c1", 100, 20), call("c2", 50, 5))),), collectors=STAFF)
    item = solve(blocked, top_k=1).assignments[0]
    assert item.collector == "c2"  # c1 can never fit 20 minutes, so c2 is the best collector left
    assert item.alternative is not None and item.alternative.collector == "c1"
    assert item.reason is Reason.CAPACITY and item.resource == "collector:c1"
    assert item.detail == "needs more of collector:c1 than its whole capacity (10)"


def test_plans_are_reported_in_account_order() -> None:
    """Assignments follow the input order and point back into each account's options."""
    problem = hand_day()
    result = solve(problem, gap_limit=0)
    assert [a.account for a in result.assignments] == [a.id for a in problem.accounts]
    for account, option in zip(problem.accounts, result_plan(result), strict=True):
        assert option is None or account.options[option].value == result.assignment(account.id).chosen.value


def test_a_tight_band_on_a_big_day_is_still_respected() -> None:
    """A 10% band on a heuristic-sized day exercises the band repair (moves, re-planned
    knapsacks, trimming): the plan still passes the exact check."""
    problem = medium_problem(seed=5, accounts=1200, collectors=20, band=0.1)
    result = solve(problem, gap_limit=0.05, time_limit=5)
    check_plan(problem, result)


def test_a_broken_stage_cannot_leak_an_infeasible_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """If construction returned every account's best option regardless of capacity, the exact
    certificate would cut the plan down to a feasible one instead of returning it."""
    import buyu.optimizer.solver as solver_module

    def greedy_everyone(*, model: Model, rho: object, deadline: float) -> np.ndarray:
        best = np.full(model.n_accounts, -1, dtype=np.int64)
        order = np.argsort(model.val)  # later (larger) values overwrite: each account's best option
        best[model.acc[order]] = order
        return best

    monkeypatch.setattr(solver_module, "construct", greedy_everyone)
    problem = medium_problem(seed=7, accounts=1200, collectors=20)
    result = solve(problem, gap_limit=1.0)  # no repair: the certificate alone must catch it
    check_plan(problem, result)
    assert result.objective > 0


def test_eligibility_is_the_option_list() -> None:
    """Skills, language, region and contact rules arrive as which options exist: an account with no
    option for the idle agent c1 never gets c1, even when its only collector c2 is full; it takes
    its SMS instead, and its c2 call is reported as lost to c2's capacity."""
    staff = (Collector(id="c1", minutes=60), Collector(id="c2", minutes=5))
    problem = Problem(
        accounts=(Account(id="x", options=(call("c2", 500, 10), pooled(Treatment.SMS, 10))),),
        collectors=staff,
        resources=(Resource("sms", 1),),
    )
    result = solve(problem, gap_limit=0)
    item = result.assignments[0]
    assert item.treatment is Treatment.SMS and result.usage["collector:c1"] == 0
    assert item.alternative is not None and item.alternative.collector == "c2"
    assert item.reason is Reason.CAPACITY and item.resource == "collector:c2"
