"""Turn a night's scores and the active strategy into the optimizer's problem (pure: arrays in, Problem out).

Value of an option = expected incremental recovery over doing nothing within the strategy's horizon
(7 or 30 days, from the propensity model) minus the treatment's cost from the strategy. For agent
calls the collector's fit moves that value by how much better (or worse) than the account's average
agent this collector is expected to collect. The candidates per account are pre-pruned to a few times
the optimizer's top-k so a 100k-account night stays a few hundred thousand options.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from buyu.optimizer import Account, Collector, Option, Problem, Resource, Treatment, make_option
from buyu.optimizer.problem import field_resource

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Order of the score columns (buyu.scoring.features.TREATMENTS).
SCORED: tuple[str, ...] = ("robot_call", "sms", "agent_call", "field_visit", "agency", "legal", "no_action")
#: The plan's columns: the scored treatments, then sale (valued from the buyer's price and the hold value).
PLANNED: tuple[str, ...] = (*SCORED, "sale")
CONTACT: frozenset[str] = frozenset({"robot_call", "sms", "agent_call", "field_visit"})
CALLS: frozenset[str] = frozenset({"robot_call", "agent_call", "field_visit"})
POOLED: dict[str, str] = {"robot_call": "robot_lines", "sms": "sms", "agency": "agency", "legal": "legal",
                          "sale": "sale"}


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A collector as the plan sees them tonight."""

    id: int
    kind: str  # agent | field
    minutes: int
    region: str | None
    languages: tuple[str, ...]


@dataclass(frozen=True)
class Night:
    """Everything the problem is built from, one row per scored account."""

    loan_id: IntArray
    region: npt.NDArray[np.str_]
    language: npt.NDArray[np.str_]
    incumbent: IntArray  # collector id, 0 = none
    cease: BoolArray  # contact stopped: no contact channel at all
    promise_pending: BoolArray  # open promise not yet due: calls would harass, SMS reminders are fine
    value_fen: IntArray  # (accounts, PLANNED): expected incremental recovery before cost
    allowed: BoolArray  # (accounts, PLANNED): the strategy's allowed treatments (sale only where it can be valued)
    required: BoolArray  # (accounts, PLANNED)
    agent_fit: FloatArray | None  # (accounts, agents) value shift in fen per agent, None without a fit model


@dataclass(frozen=True)
class Limits:
    """Capacities, costs and optimizer settings from the strategy (money in fen)."""

    pooled: dict[str, int]  # robot_lines, sms, agency, legal, sale
    field_by_region: dict[str, int]
    cost_fen: dict[str, int]
    agent_minutes_per_call: int
    field_minutes_per_visit: int
    workload_band: float
    continuity_threshold_fen: int
    candidates: int  # collectors kept per account before the optimizer's own top-k


@dataclass(frozen=True)
class Built:
    """The problem and what is needed to read its result back."""

    problem: Problem
    values: IntArray  # (accounts, PLANNED) net value per treatment (best collector for staffed ones)
    eligible: BoolArray  # (accounts, PLANNED)


def eligibility(night: Night) -> BoolArray:
    """Strategy-allowed treatments minus what today's contact rules forbid; required narrows the choice."""
    ok = night.allowed.copy()
    for j, t in enumerate(PLANNED):
        if t in CONTACT:
            ok[:, j] &= ~night.cease
        if t in CALLS:
            ok[:, j] &= ~night.promise_pending
    ok[:, PLANNED.index("no_action")] = False
    need = night.required & ok
    has_need = need.any(axis=1)
    ok[has_need] = need[has_need]
    return ok


def net_values(night: Night, limits: Limits) -> IntArray:
    """Value minus cost per treatment; a required treatment is worth at least 1 fen so it is placed if it fits."""
    cost = np.asarray([limits.cost_fen.get(t, 0) for t in PLANNED], dtype=np.int64)
    net = night.value_fen - cost[None, :]
    need = night.required.any(axis=1)
    net[need] = np.where(night.required[need], np.maximum(net[need], 1), net[need])
    return net


def build_problem(*, night: Night, limits: Limits, staff: Sequence[StaffMember]) -> Built:
    """The optimizer's problem for the night."""
    ok = eligibility(night)
    net = net_values(night, limits)
    agents = [s for s in staff if s.kind == "agent" and s.minutes > 0]
    field = [s for s in staff if s.kind == "field" and s.minutes > 0]
    by_region: dict[str, list[StaffMember]] = {}
    for s in field:
        by_region.setdefault(s.region or "", []).append(s)
    agent_langs = [frozenset(s.languages) for s in agents]
    accounts = []
    for i in range(night.loan_id.size):
        options = _pooled_options(i, ok=ok, net=net, pooled=limits.pooled)
        options += _agent_options(i, night=night, ok=ok, net=net, agents=agents, langs=agent_langs, limits=limits)
        options += _field_options(i, night=night, ok=ok, net=net, regional=by_region.get(str(night.region[i]), []),
                                  limits=limits)
        incumbent = int(night.incumbent[i])
        accounts.append(Account(id=str(int(night.loan_id[i])), options=tuple(options),
                                incumbent=str(incumbent) if incumbent and any(o.collector == str(incumbent)
                                                                              for o in options) else None))
    collectors = tuple(Collector(id=str(s.id), minutes=s.minutes, region=s.region if s.kind == "field" else None,
                                 team="agents" if s.kind == "agent" else f"field:{s.region}") for s in agents + field)
    resources = tuple(Resource(name=name, capacity=max(0, int(cap))) for name, cap in sorted(limits.pooled.items()))
    regions = sorted(by_region)
    resources += tuple(Resource(name=field_resource(r), capacity=max(0, int(limits.field_by_region.get(r, 0))))
                       for r in regions if r)
    problem = Problem(accounts=tuple(accounts), collectors=collectors, resources=resources,
                      balance_band=limits.workload_band, continuity_threshold=limits.continuity_threshold_fen)
    return Built(problem=problem, values=net, eligible=ok)


def _pooled_options(i: int, *, ok: BoolArray, net: IntArray, pooled: dict[str, int]) -> list[Option]:
    out = []
    for t, resource in POOLED.items():
        j = PLANNED.index(t)
        if ok[i, j] and net[i, j] > 0 and resource in pooled:
            out.append(Option(treatment=Treatment(t), value=int(net[i, j]), uses=((resource, 1),)))
    return out


def _agent_options(i: int, *, night: Night, ok: BoolArray, net: IntArray, agents: Sequence[StaffMember],
                   langs: Sequence[frozenset[str]], limits: Limits) -> list[Option]:
    j = PLANNED.index("agent_call")
    if not ok[i, j] or not agents:
        return []
    language = str(night.language[i])
    speaks = np.fromiter((not lang or language in lang for lang in langs), dtype=np.bool_, count=len(agents))
    values = np.full(len(agents), float(net[i, j]))
    if night.agent_fit is not None:
        values += night.agent_fit[i]
    # ties (no fit model) rotate by account so equal agents share the work instead of the first k taking all
    order = np.lexsort(((np.arange(len(agents)) + i * 7919) % len(agents), -values))
    incumbent = int(night.incumbent[i])
    keep = [int(c) for c in order if speaks[c] and values[c] > 0][:limits.candidates]
    keep += [c for c, s in enumerate(agents) if s.id == incumbent and speaks[c] and values[c] > 0 and c not in keep]
    return [make_option(treatment=Treatment.AGENT_CALL, value=round(float(values[c])), collector=str(agents[c].id),
                        minutes=limits.agent_minutes_per_call) for c in keep]


def _field_options(i: int, *, night: Night, ok: BoolArray, net: IntArray, regional: Sequence[StaffMember],
                   limits: Limits) -> list[Option]:
    j = PLANNED.index("field_visit")
    if not ok[i, j] or net[i, j] <= 0 or not regional:
        return []
    start = i % len(regional)
    chosen = [regional[(start + k) % len(regional)] for k in range(min(limits.candidates, len(regional)))]
    return [make_option(treatment=Treatment.FIELD_VISIT, value=int(net[i, j]), collector=str(s.id),
                        minutes=limits.field_minutes_per_visit, region=s.region) for s in chosen]
