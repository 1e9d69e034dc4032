"""The solver's parts on their own: the knapsack DP, the transport (min-cost flow) stage, the dual bound."""

from __future__ import annotations

import itertools
import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from buyu.optimizer import Account, Problem, Resource, Treatment, build_index
from buyu.optimizer.dual import solve_dual
from buyu.optimizer.model import build_model
from buyu.optimizer.primal import knapsack, knapsack_resources, transport_stage, usage
from tests.optimizer.helpers import brute_force, pooled, small_problems


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
