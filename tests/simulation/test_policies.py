"""Policies: one interface, the contract every plan keeps, the champion's queues, and the ordering
oracle ≥ champion ≥ random in true expected net value."""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest

from buyu.simulation.harness import run
from buyu.simulation.policies import POLICIES, ChampionPolicy, check_plan, make_policy, policy_rng
from buyu.simulation.scenario import parse_scenario, shipped_scenario
from buyu.simulation.views import AccountView, Action, Capacity, CollectorView, Treatment, allowed_treatments
from buyu.simulation.world import GroundTruth

from .conftest import small_default, start_views

TIGHT = {"accounts": 600, "collectors": 4, "robot_lines": 1}


def _plan(name: str, truth: GroundTruth, views: list[AccountView], capacity: Capacity) -> list[Action]:
    policy = make_policy(name)
    return policy.plan(day=truth.day, accounts=views, collectors=truth.collectors, capacity=capacity,
                       rng=policy_rng(truth.scenario.seed, policy.name, truth.day),
                       truth=truth if policy.uses_truth else None)


def _flagged(views: list[AccountView]) -> list[AccountView]:
    """Every fifth account ceased, every seventh disputed, every eleventh out with an agency."""
    out = []
    for i, v in enumerate(views):
        out.append(dataclasses.replace(v, cease=i % 5 == 0, dispute=i % 7 == 0,
                                       placement="agency" if i % 11 == 0 else None))
    return out


def _independent_capacity_check(actions: list[Action], capacity: Capacity,
                                collectors: tuple[CollectorView, ...]) -> None:
    """Count usage directly (not through check_plan) against every capacity."""
    kinds = Counter(a.treatment for a in actions)
    robot = Counter(a.hour for a in actions if a.treatment is Treatment.ROBOT_CALL)
    assert max(robot.values(), default=0) <= capacity.robot_calls_per_hour
    assert kinds[Treatment.SMS] <= capacity.sms_per_day
    assert kinds[Treatment.AGENCY] <= capacity.agency_slots
    assert kinds[Treatment.LEGAL] <= capacity.legal_per_day and kinds[Treatment.SALE] <= capacity.sale_per_day
    by_id: dict[int | None, CollectorView] = {c.collector_id: c for c in collectors}
    minutes = Counter(a.collector_id for a in actions if a.treatment is Treatment.AGENT_CALL)
    for cid, calls in minutes.items():
        assert by_id[cid].kind == "agent" and calls * capacity.agent_minutes_per_call <= by_id[cid].minutes_per_day
    per_hour = Counter((a.collector_id, a.hour) for a in actions if a.treatment is Treatment.AGENT_CALL)
    assert max(per_hour.values(), default=0) * capacity.agent_minutes_per_call <= 60
    visits = Counter(a.collector_id for a in actions if a.treatment is Treatment.FIELD_VISIT)
    for cid, n in visits.items():
        assert by_id[cid].kind == "field" and n <= by_id[cid].visits_per_day


def test_registry_holds_the_three_policies_behind_one_interface():
    """random, champion and oracle are registered; only the oracle takes the truth, and it refuses to run
    without it."""
    assert {"random", "champion", "oracle"} <= set(POLICIES)
    assert [make_policy(n).uses_truth for n in ("random", "champion", "oracle")] == [False, False, True]
    truth = GroundTruth.from_scenario(small_default())
    with pytest.raises(ValueError, match="ground truth"):
        make_policy("oracle").plan(day=truth.day, accounts=start_views(truth), collectors=truth.collectors,
                                   capacity=truth.capacity(), rng=np.random.default_rng(0), truth=None)
    with pytest.raises(ValueError, match="unknown policy"):
        make_policy("nope")


@pytest.mark.parametrize("name", ["random", "champion", "oracle"])
@pytest.mark.parametrize("scenario_update", [{}, TIGHT], ids=["default", "tight"])
def test_policies_keep_capacity_and_never_contact_flagged_accounts(name: str, scenario_update: dict):
    """With ceased, disputed and placed accounts in the book, no policy contacts a flagged account (a
    ceased one may only go to legal or sale), gives any account two actions, or exceeds any capacity."""
    truth = GroundTruth.from_scenario(small_default(**scenario_update))
    views = _flagged(start_views(truth))
    capacity = truth.capacity()
    actions = _plan(name, truth, views, capacity)
    assert actions
    assert check_plan(actions, accounts=views, collectors=truth.collectors, capacity=capacity) == []
    by_id = {v.account_id: v for v in views}
    assert len({a.account_id for a in actions}) == len(actions)
    for a in actions:
        v = by_id[a.account_id]
        assert not v.dispute and v.placement is None
        if v.cease:
            assert a.treatment in (Treatment.LEGAL, Treatment.SALE)
        assert a.treatment in allowed_treatments(v, capacity)
        if a.treatment is Treatment.FIELD_VISIT:
            assert v.profile.field_possible
    _independent_capacity_check(actions, capacity, truth.collectors)


def test_check_plan_catches_broken_plans():
    """The contract check reports doubles, flagged contacts, bad hours, wrong collectors and overflow."""
    truth = GroundTruth.from_scenario(small_default(**TIGHT))
    views = _flagged(start_views(truth))
    capacity = truth.capacity()
    ceased = next(v for v in views if v.cease and not v.dispute and v.placement is None)
    free = [v for v in views if not (v.cease or v.dispute or v.placement)]
    field = next(c for c in truth.collectors if c.kind == "field")
    bad = [
        Action(ceased.account_id, Treatment.SMS, None, 10),
        Action(free[0].account_id, Treatment.ROBOT_CALL, None, 23),
        Action(free[1].account_id, Treatment.AGENT_CALL, field.collector_id, 10),
        Action(free[2].account_id, Treatment.SMS, None, 10), Action(free[2].account_id, Treatment.SMS, None, 11),
    ]
    bad += [Action(v.account_id, Treatment.ROBOT_CALL, None, 9) for v in free[3:3 + capacity.robot_calls_per_hour + 1]]
    problems = check_plan(bad, accounts=views, collectors=truth.collectors, capacity=capacity)
    assert len(problems) == 5
    assert any("not allowed" in p for p in problems) and any("more than one" in p for p in problems)


def test_champion_follows_bucket_queues_by_balance_within_capacity():
    """The champion gives each bucket its fixed queue (M1 robot/SMS, M2 agent, M3 field/agent, M4+
    legal/agency), fills the preferred treatment largest balance first before falling back, leaves open
    promises alone and stays within capacity."""
    truth = GroundTruth.from_scenario(small_default(**TIGHT))
    views = start_views(truth)
    views[0] = dataclasses.replace(views[0], open_ptp_fen=100, open_ptp_due=truth.day)
    capacity = truth.capacity()
    champion = ChampionPolicy()
    actions = _plan("champion", truth, views, capacity)
    assert check_plan(actions, accounts=views, collectors=truth.collectors, capacity=capacity) == []
    by_id = {v.account_id: v for v in views}
    assert views[0].account_id not in {a.account_id for a in actions}
    for a in actions:
        assert a.treatment in champion.queue(by_id[a.account_id])
    for bucket in ("M1", "M2", "M3"):
        first = champion.queue(next(v for v in views if v.bucket == bucket))[0]
        # Compare like with like: accounts the preferred treatment was open to (field: same region).
        for region in sorted({v.profile.region for v in views}):
            mine = [(by_id[a.account_id], a.treatment) for a in actions]
            taken = [(v.balance_fen, t) for v, t in mine
                     if v.bucket == bucket and first in allowed_treatments(v, capacity)
                     and (first is not Treatment.FIELD_VISIT or v.profile.region == region)]
            preferred = [b for b, t in taken if t is first]
            fallback = [b for b, t in taken if t is not first]
            if preferred and fallback:
                assert min(preferred) >= max(fallback)
        assert any(a.treatment is first for a in actions if by_id[a.account_id].bucket == bucket)
    m4 = [a.treatment for a in actions if by_id[a.account_id].bucket == "M4+"]
    assert set(m4) <= {Treatment.LEGAL, Treatment.AGENCY, Treatment.SMS} and m4
    robot = Counter(a.hour for a in actions if a.treatment is Treatment.ROBOT_CALL)
    assert sum(robot.values()) == capacity.robot_calls_per_hour * (capacity.call_hours[1] - capacity.call_hours[0] + 1)
    _independent_capacity_check(actions, capacity, truth.collectors)


@pytest.mark.parametrize("scenario_name", ["default", "late_bucket", "capacity_starved"])
def test_true_expected_net_orders_oracle_over_champion_over_random(scenario_name: str):
    """A cheap pure Monte-Carlo run (no database): on a small world of each shipped scenario over five
    days, the ground truth's expected net value of the plans (uplift over no action − cost) is
    oracle ≥ champion ≥ random, and the oracle collects more cash than the champion."""
    data = shipped_scenario(scenario_name).model_dump(exclude_unset=True)
    world_scenario = parse_scenario({**data, "accounts": 400})
    totals, collected = {}, {}
    for name in ("random", "champion", "oracle"):
        days = run(truth=GroundTruth.from_scenario(world_scenario), policy=make_policy(name), days=5)
        totals[name] = sum(d.expected_net_fen for d in days)
        collected[name] = sum(d.collected_fen for d in days)
    assert totals["oracle"] >= totals["champion"] >= totals["random"]
    assert totals["champion"] > 0 and collected["oracle"] > collected["champion"]
