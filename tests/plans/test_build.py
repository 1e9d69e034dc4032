"""The pure core of the nightly plan: what is eligible tonight, what each option is worth, the problem's shape."""

from __future__ import annotations

from typing import Any

import numpy as np

from buyu.optimizer import Treatment, solve
from buyu.plans.build import PLANNED, Limits, Night, StaffMember, build_problem, eligibility, net_values

T = {t: j for j, t in enumerate(PLANNED)}


def night(n: int = 3, **over: object) -> Night:
    """n accounts allowed everything, worth 10,000 fen more than doing nothing under any treatment."""
    base: dict[str, Any] = dict(loan_id=np.arange(1, n + 1, dtype=np.int64), region=np.array(["east"] * n),
                language=np.array(["zh-CN"] * n), incumbent=np.zeros(n, dtype=np.int64),
                cease=np.zeros(n, dtype=bool), promise_pending=np.zeros(n, dtype=bool),
                value_fen=np.full((n, len(PLANNED)), 10_000, dtype=np.int64),
                allowed=np.ones((n, len(PLANNED)), dtype=bool), required=np.zeros((n, len(PLANNED)), dtype=bool),
                agent_fit=None)
    base.update(over)
    return Night(**base)


def limits(**over: object) -> Limits:
    """Room for everything, costs as in the default strategy's order of magnitude."""
    base: dict[str, Any] = dict(pooled={"robot_lines": 100, "sms": 100, "agency": 10, "legal": 10},
                                field_by_region={"east": 5},
                cost_fen={"robot_call": 30, "sms": 5, "agent_call": 400, "field_visit": 6000, "agency": 0,
                          "legal": 60_000},
                agent_minutes_per_call=6, field_minutes_per_visit=60, workload_band=0.5,
                continuity_threshold_fen=0, candidates=3)
    base.update(over)
    return Limits(**base)


STAFF = [StaffMember(id=11, kind="agent", minutes=60, region=None, languages=("zh-CN",)),
         StaffMember(id=12, kind="agent", minutes=60, region=None, languages=("en-US",)),
         StaffMember(id=21, kind="field", minutes=120, region="east", languages=("zh-CN",))]


def test_cease_removes_every_contact_channel_and_a_pending_promise_every_call() -> None:
    """A ceased borrower may only be placed (agency/legal); one with an open promise may get an SMS but no call."""
    ok = eligibility(night(cease=np.array([True, False, False]), promise_pending=np.array([False, True, False])))
    contact = [T[t] for t in ("robot_call", "sms", "agent_call", "field_visit")]
    assert not ok[0, contact].any() and ok[0, T["agency"]] and ok[0, T["legal"]]
    assert ok[1, T["sms"]] and not ok[1, [T["robot_call"], T["agent_call"], T["field_visit"]]].any()
    assert ok[2, contact].all()
    assert not ok[:, T["no_action"]].any()  # no_action is implicit in the optimizer


def test_required_treatments_narrow_the_choice_and_are_worth_at_least_a_fen() -> None:
    """A segment that requires legal gets only legal, placed even when its net value is negative."""
    required = np.zeros((1, len(PLANNED)), dtype=bool)
    required[0, T["legal"]] = True
    nt = night(1, required=required)
    ok = eligibility(nt)
    assert ok[0].tolist() == [j == T["legal"] for j in range(len(PLANNED))]
    net = net_values(nt, limits())
    assert net[0, T["legal"]] == 1 and net[0, T["sms"]] == 10_000 - 5
    result = solve(build_problem(night=nt, limits=limits(), staff=STAFF).problem, time_limit=5.0)
    assert result.assignments[0].treatment is Treatment.LEGAL


def test_agents_are_offered_only_to_accounts_in_their_language_and_field_only_in_region() -> None:
    """The en-US agent is never an option for zh-CN borrowers; field options are the region's collectors."""
    built = build_problem(night=night(), limits=limits(), staff=STAFF)
    for account in built.problem.accounts:
        agents = {o.collector for o in account.options if o.treatment is Treatment.AGENT_CALL}
        field = {o.collector for o in account.options if o.treatment is Treatment.FIELD_VISIT}
        assert agents == {"11"} and field == {"21"}
    west = build_problem(night=night(region=np.array(["west"] * 3)), limits=limits(), staff=STAFF)
    assert not any(o.treatment is Treatment.FIELD_VISIT for a in west.problem.accounts for o in a.options)


def test_options_worth_nothing_after_cost_are_left_out() -> None:
    """An account whose uplift does not cover a treatment's cost is not offered that treatment."""
    values = np.full((1, len(PLANNED)), 300, dtype=np.int64)  # pays robot (30) and SMS (5), not agent or legal
    built = build_problem(night=night(1, value_fen=values), limits=limits(), staff=STAFF)
    offered = {o.treatment.value for o in built.problem.accounts[0].options}
    assert offered == {"robot_call", "sms", "agency"}  # agency is paid on success here: no upfront cost


def test_collector_fit_ranks_agents_and_caps_candidates() -> None:
    """With a fit shift per agent, the best-fitting agents (up to `candidates`) are the ones offered."""
    staff = [StaffMember(id=100 + k, kind="agent", minutes=60, region=None, languages=("zh-CN",)) for k in range(6)]
    fit = np.tile(np.arange(6, dtype=np.float64) * 100.0, (2, 1))  # agent 105 best, 100 worst
    built = build_problem(night=night(2, agent_fit=fit), limits=limits(candidates=2), staff=staff)
    for account in built.problem.accounts:
        agents = sorted(str(o.collector) for o in account.options if o.treatment is Treatment.AGENT_CALL)
        assert agents == ["104", "105"]
        best = max(o.value for o in account.options if o.treatment is Treatment.AGENT_CALL)
        assert best == 10_000 - 400 + 500


def test_a_day_without_capacity_is_a_valid_plan_with_everything_unplaced() -> None:
    """Zero robot lines, SMS and slots and no staff: the optimizer returns no_action for all and reports them."""
    zero = limits(pooled={"robot_lines": 0, "sms": 0, "agency": 0, "legal": 0}, field_by_region={})
    result = solve(build_problem(night=night(), limits=zero, staff=[]).problem, time_limit=5.0)
    assert all(a.treatment is Treatment.NO_ACTION for a in result.assignments)
    assert len(result.unplaced) == 3


def test_sales_use_the_days_sale_slots_and_only_where_the_price_beats_holding() -> None:
    """Sale is a pooled option on the `sale` resource: with one slot a night the account whose price beats its
    hold value by most is sold; an account whose sale value does not cover the sale's cost is never offered it;
    a strategy without sale slots offers no sale at all."""
    allowed = np.zeros((3, len(PLANNED)), dtype=bool)
    allowed[:, T["sale"]] = True
    values = np.zeros((3, len(PLANNED)), dtype=np.int64)
    values[:, T["sale"]] = [50_000, 90_000, 900]  # price − hold value, fen
    nt = night(3, allowed=allowed, value_fen=values)
    one_slot = limits(pooled={"robot_lines": 0, "sms": 0, "agency": 0, "legal": 0, "sale": 1},
                      cost_fen={"sale": 1_000})
    built = build_problem(night=nt, limits=one_slot, staff=STAFF)
    offered = [[o.treatment.value for o in a.options] for a in built.problem.accounts]
    assert offered == [["sale"], ["sale"], []]
    result = solve(built.problem, time_limit=5.0)
    sold = {a.account for a in result.assignments if a.treatment is Treatment.SALE}
    assert sold == {"2"} and result.objective == 89_000
    no_slots = build_problem(night=nt, limits=limits(cost_fen={"sale": 1_000}), staff=STAFF)
    assert not any(o.treatment is Treatment.SALE for a in no_slots.problem.accounts for o in a.options)
