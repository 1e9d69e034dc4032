"""The solver's parts on their own: the knapsack DP, the transport (min-cost flow) stage, the dual bound,
the swap local search and the lumpy-resource MIP."""

from __future__ import annotations

import itertools
import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from buyu.optimizer import Account, Collector, Problem, Resource, Treatment, build_index, field_resource, make_option
from buyu.optimizer.dual import solve_dual
from buyu.optimizer.model import Model, build_model
from buyu.optimizer.primal import (
    construct,
    knapsack,
    knapsack_resources,
    lumpy_plan,
    swap_moves,
    transport_stage,
    usage,
)
from tests.optimizer.helpers import brute_force, call, medium_problem, pooled, small_problems


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_knapsack_dp_is_exact(data: st.DataObject) -> None:
    """Per group, the DP's pick fits the capacity and is worth exactly the enumerated best subset."""
    n = data.draw(st.integers(1, 8))
    groups = data.draw(st.integers(1, 3))
    group = np.array(data.draw(st.lists(st.integers(0, groups - 1), min_size=n, max_size=n)), dtype=np.int64)
    weight = np.array(data.draw(st.lists(st.integers(1, 9), min_size=n, max_size=n)), dtype=np.int64)
    value = np.array(data.draw(st.lists(st.integers(1, 100), min_size=n, max_size=n)), dtype=np.float64)
    capacity = np.array(data.draw(st.lists(st.integers(0, 20), min_size=groups, max_size=groups)), dtype=np.int64)
    picked = set(knapsack(group=group, weight=weight, value=value, capacity=capacity).tolist())
    for g in range(groups):
        items = [i for i in range(n) if group[i] == g]
        best = max(
            sum(value[list(c)]) for k in range(len(items) + 1) for c in itertools.combinations(items, k)
            if sum(weight[list(c)]) <= capacity[g]
        )
        mine = [i for i in items if i in picked]
        assert sum(weight[mine]) <= capacity[g]
        assert sum(value[mine]) == best


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_transport_stage_is_an_exact_transportation_solve(data: st.DataObject) -> None:
    """With only unit channels (robot, SMS, agency) the min-cost flow stage alone reaches the
    enumerated optimum: the structure is a transportation problem."""
    caps = [data.draw(st.integers(0, 2)) for _ in range(3)]
    kinds = (Treatment.ROBOT_CALL, Treatment.SMS, Treatment.AGENCY)
    accounts = []
    for a in range(data.draw(st.integers(1, 5))):
        picks = data.draw(st.lists(st.sampled_from(kinds), max_size=3, unique=True))
        accounts.append(Account(id=f"a{a}", options=tuple(pooled(t, data.draw(st.integers(-5, 50))) for t in picks)))
    problem = Problem(accounts=tuple(accounts), resources=tuple(
        Resource(n, c) for n, c in zip(("robot_lines", "sms", "agency"), caps, strict=True)))
    model = build_model(index=build_index(problem), bonus=0, band=None, top_k=10)
    empty = np.full(model.n_accounts, -1, dtype=np.int64)
    choice = transport_stage(model=model, choice=empty, knap=knapsack_resources(model))
    assert (usage(model=model, choice=choice) <= model.capacity).all()
    assert int(model.val[choice[choice >= 0]].sum()) == brute_force(problem)[0]


@settings(max_examples=60, deadline=None)
@given(small_problems())
def test_dual_bound_is_never_below_the_optimum(problem: Problem) -> None:
    """Whatever prices the dual stops at, D(prices) is an upper bound: never below the enumerated
    optimum, band and continuity included, even with top-k pruning (the bound sees every option)."""
    model = build_model(index=build_index(problem), bonus=problem.continuity_threshold,
                        band=problem.balance_band, top_k=1)
    prices = solve_dual(model=model, deadline=time.perf_counter() + 60)
    assert prices.bound >= brute_force(problem)[0] - 1e-6


def _active(model: Model, account: int, position: int) -> int:
    """The active option number of an account's option at `position` in Account.options."""
    index = model.index
    k = int(np.flatnonzero((index.opt_account == account) & (index.opt_pos == position))[0])
    return int(np.flatnonzero(model.opt == k)[0])


def test_swap_moves_trade_a_full_collector_for_the_freed_channel() -> None:
    """a is on the only robot line (30) while b holds c1's 10 minutes (50); a on c1 is worth 100
    and b on the robot line 20. The swap (120 > 80) is found, and the plan stays feasible."""
    problem = Problem(
        accounts=(Account(id="a", options=(call("c1", 100, 10), pooled(Treatment.ROBOT_CALL, 30))),
                  Account(id="b", options=(call("c1", 50, 10), pooled(Treatment.ROBOT_CALL, 20)))),
        collectors=(Collector(id="c1", minutes=10),),
        resources=(Resource("robot_lines", 1),),
    )
    model = build_model(index=build_index(problem), bonus=0, band=None, top_k=10)
    plan = np.array([_active(model, 0, 1), _active(model, 1, 0)])
    better = swap_moves(model=model, choice=plan, deadline=time.perf_counter() + 10)
    assert better.tolist() == [_active(model, 0, 0), _active(model, 1, 1)]
    assert (usage(model=model, choice=better) <= model.capacity).all()


def test_swap_moves_never_lose_value_or_feasibility_on_a_banded_day() -> None:
    """From the constructed plan of a random day with a tight band, the swaps keep capacities and
    the band (exact check) and never lower the plan's value."""
    problem = medium_problem(seed=11, accounts=1500, collectors=20, band=0.1)
    model = build_model(index=build_index(problem), bonus=problem.continuity_threshold,
                        band=problem.balance_band, top_k=3)
    prices = solve_dual(model=model, deadline=time.perf_counter() + 5)
    plan = construct(model=model, rho=prices.rho, deadline=time.perf_counter() + 5)
    better = swap_moves(model=model, choice=plan, deadline=time.perf_counter() + 10)
    value = int(model.val[plan[plan >= 0]].sum())
    assert int(model.val[better[better >= 0]].sum()) >= value
    use = usage(model=model, choice=better)
    assert (use <= model.capacity).all()
    assert model.balance is not None and model.balance.exact_ok(use, model.capacity).all()


def test_lumpy_plan_packs_a_field_day_exactly() -> None:
    """A field collector with 100 minutes: one 60-minute visit worth 100, or two 50-minute visits
    worth 70 each. Per-item pricing would take the densest first; the lumpy MIP takes the pair."""
    visit = Treatment.FIELD_VISIT
    problem = Problem(
        accounts=tuple(
            Account(id=f"a{i}", options=(make_option(treatment=visit, value=v, collector="f1", minutes=m,
                                                     region="north"),))
            for i, (v, m) in enumerate(((100, 60), (70, 50), (70, 50)))
        ),
        collectors=(Collector(id="f1", minutes=100, region="north", team=None),),
        resources=(Resource(field_resource("north"), 3),),
    )
    model = build_model(index=build_index(problem), bonus=0, band=None, top_k=10)
    picks = lumpy_plan(model=model, rho=np.zeros(model.n_resources), seconds=5)
    assert picks.tolist() == [-1, _active(model, 1, 0), _active(model, 2, 0)]
