"""Builders and a brute-force oracle for optimizer tests.

The oracle enumerates every assignment (each account: one of its options or nothing) and keeps the
best feasible one, with the problem's rules written out independently of the solver:
capacities, the workload band in exact fractions, the continuity bonus, and "options worth <= 0
(bonus included) are never assigned".
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction

from hypothesis import strategies as st

from buyu.optimizer import (
    Account,
    Collector,
    Option,
    Problem,
    Resource,
    Result,
    Treatment,
    field_resource,
    make_option,
)


def adjusted(problem: Problem, account: Account, option: Option) -> int:
    """Value plus the continuity bonus when the option is the incumbent's."""
    held = option.collector is not None and option.collector == account.incumbent
    return option.value + (problem.continuity_threshold if held else 0)


def plan_value(problem: Problem, plan: Sequence[int | None]) -> int:
    """The objective of a plan: adjusted values of the chosen options."""
    pairs = zip(problem.accounts, plan, strict=True)
    return sum(adjusted(problem, a, a.options[j]) for a, j in pairs if j is not None)


def plan_use(problem: Problem, plan: Sequence[int | None]) -> dict[str, int]:
    """Resource use of a plan given as option positions per account (None = no_action)."""
    used = {name: 0 for name in problem.resource_names}
    for account, choice in zip(problem.accounts, plan, strict=True):
        if choice is not None:
            for name, amount in account.options[choice].uses:
                used[name] += amount
    return used


def band_ok(problem: Problem, used: dict[str, int]) -> bool:
    """load_c <= (1 + b) * minutes_c * team_load / team_minutes for every balanced collector."""
    if problem.balance_band is None:
        return True
    band = Fraction(problem.balance_band).limit_denominator(10**9)
    working = {
        o.collector
        for a in problem.accounts
        for o in a.options
        if o.collector is not None and adjusted(problem, a, o) > 0
    }
    teams: dict[str, list[Collector]] = {}
    for c in problem.collectors:
        if c.team is not None and c.minutes > 0 and c.id in working:
            teams.setdefault(c.team, []).append(c)
    for members in teams.values():
        minutes = sum(c.minutes for c in members)
        load = sum(used[c.resource] for c in members)
        for c in members:
            if Fraction(used[c.resource]) * minutes > (1 + band) * c.minutes * load:
                return False
    return True


def brute_force(problem: Problem) -> tuple[int, list[int | None]]:
    """The best objective and one plan achieving it, by enumeration."""
    choices: list[list[int | None]] = [
        [None, *[j for j, o in enumerate(a.options) if adjusted(problem, a, o) > 0]] for a in problem.accounts
    ]
    best = -1
    best_plan: list[int | None] = [None for _ in problem.accounts]
    for plan in itertools.product(*choices):
        used = plan_use(problem, plan)
        if any(used[n] > problem.capacity(n) for n in used) or not band_ok(problem, used):
            continue
        value = plan_value(problem, plan)
        if value > best:
            best, best_plan = value, list(plan)
    return best, best_plan


def result_plan(result: Result) -> list[int | None]:
    """The solver's plan as option positions per account."""
    return [item.chosen.option for item in result.assignments]


def check_plan(problem: Problem, result: Result) -> None:
    """One option per account (by construction of the output), capacities, band, and objective."""
    plan = result_plan(result)
    assert len(plan) == len(problem.accounts)
    used = plan_use(problem, plan)
    assert all(used[n] <= problem.capacity(n) for n in used), used
    assert band_ok(problem, used)
    assert plan_value(problem, plan) == result.objective
    assert result.bound >= result.objective
    assert dict(result.usage) == used


@st.composite
def small_problems(draw: st.DrawFn, *, max_accounts: int = 5, band: bool = True) -> Problem:
    """2–3 collectors (one field), pooled robot/sms/agency and a region, 1–5 accounts with up to
    3 options each, tight random capacities, sometimes a band and a continuity threshold."""
    n_coll = draw(st.integers(2, 3))
    collectors = tuple(
        Collector(
            id=f"c{i}",
            minutes=draw(st.integers(0, 30)),
            region="north" if i == 0 else None,
            team=draw(st.sampled_from(["a", "a", "b", None])),
        )
        for i in range(n_coll)
    )
    resources = (
        Resource("robot_lines", draw(st.integers(0, 2))),
        Resource("sms", draw(st.integers(0, 2))),
        Resource("agency", draw(st.integers(0, 1))),
        Resource(field_resource("north"), draw(st.integers(0, 2))),
    )
    catalogue = [("robot", None), ("sms", None), ("agency", None)] + [("call", c) for c in collectors]
    catalogue.append(("visit", collectors[0]))
    accounts = []
    for a in range(draw(st.integers(1, max_accounts))):
        picks = draw(st.lists(st.sampled_from(range(len(catalogue))), min_size=0, max_size=3, unique=True))
        options = []
        for k in picks:
            kind, collector = catalogue[k]
            value = draw(st.integers(-50, 400))
            if kind == "call":
                assert collector is not None
                options.append(make_option(treatment=Treatment.AGENT_CALL, value=value, collector=collector.id,
                                           minutes=draw(st.integers(1, 15))))
            elif kind == "visit":
                assert collector is not None
                options.append(make_option(treatment=Treatment.FIELD_VISIT, value=value, collector=collector.id,
                                           minutes=draw(st.integers(5, 20)), region="north"))
            else:
                treatment = {"robot": Treatment.ROBOT_CALL, "sms": Treatment.SMS, "agency": Treatment.AGENCY}[kind]
                options.append(make_option(treatment=treatment, value=value))
        agents = [o.collector for o in options if o.collector is not None]
        held: bool = draw(st.booleans())
        incumbent = draw(st.sampled_from(agents)) if agents and held else None
        accounts.append(Account(id=f"a{a}", options=tuple(options), incumbent=incumbent))
    return Problem(
        accounts=tuple(accounts),
        collectors=collectors,
        resources=resources,
        balance_band=draw(st.sampled_from([None, 0.0, 0.25, 0.5])) if band else None,
        continuity_threshold=draw(st.sampled_from([0, 0, 50, 200])),
    )


def call(collector: str, value: int, minutes: int) -> Option:
    """An agent call option."""
    return make_option(treatment=Treatment.AGENT_CALL, value=value, collector=collector, minutes=minutes)


def pooled(treatment: Treatment, value: int) -> Option:
    """A robot call, SMS, agency, legal or sale option."""
    return make_option(treatment=treatment, value=value)



def medium_problem(*, seed: int, accounts: int, collectors: int, band: float | None = 0.2) -> Problem:
    """A random day big enough to take the heuristic path (more options than SCIP gets whole)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    staff = tuple(
        Collector(id=f"c{i}", minutes=int(rng.integers(60, 200)), region="north" if i % 5 == 0 else None,
                  team="field" if i % 5 == 0 else "phone")
        for i in range(collectors)
    )
    pool = (Resource("robot_lines", accounts // 6), Resource("sms", accounts // 5), Resource("agency", accounts // 50),
            Resource(field_resource("north"), max(1, collectors // 4)))
    phone = [c for c in staff if c.region is None]
    field = [c for c in staff if c.region is not None]
    result = []
    for a in range(accounts):
        balance = float(np.exp(rng.normal(8, 1)))
        options = [make_option(treatment=Treatment.AGENT_CALL, value=int(balance * rng.uniform(0.01, 0.06)) - 40,
                               collector=phone[int(i)].id, minutes=int(rng.integers(6, 13)))
                   for i in rng.choice(len(phone), int(rng.integers(1, 4)), replace=False)]
        if rng.random() < 0.3:
            value = int(balance * rng.uniform(0.03, 0.12)) - 300
            options.append(make_option(treatment=Treatment.FIELD_VISIT, value=value,
                                       collector=field[int(rng.integers(len(field)))].id,
                                       minutes=int(rng.integers(30, 60)), region="north"))
        options += [make_option(treatment=Treatment.ROBOT_CALL, value=int(balance * rng.uniform(0.002, 0.02))),
                    make_option(treatment=Treatment.SMS, value=int(balance * rng.uniform(0.001, 0.01))),
                    make_option(treatment=Treatment.AGENCY, value=int(balance * rng.uniform(0.0, 0.07)))]
        incumbent = options[0].collector if rng.random() < 0.3 else None
        result.append(Account(id=f"a{a}", options=tuple(options), incumbent=incumbent))
    return Problem(accounts=tuple(result), collectors=staff, resources=pool, balance_band=band, continuity_threshold=30)
