"""Collection policies: one interface, a baseline, a floor and a yardstick.

A policy turns the morning's account views into today's actions within capacity. Only the
oracle is handed the ground truth (`uses_truth`); every other policy sees what the product sees.

* `random` — a random allowed treatment (no action included) per account, within capacity: the floor.
* `champion` — today's industry practice, the baseline: fixed bucket queues, largest balance first,
  round-robin collectors, fill capacity.
* `oracle` — greedy on the TRUE expected net value (uplift over no action − cost − expected
  complaint cost, fatigue included) within the same capacities. A strong yardstick, not an optimum:
  it is myopic (one day) and greedy (best candidate first), but it knows what no model can.

The loop additionally runs the product's compliance engine on every action; `check_plan` is the
policy-level contract (flags, eligibility, hours, collectors, capacity) that tests hold every
policy to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Protocol

import numpy as np
import numpy.typing as npt

from buyu.simulation.rng import stream
from buyu.simulation.views import (
    CONTACT_TREATMENTS,
    T_INDEX,
    TREATMENTS,
    AccountArrays,
    AccountView,
    Action,
    BoolArray,
    Capacity,
    CollectorView,
    FloatArray,
    IntArray,
    Treatment,
    allowed_treatments,
)
from buyu.simulation.world import GroundTruth

MINUTES_PER_HOUR = 60


class Policy(Protocol):
    """Plans one day. `truth` is passed only to policies with `uses_truth` (the oracle)."""

    @property
    def name(self) -> str:
        """Registry name, also the key of the policy's random stream."""
        ...

    @property
    def uses_truth(self) -> bool:
        """Whether the loop hands this policy the ground truth (the oracle only)."""
        ...

    def plan(self, *, day: date, accounts: Sequence[AccountView], collectors: Sequence[CollectorView],
             capacity: Capacity, rng: np.random.Generator, truth: GroundTruth | None) -> list[Action]:
        """Today's actions, at most one per account, within capacity."""
        ...


# --------------------------------------------------------------------------- capacity bookkeeping


@dataclass
class _Budget:
    """What is left of today's capacity while a plan is built (or checked)."""

    capacity: Capacity
    collectors: Sequence[CollectorView]
    robot: IntArray = field(init=False)
    minutes_day: IntArray = field(init=False)
    minutes_hour: IntArray = field(init=False)
    visits: IntArray = field(init=False)
    region_visits: dict[str, int] = field(init=False)
    left: dict[Treatment, int] = field(init=False)
    position: dict[int, int] = field(init=False)
    region_of: npt.NDArray[np.str_] = field(init=False)

    def __post_init__(self) -> None:
        cap, cols = self.capacity, self.collectors
        self.robot = np.full(24, cap.robot_calls_per_hour, dtype=np.int64)
        self.minutes_day = np.array([c.minutes_per_day if c.kind == "agent" else 0 for c in cols], dtype=np.int64)
        self.minutes_hour = np.full((len(cols), 24), MINUTES_PER_HOUR, dtype=np.int64)
        self.visits = np.array([c.visits_per_day if c.kind == "field" else 0 for c in cols], dtype=np.int64)
        self.region_visits = dict(cap.field_visits_by_region)
        self.left = {Treatment.SMS: cap.sms_per_day, Treatment.AGENCY: cap.agency_slots,
                     Treatment.LEGAL: cap.legal_per_day, Treatment.SALE: cap.sale_per_day}
        self.position = {c.collector_id: i for i, c in enumerate(cols)}
        self.region_of = np.asarray([c.region for c in cols], dtype=np.str_)

    def in_hours(self, treatment: Treatment, hour: int) -> bool:
        """Whether `hour` is an allowed local start hour for the treatment."""
        first, last = self.capacity.hours_for(treatment)
        return first <= hour <= last

    def fits(self, *, treatment: Treatment, collector_id: int | None, hour: int, region: str) -> bool:
        """Whether one more such action fits (right collector kind and region, hours, capacity)."""
        if treatment is Treatment.NO_ACTION:
            return collector_id is None
        if not self.in_hours(treatment, hour):
            return False
        if treatment not in (Treatment.AGENT_CALL, Treatment.FIELD_VISIT):
            return collector_id is None and self._pool_left(treatment, hour) > 0
        c = self.position.get(collector_id) if collector_id is not None else None
        if c is None:
            return False
        view = self.collectors[c]
        if treatment is Treatment.AGENT_CALL:
            need = self.capacity.agent_minutes_per_call
            return view.kind == "agent" and self.minutes_day[c] >= need and self.minutes_hour[c, hour] >= need
        return (view.kind == "field" and view.region == region and self.visits[c] > 0
                and self.region_visits.get(region, 0) > 0)

    def take(self, *, treatment: Treatment, collector_id: int | None, hour: int, region: str) -> None:
        """Use the capacity of one action (call `fits` first)."""
        if treatment is Treatment.ROBOT_CALL:
            self.robot[hour] -= 1
        elif treatment is Treatment.AGENT_CALL and collector_id is not None:
            c, need = self.position[collector_id], self.capacity.agent_minutes_per_call
            self.minutes_day[c] -= need
            self.minutes_hour[c, hour] -= need
        elif treatment is Treatment.FIELD_VISIT and collector_id is not None:
            self.visits[self.position[collector_id]] -= 1
            self.region_visits[region] -= 1
        elif treatment in self.left:
            self.left[treatment] -= 1

    def _pool_left(self, treatment: Treatment, hour: int) -> int:
        if treatment is Treatment.ROBOT_CALL:
            return int(self.robot[hour])
        return self.left.get(treatment, 0)

    def first_free(self, ranked: IntArray, *, treatment: Treatment, hour: int, region: str) -> int | None:
        """Id of the first collector (positions `ranked`, best first) with room for the action, if any."""
        if treatment is Treatment.AGENT_CALL:
            need = self.capacity.agent_minutes_per_call
            room = (self.minutes_day[ranked] >= need) & (self.minutes_hour[ranked, hour] >= need)
        else:
            room = (self.visits[ranked] > 0) & (self.region_of[ranked] == region)
        if not room.any():
            return None
        return self.collectors[int(ranked[int(np.argmax(room))])].collector_id

    def agent_hour(self, c: int, hours: Sequence[int]) -> int | None:
        """The first of `hours` in which agent position `c` still has a call's minutes."""
        need = self.capacity.agent_minutes_per_call
        if self.minutes_day[c] < need:
            return None
        return next((h for h in hours if self.minutes_hour[c, h] >= need), None)


def _hours(window: tuple[int, int]) -> list[int]:
    return list(range(window[0], window[1] + 1))


def check_plan(actions: Sequence[Action], *, accounts: Sequence[AccountView], collectors: Sequence[CollectorView],
               capacity: Capacity) -> list[str]:
    """Every way a plan breaks the policy contract (empty when it is sound).

    One action per account, only known accounts, only allowed treatments (no contact of ceased or
    disputed accounts, nothing for placed ones, field only where possible), hours in the window,
    the right kind of collector (and region for field), and never beyond capacity.
    """
    views = {v.account_id: v for v in accounts}
    budget, seen, problems = _Budget(capacity, collectors), set(), []
    for a in actions:
        view = views.get(a.account_id)
        if view is None:
            problems.append(f"account {a.account_id}: not in today's accounts")
            continue
        if a.account_id in seen:
            problems.append(f"account {a.account_id}: more than one action today")
        seen.add(a.account_id)
        if a.treatment is not Treatment.NO_ACTION and a.treatment not in allowed_treatments(view, capacity):
            problems.append(f"account {a.account_id}: {a.treatment} not allowed (dpd {view.dpd}, cease {view.cease}, "
                            f"dispute {view.dispute}, placement {view.placement})")
            continue
        if not budget.fits(treatment=a.treatment, collector_id=a.collector_id, hour=a.hour,
                           region=view.profile.region):
            problems.append(f"account {a.account_id}: {a.treatment} by {a.collector_id} at {a.hour}h exceeds "
                            f"capacity or breaks hours/collector rules")
            continue
        budget.take(treatment=a.treatment, collector_id=a.collector_id, hour=a.hour, region=view.profile.region)
    return problems


# --------------------------------------------------------------------------- random


@dataclass(frozen=True)
class RandomPolicy:
    """A random allowed treatment per account (no action included), random collector and hour, within capacity."""

    name: str = "random"
    uses_truth: bool = False

    def plan(self, *, day: date, accounts: Sequence[AccountView], collectors: Sequence[CollectorView],
             capacity: Capacity, rng: np.random.Generator, truth: GroundTruth | None) -> list[Action]:
        """Shuffle accounts; for each try its options in random order and take the first that fits."""
        budget, actions = _Budget(capacity, collectors), []
        for i in rng.permutation(len(accounts)):
            view = accounts[int(i)]
            options = [*allowed_treatments(view, capacity), Treatment.NO_ACTION]
            for k in rng.permutation(len(options)):
                action = self._try(options[int(k)], view, budget, collectors, rng)
                if action is not None:
                    if action.treatment is not Treatment.NO_ACTION:
                        actions.append(action)
                    break
        return actions

    @staticmethod
    def _try(treatment: Treatment, view: AccountView, budget: _Budget, collectors: Sequence[CollectorView],
             rng: np.random.Generator) -> Action | None:
        hours = _hours(budget.capacity.hours_for(treatment))
        hour = int(hours[int(rng.integers(len(hours)))])
        region = view.profile.region
        staff: list[int | None] = [None]
        if treatment in (Treatment.AGENT_CALL, Treatment.FIELD_VISIT):
            kind = "agent" if treatment is Treatment.AGENT_CALL else "field"
            staff = [c.collector_id for c in collectors if c.kind == kind]
            staff = [staff[int(j)] for j in rng.permutation(len(staff))]
        for cid in staff:
            if treatment is Treatment.NO_ACTION or budget.fits(treatment=treatment, collector_id=cid, hour=hour,
                                                               region=region):
                budget.take(treatment=treatment, collector_id=cid, hour=hour, region=region)
                return Action(view.account_id, treatment, cid, hour)
        return None


# --------------------------------------------------------------------------- champion


@dataclass(frozen=True)
class ChampionPolicy:
    """Today's industry practice: fixed bucket queues, largest balance first, round-robin collectors.

    M1 → robot call (hours filled from the morning), SMS when the robot is full; M2 → agent call;
    M3 → field visit where possible, else agent call; overflow of M2/M3 → robot, then SMS;
    M4+ → legal for balances ≥ legal_min_balance_fen, else agency, SMS when neither has room.
    Accounts with an open promise not yet due are left alone (the promise is honoured).
    """

    name: str = "champion"
    uses_truth: bool = False
    legal_min_balance_fen: int = 2_000_000

    def plan(self, *, day: date, accounts: Sequence[AccountView], collectors: Sequence[CollectorView],
             capacity: Capacity, rng: np.random.Generator, truth: GroundTruth | None) -> list[Action]:
        """Walk the accounts by balance, largest first, and give each the first queue step that fits."""
        budget, actions = _Budget(capacity, collectors), []
        rr = _RoundRobin(collectors)
        order = sorted(accounts, key=lambda v: (-v.balance_fen, v.account_id))
        for view in order:
            if view.open_ptp_due is not None and view.open_ptp_due >= day:
                continue
            allowed = set(allowed_treatments(view, capacity))
            for treatment in self.queue(view):
                if treatment in allowed:
                    action = rr.assign(treatment, view, budget)
                    if action is not None:
                        actions.append(action)
                        break
        return actions

    def queue(self, view: AccountView) -> tuple[Treatment, ...]:
        """The bucket's treatments in order of preference."""
        bucket = view.bucket
        if bucket in ("M0", "M1"):
            return (Treatment.ROBOT_CALL, Treatment.SMS)
        if bucket == "M2":
            return (Treatment.AGENT_CALL, Treatment.ROBOT_CALL, Treatment.SMS)
        if bucket == "M3":
            return (Treatment.FIELD_VISIT, Treatment.AGENT_CALL, Treatment.ROBOT_CALL, Treatment.SMS)
        if view.balance_fen >= self.legal_min_balance_fen:
            return (Treatment.LEGAL, Treatment.AGENCY, Treatment.SMS)
        return (Treatment.AGENCY, Treatment.SMS)


class _RoundRobin:
    """Hands staffed work to collectors in turn; hours fill from the start of the window."""

    def __init__(self, collectors: Sequence[CollectorView]) -> None:
        self.agents = [i for i, c in enumerate(collectors) if c.kind == "agent"]
        self.field: dict[str, list[int]] = {}
        for i, c in enumerate(collectors):
            if c.kind == "field":
                self.field.setdefault(c.region, []).append(i)
        self.turn: dict[str, int] = {}
        self.collectors = collectors

    def _next(self, key: str, pool: list[int], ok: Callable[[int], bool]) -> int | None:
        start = self.turn.get(key, 0)
        for step in range(len(pool)):
            pos = pool[(start + step) % len(pool)]
            if ok(pos):
                self.turn[key] = (start + step + 1) % len(pool)
                return pos
        return None

    def assign(self, treatment: Treatment, view: AccountView, budget: _Budget) -> Action | None:
        """The action for `treatment` if capacity allows, using the next collector in turn."""
        hours, region = _hours(budget.capacity.hours_for(treatment)), view.profile.region
        if treatment is Treatment.AGENT_CALL:
            pos = self._next("agent", self.agents, lambda c: budget.agent_hour(c, hours) is not None)
            if pos is None:
                return None
            cid, hour = self.collectors[pos].collector_id, budget.agent_hour(pos, hours)
        elif treatment is Treatment.FIELD_VISIT:
            pos = self._next(f"field:{region}", self.field.get(region, []), lambda c: int(budget.visits[c]) > 0)
            if pos is None or budget.region_visits.get(region, 0) <= 0:
                return None
            cid, hour = self.collectors[pos].collector_id, hours[0]
        else:
            cid = None
            hour = next((h for h in hours if budget.fits(treatment=treatment, collector_id=None, hour=h,
                                                         region=region)), None)
        if hour is None or not budget.fits(treatment=treatment, collector_id=cid, hour=hour, region=region):
            return None
        budget.take(treatment=treatment, collector_id=cid, hour=hour, region=region)
        return Action(view.account_id, treatment, cid, hour)


# --------------------------------------------------------------------------- oracle


def _eligible(arrays: AccountArrays, capacity: Capacity, regions: Sequence[str]) -> dict[Treatment, BoolArray]:
    """Vectorised `allowed_treatments` per treatment."""
    free = ~arrays.dispute & ~arrays.placed
    out = {}
    for t in TREATMENTS:
        ok = free & (arrays.dpd >= capacity.min_dpd.get(t, 1))
        if t in CONTACT_TREATMENTS:
            ok &= ~arrays.cease
        if t is Treatment.FIELD_VISIT:
            staffed = np.array([capacity.field_visits_by_region.get(r, 0) > 0 for r in regions], dtype=np.bool_)
            ok &= arrays.field_possible & staffed
        out[t] = ok
    return out


@dataclass(frozen=True, slots=True)
class _Option:
    """True net value of one treatment for every account (−inf where not allowed).

    For treatments with an hour, `by_hour` holds the value per allowed hour (best collector of the
    segment) and `value` its row maximum; `ranking`/`segment` order collectors by true skill.
    """

    treatment: Treatment
    value: FloatArray
    hours: IntArray | None = None
    by_hour: FloatArray | None = None
    segment: IntArray | None = None
    ranking: IntArray | None = None  # (segments, collectors) budget positions, best first


@dataclass(frozen=True)
class OraclePolicy:
    """Greedy on true expected net value within capacity (see module docstring: a yardstick).

    It scores every allowed treatment of every account with the ground truth (calls and visits at
    every allowed hour, by the segment's most skilled collector), then walks (account, treatment)
    pairs best-first. Taking one, it picks the account's best hour that still has room and the most
    skilled collector still free at that hour; the chosen actions are re-scored exactly at the end
    and any whose true net value is not positive is dropped.
    """

    name: str = "oracle"
    uses_truth: bool = True

    def plan(self, *, day: date, accounts: Sequence[AccountView], collectors: Sequence[CollectorView],
             capacity: Capacity, rng: np.random.Generator, truth: GroundTruth | None) -> list[Action]:
        """Score every option with the truth, fill capacity best-first, keep what is truly worth it."""
        if truth is None:
            raise ValueError("the oracle policy needs the ground truth")
        if not accounts:
            return []
        arrays = AccountArrays.from_views(accounts)
        regions = [v.profile.region for v in accounts]
        ok = _eligible(arrays, capacity, regions)
        scorer = _Scorer(truth=truth, arrays=arrays, regions=regions, capacity=capacity, collectors=collectors,
                         day=day)
        options = [scorer.staffed(ok[Treatment.AGENT_CALL], Treatment.AGENT_CALL, "agent"),
                   scorer.staffed(ok[Treatment.FIELD_VISIT], Treatment.FIELD_VISIT, "field"),
                   scorer.hourly(ok[Treatment.ROBOT_CALL], Treatment.ROBOT_CALL)]
        options += [scorer.single(ok[t], t) for t in (Treatment.SMS, Treatment.AGENCY, Treatment.LEGAL,
                                                      Treatment.SALE)]
        actions = _greedy(options, accounts=accounts, budget=_Budget(capacity, collectors))
        return _truly_positive(actions, arrays=arrays, truth=truth, day=day)


@dataclass(frozen=True)
class _Scorer:
    """Asks the ground truth for the net value of options, in whole-book batches."""

    truth: GroundTruth
    arrays: AccountArrays
    regions: Sequence[str]
    capacity: Capacity
    collectors: Sequence[CollectorView]
    day: date

    def _subset(self, pos: IntArray) -> AccountArrays:
        a = self.arrays
        return AccountArrays(*(getattr(a, f)[pos] for f in ("account_id", "dpd", "balance_fen", "overdue_fen",
                                                           "open_ptp", "cease", "dispute", "placed",
                                                           "field_possible")))

    def _net(self, pos: IntArray, t: Treatment, cid: IntArray, hour: IntArray) -> FloatArray:
        r = self.truth.responses(accounts=self._subset(pos), treatment=t, collector_ids=cid, hour=hour, day=self.day)
        return r.expected_net_fen.astype(np.float64)

    def _grid(self, pos: IntArray, t: Treatment, hours: IntArray, cid: IntArray) -> FloatArray:
        """Net value (accounts × hours) with collector cid[i] for account pos[i]."""
        h = hours.size
        net = self._net(np.repeat(pos, h), t, np.repeat(cid, h), np.tile(hours, pos.size))
        return net.reshape(pos.size, h)

    def _spread(self, pos: IntArray, values: FloatArray) -> FloatArray:
        out = np.full((self.arrays.size, *values.shape[1:]), -np.inf)
        out[pos] = values
        return out

    def hourly(self, mask: BoolArray, t: Treatment) -> _Option:
        """A treatment without a collector whose value depends on the hour (robot call)."""
        pos, hours = np.flatnonzero(mask), np.asarray(_hours(self.capacity.hours_for(t)), dtype=np.int64)
        by_hour = self._spread(pos, self._grid(pos, t, hours, np.zeros(pos.size, dtype=np.int64)))
        return _Option(t, by_hour.max(axis=1), hours, by_hour)

    def staffed(self, mask: BoolArray, t: Treatment, kind: str) -> _Option:
        """Agent calls or visits: valued at every hour with the segment's most skilled collector."""
        cols = [i for i, c in enumerate(self.collectors) if c.kind == kind]
        if not cols or not mask.any():
            return _Option(t, np.full(self.arrays.size, -np.inf))
        ids = np.asarray([self.collectors[i].collector_id for i in cols], dtype=np.int64)
        segment, ranking = self.truth.collector_ranking(accounts=self.arrays, collector_ids=ids)
        ranking = np.asarray(cols, dtype=np.int64)[ranking]
        pos = np.flatnonzero(mask)
        best = np.asarray([self.collectors[c].collector_id for c in ranking[:, 0]], dtype=np.int64)[segment[pos]]
        if t is Treatment.FIELD_VISIT:  # the best field collector of the account's own region
            best = self._best_in_region(pos, segment, ranking)
        hours = np.asarray(_hours(self.capacity.hours_for(t)), dtype=np.int64)
        by_hour = self._spread(pos, self._grid(pos, t, hours, best))
        return _Option(t, by_hour.max(axis=1), hours, by_hour, segment, ranking)

    def _best_in_region(self, pos: IntArray, segment: IntArray, ranking: IntArray) -> IntArray:
        """Per account, the id of the most skilled field collector of its own region (0 if none)."""
        names = sorted(set(self.regions))
        of_account = np.searchsorted(np.asarray(names), np.asarray(self.regions))
        best = np.zeros((ranking.shape[0], len(names)), dtype=np.int64)
        for seg in range(ranking.shape[0]):
            for c in ranking[seg][::-1]:  # best last, so it wins
                view = self.collectors[int(c)]
                if view.region in names:
                    best[seg, names.index(view.region)] = view.collector_id
        return best[segment[pos], of_account[pos]]

    def single(self, mask: BoolArray, t: Treatment) -> _Option:
        """Treatments whose value depends on neither hour nor collector."""
        pos = np.flatnonzero(mask)
        hour = self.capacity.hours_for(t)[0]
        net = self._net(pos, t, np.zeros(pos.size, dtype=np.int64), np.full(pos.size, hour, dtype=np.int64))
        return _Option(t, self._spread(pos, net))


def _greedy(options: Sequence[_Option], *, accounts: Sequence[AccountView], budget: _Budget) -> list[Action]:
    """Walk (account, option) pairs by value, best first; take each if it still fits, one per account."""
    values = np.stack([o.value for o in options])  # (options, accounts)
    opt, pos = np.nonzero(values > 0)
    order = np.argsort(-values[opt, pos], kind="stable")
    done = np.zeros(len(accounts), dtype=np.bool_)
    actions = []
    for k in order:
        p = int(pos[k])
        if done[p]:
            continue
        action = _take(options[int(opt[k])], p, accounts[p], budget)
        if action is not None:
            actions.append(action)
            done[p] = True
    return actions


def _take(option: _Option, p: int, view: AccountView, budget: _Budget) -> Action | None:
    """The account's best still-feasible way of carrying out `option`, with its capacity taken."""
    t, region = option.treatment, view.profile.region
    if option.by_hour is None or option.hours is None:
        hour = budget.capacity.hours_for(t)[0]
        if not budget.fits(treatment=t, collector_id=None, hour=hour, region=region):
            return None
        budget.take(treatment=t, collector_id=None, hour=hour, region=region)
        return Action(view.account_id, t, None, hour)
    row = option.by_hour[p]
    for j in np.argsort(-row, kind="stable"):
        if row[j] <= 0:
            break
        hour = int(option.hours[j])
        cid = None
        if option.ranking is not None and option.segment is not None:
            cid = budget.first_free(option.ranking[option.segment[p]], treatment=t, hour=hour, region=region)
            if cid is None:
                continue
        if budget.fits(treatment=t, collector_id=cid, hour=hour, region=region):
            budget.take(treatment=t, collector_id=cid, hour=hour, region=region)
            return Action(view.account_id, t, cid, hour)
    return None


def _truly_positive(actions: list[Action], *, arrays: AccountArrays, truth: GroundTruth, day: date) -> list[Action]:
    """Re-score the chosen actions exactly (the collector may not be the one valued) and keep the positive."""
    if not actions:
        return actions
    where = {int(a): i for i, a in enumerate(arrays.account_id)}
    pos = np.asarray([where[a.account_id] for a in actions], dtype=np.int64)
    sub = AccountArrays(*(getattr(arrays, f)[pos] for f in ("account_id", "dpd", "balance_fen", "overdue_fen",
                                                            "open_ptp", "cease", "dispute", "placed",
                                                            "field_possible")))
    net = truth.responses(accounts=sub, treatment=np.asarray([T_INDEX[a.treatment] for a in actions]),
                          collector_ids=np.asarray([a.collector_id or 0 for a in actions]),
                          hour=np.asarray([a.hour for a in actions]), day=day).expected_net_fen
    return [a for a, v in zip(actions, net, strict=True) if v > 0]


@dataclass(frozen=True)
class HistoryPolicy:
    """The lender's past before a measured window: a random allowed treatment per account, no sales.

    Randomised treatment is what lets a model learn what each treatment changes (uplift); sales are
    left out because a sold account leaves the history models learn from.
    """

    name: str = "history"
    uses_truth: bool = False

    def plan(self, *, day: date, accounts: Sequence[AccountView], collectors: Sequence[CollectorView],
             capacity: Capacity, rng: np.random.Generator, truth: GroundTruth | None) -> list[Action]:
        """The random policy with no sale capacity."""
        return RandomPolicy().plan(day=day, accounts=accounts, collectors=collectors,
                                   capacity=replace(capacity, sale_per_day=0), rng=rng, truth=None)


# --------------------------------------------------------------------------- registry


def _optimized(**options: object) -> Policy:
    # imported late: the optimized policy builds on this module (budgets, hours)
    from buyu.simulation.optimized import OptimizedPolicy

    return OptimizedPolicy(**options)  # type: ignore[arg-type]


POLICIES: dict[str, Callable[..., Policy]] = {
    "random": RandomPolicy,
    "champion": ChampionPolicy,
    "oracle": OraclePolicy,
    "optimized": _optimized,
}


def make_policy(name: str, **options: object) -> Policy:
    """A policy by registry name (options go to its constructor)."""
    try:
        factory = POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; known: {sorted(POLICIES)}") from None
    return factory(**options)


def policy_rng(seed: int, name: str, day: date) -> np.random.Generator:
    """The policy's own stream for a day, so its randomness never disturbs any other mechanism."""
    return stream(seed, "policy", name, day)

