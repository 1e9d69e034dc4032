"""The optimizer's input: frozen dataclasses that validate themselves.

One day's problem is a set of accounts, each with the options it may receive today (eligibility is
already encoded by which options exist), and a set of capacitated *resources*. An option consumes
integer amounts of named resources:

    collector:<id>   minutes of one collector (agent_call, field_visit)
    field:<region>   field-visit slots of one region per day
    robot_lines      robot-call slots per day
    sms              SMS budget (messages)
    agency, legal, sale   placement slots

Collector resources are implied by `Collector.minutes`; every other resource is a `Resource`. The
model is generic over resources: the solver never special-cases a treatment, so a new channel is a
new resource name, not new code. Money is integer fen throughout; floats are refused.

`no_action` is always available at value 0 and uses nothing, so it is never listed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from buyu.errors import InvalidInput

COLLECTOR_PREFIX = "collector:"
FIELD_PREFIX = "field:"


class ProblemError(InvalidInput, ValueError):
    """Invalid optimizer input; `field` names the offending field (a path such as `accounts[3].id`).

    An InvalidInput (so the API and CLI report it as `invalid_problem` with the field in the
    details) and still a ValueError for callers that treat it as one."""

    code = "invalid_problem"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", details={"field": field})
        self.field = field


class Treatment(StrEnum):
    """What we do to an account today."""

    ROBOT_CALL = "robot_call"
    SMS = "sms"
    AGENT_CALL = "agent_call"
    FIELD_VISIT = "field_visit"
    AGENCY = "agency"
    LEGAL = "legal"
    SALE = "sale"
    NO_ACTION = "no_action"


#: Treatments that are performed by one named collector.
NEEDS_COLLECTOR = frozenset({Treatment.AGENT_CALL, Treatment.FIELD_VISIT})

#: The pooled resource each collector-free treatment draws on by default (see `make_option`).
POOLED_RESOURCE: Mapping[Treatment, str] = {
    Treatment.ROBOT_CALL: "robot_lines",
    Treatment.SMS: "sms",
    Treatment.AGENCY: "agency",
    Treatment.LEGAL: "legal",
    Treatment.SALE: "sale",
}


def collector_resource(collector_id: str) -> str:
    """The resource name of a collector's minutes."""
    return f"{COLLECTOR_PREFIX}{collector_id}"


def field_resource(region: str) -> str:
    """The resource name of a region's field-visit slots."""
    return f"{FIELD_PREFIX}{region}"


def _require_int(value: Any, *, field: str, minimum: int | None = None) -> None:
    # bool is an int subclass and float money is exactly what we refuse, hence the exact type test
    if type(value) is not int:
        raise ProblemError(field, f"must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ProblemError(field, f"must be >= {minimum}, got {value}")


def _require_name(value: Any, *, field: str) -> None:
    if not isinstance(value, str) or not value or value != value.strip():
        raise ProblemError(field, f"must be a non-empty string without surrounding spaces, got {value!r}")


@dataclass(frozen=True, slots=True)
class Resource:
    """A pooled capacity: `capacity` units per day of the resource called `name`."""

    name: str
    capacity: int

    def __post_init__(self) -> None:
        _require_name(self.name, field="Resource.name")
        if self.name.startswith(COLLECTOR_PREFIX):
            raise ProblemError("Resource.name", f"{COLLECTOR_PREFIX!r} names are implied by collectors")
        _require_int(self.capacity, field="Resource.capacity", minimum=0)


@dataclass(frozen=True, slots=True)
class Collector:
    """A human collector: minutes available today; field collectors have a region.

    `team` groups collectors whose workloads are balanced against each other (see
    `Problem.balance_band`); put only interchangeable collectors in one team (field collectors
    of one region, say). None leaves the collector out of balancing.
    """

    id: str
    minutes: int
    region: str | None = None
    team: str | None = "default"

    def __post_init__(self) -> None:
        _require_name(self.id, field="Collector.id")
        _require_int(self.minutes, field="Collector.minutes", minimum=0)
        if self.region is not None:
            _require_name(self.region, field="Collector.region")
        if self.team is not None:
            _require_name(self.team, field="Collector.team")

    @property
    def resource(self) -> str:
        """The name of this collector's minutes resource."""
        return collector_resource(self.id)


@dataclass(frozen=True, slots=True)
class Option:
    """One allowed (treatment, collector) pair for an account and what it costs in resources.

    `value` is the expected net value in fen (uplift × balance − cost, computed upstream; may be
    negative). `uses` lists (resource name, positive amount) pairs; `make_option` fills the
    standard ones.
    """

    treatment: Treatment
    value: int
    collector: str | None = None
    uses: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.treatment, Treatment):
            raise ProblemError("Option.treatment", f"must be a Treatment, got {self.treatment!r}")
        _require_int(self.value, field="Option.value")
        if (self.collector is not None) != (self.treatment in NEEDS_COLLECTOR):
            need = "needs" if self.treatment in NEEDS_COLLECTOR else "must not have"
            raise ProblemError("Option.collector", f"{self.treatment} {need} a collector")
        if self.collector is not None:
            _require_name(self.collector, field="Option.collector")
        if self.treatment is Treatment.NO_ACTION and (self.value != 0 or self.uses):
            raise ProblemError("Option.treatment", "no_action is implicit: value 0, no resources")
        self._check_uses()

    def _check_uses(self) -> None:
        if not isinstance(self.uses, tuple):
            raise ProblemError("Option.uses", "must be a tuple of (resource, amount) pairs")
        seen: set[str] = set()
        for i, pair in enumerate(self.uses):
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise ProblemError(f"Option.uses[{i}]", "must be a (resource, amount) pair")
            _require_name(pair[0], field=f"Option.uses[{i}].resource")
            _require_int(pair[1], field=f"Option.uses[{i}].amount", minimum=1)
            if pair[0] in seen:
                raise ProblemError(f"Option.uses[{i}].resource", f"{pair[0]!r} listed twice")
            seen.add(pair[0])
        if self.collector is not None and collector_resource(self.collector) not in seen:
            raise ProblemError("Option.uses", f"must use {collector_resource(self.collector)!r} minutes")


def make_option(
    *,
    treatment: Treatment,
    value: int,
    collector: str | None = None,
    minutes: int = 0,
    region: str | None = None,
) -> Option:
    """An option with the standard resource uses of its treatment.

    agent_call uses `minutes` of its collector; field_visit also uses one slot of `field:<region>`
    (the collector's region); the collector-free treatments use one unit of their pooled resource.
    """
    uses: tuple[tuple[str, int], ...] = ()
    if collector is not None:
        uses = ((collector_resource(collector), minutes),)
    if treatment is Treatment.FIELD_VISIT:
        if region is None:
            raise ProblemError("region", "a field_visit needs the collector's region")
        uses += ((field_resource(region), 1),)
    elif treatment in POOLED_RESOURCE:
        uses = ((POOLED_RESOURCE[treatment], 1),)
    return Option(treatment=treatment, value=value, collector=collector, uses=uses)


@dataclass(frozen=True, slots=True)
class Account:
    """An account in collection today, its allowed options and its incumbent collector (if any)."""

    id: str
    options: tuple[Option, ...]
    incumbent: str | None = None

    def __post_init__(self) -> None:
        _require_name(self.id, field="Account.id")
        if not isinstance(self.options, tuple):
            raise ProblemError("Account.options", "must be a tuple of Option")
        pairs: set[tuple[Treatment, str | None]] = set()
        for i, option in enumerate(self.options):
            if not isinstance(option, Option):
                raise ProblemError(f"Account.options[{i}]", f"must be an Option, got {option!r}")
            pair = (option.treatment, option.collector)
            if pair in pairs:
                raise ProblemError(f"Account.options[{i}]", f"duplicate option {pair}")
            pairs.add(pair)
        if self.incumbent is not None:
            _require_name(self.incumbent, field="Account.incumbent")


@dataclass(frozen=True, slots=True)
class Problem:
    """One day's assignment problem.

    balance_band: None disables workload balancing; b >= 0 caps each collector's utilisation
        (minutes assigned / minutes available) at (1 + b) × the capacity-weighted mean
        utilisation of its team:  load_c <= (1 + b) * minutes_c * team_load / team_minutes.
        Linear (the mean is a sum), always satisfiable (all-idle satisfies it). Only an upper
        cap: a hard lower bound can make a day infeasible (a collector with no eligible accounts
        could never reach it), so under-loading is visible in `Result.usage` rather than
        forbidden. Collectors with no option worth doing today are left out of their team's
        mean, which they would otherwise drag down; b is read as a decimal (0.1 is 1/10).
    continuity_threshold: fen; an account stays with its incumbent collector unless switching
        gains more than this. Implemented as a bonus of the threshold on the incumbent's options.
    """

    accounts: tuple[Account, ...]
    collectors: tuple[Collector, ...] = ()
    resources: tuple[Resource, ...] = ()
    balance_band: float | None = None
    continuity_threshold: int = 0
    _capacity: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("accounts", "collectors", "resources"):
            if not isinstance(getattr(self, name), tuple):
                raise ProblemError(name, "must be a tuple")
        self._check_band()
        _require_int(self.continuity_threshold, field="continuity_threshold", minimum=0)
        object.__setattr__(self, "_capacity", self._check_resources())
        self._check_accounts()

    def _check_band(self) -> None:
        band = self.balance_band
        if band is None:
            return
        if isinstance(band, bool) or not isinstance(band, int | float) or not math.isfinite(band):
            raise ProblemError("balance_band", f"must be a finite number or None, got {band!r}")
        if not 0 <= band <= 100:
            raise ProblemError("balance_band", f"must be between 0 and 100, got {band}")

    def _check_resources(self) -> dict[str, int]:
        capacity: dict[str, int] = {}
        for i, resource in enumerate(self.resources):
            if not isinstance(resource, Resource):
                raise ProblemError(f"resources[{i}]", f"must be a Resource, got {resource!r}")
            if resource.name in capacity:
                raise ProblemError(f"resources[{i}].name", f"duplicate resource {resource.name!r}")
            capacity[resource.name] = resource.capacity
        for i, collector in enumerate(self.collectors):
            if not isinstance(collector, Collector):
                raise ProblemError(f"collectors[{i}]", f"must be a Collector, got {collector!r}")
            if collector.resource in capacity:
                raise ProblemError(f"collectors[{i}].id", f"duplicate collector {collector.id!r}")
            capacity[collector.resource] = collector.minutes
        return capacity

    def _check_accounts(self) -> None:
        regions = {c.id: c.region for c in self.collectors}
        seen: set[str] = set()
        for i, account in enumerate(self.accounts):
            if not isinstance(account, Account):
                raise ProblemError(f"accounts[{i}]", f"must be an Account, got {account!r}")
            if account.id in seen:
                raise ProblemError(f"accounts[{i}].id", f"duplicate account {account.id!r}")
            seen.add(account.id)
            if account.incumbent is not None and account.incumbent not in regions:
                raise ProblemError(f"accounts[{i}].incumbent", f"unknown collector {account.incumbent!r}")
            for j, option in enumerate(account.options):
                self._check_option(option, path=f"accounts[{i}].options[{j}]", regions=regions)

    def _check_option(self, option: Option, *, path: str, regions: Mapping[str, str | None]) -> None:
        if option.collector is not None and option.collector not in regions:
            raise ProblemError(f"{path}.collector", f"unknown collector {option.collector!r}")
        for k, (name, _amount) in enumerate(option.uses):
            if name not in self._capacity:
                raise ProblemError(f"{path}.uses[{k}]", f"unknown resource {name!r}")
            if name.startswith(COLLECTOR_PREFIX) and name != collector_resource(option.collector or ""):
                raise ProblemError(f"{path}.uses[{k}]", f"uses another collector's minutes ({name!r})")
        if option.treatment is Treatment.FIELD_VISIT:
            region = regions[option.collector or ""]
            if region is None:
                raise ProblemError(f"{path}.collector", f"field collector {option.collector!r} has no region")
            if field_resource(region) not in dict(option.uses):
                raise ProblemError(f"{path}.uses", f"a field visit must use {field_resource(region)!r}")

    def capacity(self, resource: str) -> int:
        """Capacity of a resource by name (collector minutes included)."""
        return self._capacity[resource]

    @property
    def resource_names(self) -> tuple[str, ...]:
        """Every resource: pooled ones in input order, then one per collector."""
        return tuple(self._capacity)
