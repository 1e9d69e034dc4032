"""solve(): exact on small days (checked against enumeration), feasible and certified on bigger ones."""

from __future__ import annotations

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

    By hand: c1's 10 minutes fit a1 (6) + a5 (4) = 140, or a2 (6) + a5 (4) = 130, or one of them.
    a2 then takes c2 (50, 5 min) and a4 cannot also fit on c2 (6 min)... 5 + 6 > 10, so c2 serves
    either a2 (50) or a4 (60): a4 wins, a2 falls back to its SMS (20). The robot line goes to a3 (70,
    a1 is busier on c1), a3's SMS is not needed. Total 100 + 40 + 60 + 70 + 20 = 290.
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
    """The hand-computed optimum (290, see hand_day) equals enumeration and the solver's answer,
    which proves it optimal."""
    problem = hand_day()
    assert brute_force(problem)[0] == 290
    result = solve(problem, gap_limit=0)
    check_plan(problem, result)
    assert result.objective == 290
    assert result.status is Status.OPTIMAL and result.bound == 290 and result.gap == 0
    assert [a.treatment for a in result.assignments] == [
        Treatment.AGENT_CALL, Treatment.SMS, Treatment.ROBOT_CALL, Treatment.AGENT_CALL, Treatment.AGENT_CALL,
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
    result = solve(problem, time_limit=20)
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
    assert "full (0/0)" in first.detail


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
    result = solve(problem, gap_limit=0, top_k=1)
    by_id = {a.account: a for a in result.assignments}
    a3 = by_id["a3"]  # robot (70) chosen over SMS (30): value
    assert a3.reason is Reason.VALUE and a3.alternative is not None and a3.alternative.treatment is Treatment.SMS
    a2 = by_id["a2"]  # on SMS: its c1 call (90) is its best option, kept out by c1's minutes
    assert a2.treatment is Treatment.SMS
    assert a2.alternative is not None and a2.alternative.collector == "c1"
    assert a2.reason is Reason.CAPACITY and a2.resource == "collector:c1"
    assert result.assignment("a2") == a2
    assert [u.account for u in result.unplaced] == ["a2"]
    pruned = solve(Problem(accounts=(Account(id="x", options=(call("c1", 100, 20), call("c2", 50, 5))),),
                           collectors=STAFF), top_k=1)
    item = pruned.assignments[0]
    assert item.treatment is Treatment.NO_ACTION  # c1 cannot fit 20 minutes and c2 was pruned
    assert item.alternative is not None
    assert {pruned.unplaced[0].reason} == {Reason.CAPACITY}


def test_plans_are_reported_in_account_order() -> None:
    """Assignments follow the input order and point back into each account's options."""
    problem = hand_day()
    result = solve(problem, gap_limit=0)
    assert [a.account for a in result.assignments] == [a.id for a in problem.accounts]
    for account, option in zip(problem.accounts, result_plan(result), strict=True):
        assert option is None or account.options[option].value == result.assignment(account.id).chosen.value
