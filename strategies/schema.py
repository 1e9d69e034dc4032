"""Strategy documents: parse and validate (JSON Schema for the shape, then semantic checks). Pure.

A document is the mapping a manager writes in YAML or JSON. `parse_strategy` turns it into frozen
dataclasses or raises `StrategyError` naming the field path (`segments[2].allow[1]`);
`strategy_to_document` is its inverse, so `parse_strategy(strategy_to_document(s)) == s`.
Money is integer fen (`*_fen` keys); shares and discounts are decimals (strings or numbers in the file).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from buyu.errors import InvalidInput

TREATMENTS = ("robot_call", "sms", "agent_call", "field_visit", "agency", "legal", "sale", "no_action")
BUCKETS = ("M1", "M2", "M3", "M4+")
CONTACT_PROFILES = ("CN", "US")
CHAMPION = "champion"
MAX_SEED = 2**63 - 1


class StrategyError(InvalidInput):
    """A strategy document is malformed or inconsistent; the message starts with the field path."""

    code = "invalid_strategy"

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        path, message = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{path or '(document)'}: {message}{more}", details={
            "path": path, "errors": [{"path": p, "message": m} for p, m in problems]})
        self.path = path


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class Condition:
    """Which accounts a segment takes; every field optional, an account matches when all given fields match.

    Bands are half-open: min ≤ value < max.
    """

    buckets: tuple[str, ...] | None = None
    balance_min_fen: int | None = None
    balance_max_fen: int | None = None
    score_min: float | None = None
    score_max: float | None = None
    products: tuple[str, ...] | None = None
    regions: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Segment:
    """A named group of accounts and the treatments it allows; `require` ⊆ `allow`."""

    name: str
    when: Condition
    allow: tuple[str, ...]
    require: tuple[str, ...] = ()


@dataclass(frozen=True)
class PtpLimits:
    """What a collector or the robot may accept as a promise to pay."""

    max_days: int
    min_amount_share: Decimal
    min_amount_fen: int
    discounts: tuple[Decimal, ...]
    instalments_max: int


@dataclass(frozen=True)
class Capacities:
    """Daily capacities the optimizer must respect (collector minutes come from the people tables)."""

    robot_calls_per_day: int
    sms_per_day: int
    agency_slots: int
    legal_per_day: int
    sale_per_day: int
    field_visits_by_region: Mapping[str, int]
    agent_minutes_per_call: int
    field_minutes_per_visit: int


@dataclass(frozen=True)
class Costs:
    """Fen per action, the optimizer's cost; always holds every treatment (no_action costs 0)."""

    per_treatment_fen: Mapping[str, int]


@dataclass(frozen=True)
class OptimizerSettings:
    """Knobs of the nightly assignment."""

    top_k: int
    workload_band: Decimal
    continuity_threshold_fen: int
    time_limit_s: float
    horizon_days: int
    #: Share of accounts each night given a random allowed treatment (test-and-learn): the only data from
    #: which the models can keep learning what a treatment changes once the plan chooses the treatments.
    explore_share: Decimal = Decimal(0)


#: A 12-month recovery curve is judged on a year of outcomes before it may price an irreversible sale.
DEFAULT_MIN_VALUATION_DAYS = 365


@dataclass(frozen=True)
class SaleTerms:
    """A debt buyer's standing offer (forward flow): the price per bucket as a share of the balance, and the
    annual rate at which the plan discounts what holding the account would still recover. An account is
    sold only where its segment allows `sale` and the price beats the hold value (the valuation model's
    12-month curve at that rate) by more than the sale's cost; buckets without a price are never sold.

    A sale cannot be undone, so it waits for a valuation that has seen the late recoveries holding brings:
    the model's training window must span `min_valuation_days`. A curve fitted on a young book knows
    nothing of court judgments and agency returns that land months after filing, values holding too low, and
    sold accounts worth more than the price (simulator, default scenario: 7–12% less net recovery)."""

    price_share: Mapping[str, Decimal]
    annual_rate: Decimal
    min_valuation_days: int = DEFAULT_MIN_VALUATION_DAYS


@dataclass(frozen=True)
class Challenger:
    """A seeded random holdout that runs other segments and/or optimizer settings."""

    name: str
    share: Decimal
    seed: int
    segments: tuple[Segment, ...] | None = None
    optimizer: OptimizerSettings | None = None


@dataclass(frozen=True)
class Strategy:
    """A whole strategy: the champion's segments (first match wins), limits, capacities and challengers."""

    portfolio: str
    name: str
    contact_profile: str
    segments: tuple[Segment, ...]
    ptp: PtpLimits
    capacities: Capacities
    costs: Costs
    optimizer: OptimizerSettings
    challengers: tuple[Challenger, ...] = ()
    description: str = ""
    sale: SaleTerms | None = None


# --------------------------------------------------------------------------- JSON Schema (shape)

_NAME = {"type": "string", "minLength": 1, "maxLength": 60, "pattern": r"^[A-Za-z0-9_.\-+ ]+$"}
_FEN = {"type": "integer", "minimum": 0, "maximum": 10**15}
_COUNT = {"type": "integer", "minimum": 0, "maximum": 10_000_000}
_DECIMAL = {"type": ["string", "number"], "title": "decimal"}
_STRINGS = {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string", "minLength": 1}}


def _enum_list(values: Iterable[str], title: str, *, min_items: int) -> dict[str, Any]:
    return {"type": "array", "minItems": min_items, "uniqueItems": True,
            "items": {"enum": list(values), "title": title}}


_CONDITION = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "buckets": _enum_list(BUCKETS, "bucket", min_items=1),
        "balance_min_fen": _FEN, "balance_max_fen": _FEN,
        "score_min": {"type": "number", "minimum": 0, "maximum": 1},
        "score_max": {"type": "number", "minimum": 0, "maximum": 1},
        "products": _STRINGS, "regions": _STRINGS, "languages": _STRINGS,
    },
}
_SEGMENT = {
    "type": "object", "additionalProperties": False, "required": ["name", "allow"],
    "properties": {
        "name": _NAME, "when": _CONDITION,
        "allow": _enum_list(TREATMENTS, "treatment", min_items=1),
        "require": _enum_list(TREATMENTS, "treatment", min_items=0),
    },
}
_SEGMENTS = {"type": "array", "minItems": 1, "maxItems": 200, "items": _SEGMENT}
_OPTIMIZER = {
    "type": "object", "additionalProperties": False,
    "required": ["top_k", "workload_band", "continuity_threshold_fen", "time_limit_s", "horizon_days"],
    "properties": {
        "top_k": {"type": "integer", "minimum": 1, "maximum": 1000},
        "workload_band": _DECIMAL,
        "continuity_threshold_fen": _FEN,
        "time_limit_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
        "horizon_days": {"enum": [7, 30], "title": "horizon"},
        "explore_share": _DECIMAL,
    },
}
_DOCUMENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object", "additionalProperties": False,
    "required": ["portfolio", "name", "contact_profile", "segments", "ptp", "capacities", "costs", "optimizer"],
    "properties": {
        "portfolio": _NAME, "name": _NAME,
        "description": {"type": "string"},
        "contact_profile": {"enum": list(CONTACT_PROFILES), "title": "contact profile"},
        "segments": _SEGMENTS,
        "ptp": {
            "type": "object", "additionalProperties": False,
            "required": ["max_days", "min_amount_share", "min_amount_fen", "discounts", "instalments_max"],
            "properties": {
                "max_days": {"type": "integer", "minimum": 0, "maximum": 365},
                "min_amount_share": _DECIMAL, "min_amount_fen": _FEN,
                "discounts": {"type": "array", "items": _DECIMAL},
                "instalments_max": {"type": "integer", "minimum": 1, "maximum": 60},
            },
        },
        "capacities": {
            "type": "object", "additionalProperties": False,
            "required": ["robot_calls_per_day", "sms_per_day", "agency_slots", "legal_per_day", "sale_per_day",
                         "field_visits_by_region", "agent_minutes_per_call", "field_minutes_per_visit"],
            "properties": {
                "robot_calls_per_day": _COUNT, "sms_per_day": _COUNT, "agency_slots": _COUNT,
                "legal_per_day": _COUNT, "sale_per_day": _COUNT,
                "field_visits_by_region": {"type": "object", "additionalProperties": _COUNT,
                                           "propertyNames": {"minLength": 1}},
                "agent_minutes_per_call": {"type": "integer", "minimum": 1, "maximum": 240},
                "field_minutes_per_visit": {"type": "integer", "minimum": 1, "maximum": 1440},
            },
        },
        "costs": {
            "type": "object", "additionalProperties": False, "required": ["per_treatment_fen"],
            "properties": {"per_treatment_fen": {
                "type": "object", "additionalProperties": False,
                "required": [t for t in TREATMENTS if t != "no_action"],
                "properties": {t: _FEN for t in TREATMENTS},
            }},
        },
        "optimizer": _OPTIMIZER,
        "sale": {
            "type": "object", "additionalProperties": False, "required": ["price_share", "annual_rate"],
            "properties": {
                "price_share": {"type": "object", "additionalProperties": False, "minProperties": 1,
                                "properties": {b: _DECIMAL for b in BUCKETS}},
                "annual_rate": _DECIMAL,
                "min_valuation_days": {"type": "integer", "minimum": 0, "maximum": 3650},
            },
        },
        "challengers": {
            "type": "array", "maxItems": 20,
            "items": {
                "type": "object", "additionalProperties": False, "required": ["name", "share", "seed"],
                "properties": {
                    "name": _NAME, "share": _DECIMAL,
                    "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED},
                    "segments": _SEGMENTS, "optimizer": _OPTIMIZER,
                },
            },
        },
    },
}
Draft202012Validator.check_schema(_DOCUMENT_SCHEMA)
# JSON Schema counts 5.0 as an integer; a count or an amount of fen written as a float is a typo, not a number.
_STRICT_INT = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool))
_VALIDATOR = validators.extend(Draft202012Validator, type_checker=_STRICT_INT)(_DOCUMENT_SCHEMA)


def document_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a strategy document's shape."""
    return json.loads(json.dumps(_DOCUMENT_SCHEMA))


def field_path(parts: Iterable[str | int]) -> str:
    """`["segments", 2, "allow", 1]` → `segments[2].allow[1]`."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list | tuple) else "object" if isinstance(value, Mapping) else type(
        value).__name__


def _describe(error: ValidationError) -> tuple[str, str]:
    """One jsonschema error as (path, plain message)."""
    parts = list(error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    value: Any = error.validator_value
    instance: Any = error.instance
    kind = error.validator
    if kind == "required":
        missing = [k for k in value if k not in instance]
        return field_path([*parts, missing[0]]), "is required"
    if kind == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = set(schema.get("properties", {}))
        extra = sorted(str(k) for k in error.instance if k not in allowed)
        return field_path([*parts, extra[0]]), "unknown field" + (f"; expected one of {sorted(allowed)}" if allowed
                                                                   else "")
    if kind == "enum":
        return field_path(parts), f"unknown {schema.get('title', 'value')} {error.instance!r}; expected one of {value}"
    if kind == "type":
        return field_path(parts), f"must be {' or '.join(value) if isinstance(value, list) else value}, " \
                                  f"got {_json_type(error.instance)}"
    if kind == "uniqueItems":
        return field_path(parts), "has duplicate entries"
    if kind in ("minItems", "maxItems"):
        return field_path(parts), f"needs {'at least' if kind == 'minItems' else 'at most'} {value} item(s)"
    if kind in ("minimum", "maximum", "exclusiveMinimum"):
        sign = {"minimum": "≥", "maximum": "≤", "exclusiveMinimum": ">"}[kind]
        return field_path(parts), f"must be {sign} {value}, got {error.instance!r}"
    if kind in ("minLength", "maxLength", "pattern"):
        return field_path(parts), f"{error.instance!r} is not a valid name (1–60 letters, digits, _ . - + or space)"
    return field_path(parts), error.message


def _document_order(document: Any, parts: Iterable[str | int]) -> list[int]:
    """Where a path sits in the file (keys by their position), so the first error reported is the first one read."""
    key, node = [], document
    for part in parts:
        if isinstance(node, Mapping):
            names = list(node)
            key.append(names.index(part) if part in names else len(names))
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int):
            key.append(part)
            node = node[part] if part < len(node) else None
        else:
            break
    return key


def _shape_problems(document: Any) -> list[tuple[str, str]]:
    errors = sorted(_VALIDATOR.iter_errors(document), key=lambda e: _document_order(document, e.absolute_path))
    seen: list[tuple[str, str]] = []
    for e in errors:
        problem = _describe(e)
        if problem not in seen:
            seen.append(problem)
    return seen


# --------------------------------------------------------------------------- semantic checks and parsing


class _Problems:
    """Collects semantic problems so one run reports all of them (the first one leads the message)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, parts: list[str | int], message: str) -> None:
        self.items.append((field_path(parts), message))

    def decimal(self, value: Any, parts: list[str | int], *, low: Decimal, high: Decimal,
                high_open: bool = False) -> Decimal:
        """A decimal in [low, high] (or [low, high) when high_open); 0 after reporting a problem."""
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            self.add(parts, f"{value!r} is not a decimal number")
            return Decimal(0)
        if not number.is_finite() or number < low or number > high or (high_open and number == high):
            self.add(parts, f"must be between {low} and {high}{' (exclusive)' if high_open else ''}, got {value!r}")
            return Decimal(0)
        # 0.2, "0.20" and 2E-1 are one value: normalise so the canonical JSON (and its sha256) agree.
        return number.normalize()


def _opt_tuple(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _condition(raw: Mapping[str, Any], parts: list[str | int], problems: _Problems) -> Condition:
    cond = Condition(
        buckets=_opt_tuple(raw.get("buckets")),
        balance_min_fen=raw.get("balance_min_fen"), balance_max_fen=raw.get("balance_max_fen"),
        score_min=None if raw.get("score_min") is None else float(raw["score_min"]),
        score_max=None if raw.get("score_max") is None else float(raw["score_max"]),
        products=_opt_tuple(raw.get("products")), regions=_opt_tuple(raw.get("regions")),
        languages=_opt_tuple(raw.get("languages")),
    )
    if cond.balance_min_fen is not None and cond.balance_max_fen is not None \
            and cond.balance_min_fen >= cond.balance_max_fen:
        problems.add([*parts, "balance_max_fen"], f"must be greater than balance_min_fen ({cond.balance_min_fen})")
    if cond.score_min is not None and cond.score_max is not None and cond.score_min >= cond.score_max:
        problems.add([*parts, "score_max"], f"must be greater than score_min ({cond.score_min})")
    return cond


def _segments(raw: list[Mapping[str, Any]], parts: list[str | int], problems: _Problems) -> tuple[Segment, ...]:
    out: list[Segment] = []
    names: set[str] = set()
    for i, seg in enumerate(raw):
        here: list[str | int] = [*parts, i]
        if seg["name"] in names:
            problems.add([*here, "name"], f"duplicate segment name {seg['name']!r}")
        names.add(seg["name"])
        allow, require = tuple(seg["allow"]), tuple(seg.get("require", ()))
        for j, treatment in enumerate(require):
            if treatment not in allow:
                problems.add([*here, "require", j], f"required treatment {treatment!r} is not in allow")
        out.append(Segment(name=seg["name"], when=_condition(seg.get("when", {}), [*here, "when"], problems),
                           allow=allow, require=require))
    return tuple(out)


def _optimizer(raw: Mapping[str, Any], parts: list[str | int], problems: _Problems) -> OptimizerSettings:
    return OptimizerSettings(
        top_k=raw["top_k"],
        workload_band=problems.decimal(raw["workload_band"], [*parts, "workload_band"], low=Decimal(0),
                                       high=Decimal(1)),
        continuity_threshold_fen=raw["continuity_threshold_fen"], time_limit_s=float(raw["time_limit_s"]),
        horizon_days=raw["horizon_days"],
        explore_share=problems.decimal(raw.get("explore_share", "0"), [*parts, "explore_share"], low=Decimal(0),
                                       high=Decimal("0.5")))


def _ptp(raw: Mapping[str, Any], problems: _Problems) -> PtpLimits:
    discounts = tuple(problems.decimal(d, ["ptp", "discounts", i], low=Decimal(0), high=Decimal(1), high_open=True)
                      for i, d in enumerate(raw["discounts"]))
    if len(set(discounts)) != len(discounts):
        problems.add(["ptp", "discounts"], "has duplicate entries")
    share = problems.decimal(raw["min_amount_share"], ["ptp", "min_amount_share"], low=Decimal(0), high=Decimal(1))
    return PtpLimits(max_days=raw["max_days"], min_amount_share=share, min_amount_fen=raw["min_amount_fen"],
                     discounts=discounts, instalments_max=raw["instalments_max"])


def _sale(raw: Mapping[str, Any] | None, problems: _Problems) -> SaleTerms | None:
    if raw is None:
        return None
    prices = {b: problems.decimal(v, ["sale", "price_share", b], low=Decimal(0), high=Decimal(1))
              for b, v in raw["price_share"].items()}
    rate = problems.decimal(raw["annual_rate"], ["sale", "annual_rate"], low=Decimal(0), high=Decimal(1))
    return SaleTerms(price_share=MappingProxyType({b: prices[b] for b in BUCKETS if b in prices}), annual_rate=rate,
                     min_valuation_days=int(raw.get("min_valuation_days", DEFAULT_MIN_VALUATION_DAYS)))


def _challengers(raw: list[Mapping[str, Any]], problems: _Problems) -> tuple[Challenger, ...]:
    out: list[Challenger] = []
    names: set[str] = {CHAMPION}
    for i, ch in enumerate(raw):
        here: list[str | int] = ["challengers", i]
        if ch["name"] in names:
            problems.add([*here, "name"], f"name {ch['name']!r} is taken (by the champion or another challenger)")
        names.add(ch["name"])
        reported = len(problems.items)
        share = problems.decimal(ch["share"], [*here, "share"], low=Decimal(0), high=Decimal(1))
        if share == 0 and len(problems.items) == reported:
            problems.add([*here, "share"], "must be greater than 0")
        segments = None if ch.get("segments") is None else _segments(ch["segments"], [*here, "segments"], problems)
        optimizer = None if ch.get("optimizer") is None else _optimizer(ch["optimizer"], [*here, "optimizer"],
                                                                        problems)
        if segments is None and optimizer is None:
            problems.add(here, "a challenger must change something: give it segments or optimizer settings")
        out.append(Challenger(name=ch["name"], share=share, seed=ch["seed"], segments=segments, optimizer=optimizer))
    total = sum((c.share for c in out), Decimal(0))
    if total >= 1:
        problems.add(["challengers"], f"shares add up to {total}; the champion must keep a share (total < 1)")
    return tuple(out)


def _check_costs(costs: Mapping[str, int], problems: _Problems) -> None:
    if costs["no_action"] != 0:
        problems.add(["costs", "per_treatment_fen", "no_action"], "doing nothing costs nothing: must be 0")


def parse_strategy(document: Mapping[str, Any]) -> Strategy:
    """Validate a strategy document and build the Strategy, or raise StrategyError naming the field."""
    shape = _shape_problems(document)
    if shape:
        raise StrategyError(shape)
    problems = _Problems()
    segments = _segments(document["segments"], ["segments"], problems)
    caps = document["capacities"]
    costs = {t: int(document["costs"]["per_treatment_fen"].get(t, 0)) for t in TREATMENTS}
    _check_costs(costs, problems)
    strategy = Strategy(
        portfolio=document["portfolio"], name=document["name"], contact_profile=document["contact_profile"],
        segments=segments, ptp=_ptp(document["ptp"], problems),
        capacities=Capacities(
            robot_calls_per_day=caps["robot_calls_per_day"], sms_per_day=caps["sms_per_day"],
            agency_slots=caps["agency_slots"], legal_per_day=caps["legal_per_day"], sale_per_day=caps["sale_per_day"],
            field_visits_by_region=MappingProxyType(dict(sorted(caps["field_visits_by_region"].items()))),
            agent_minutes_per_call=caps["agent_minutes_per_call"],
            field_minutes_per_visit=caps["field_minutes_per_visit"]),
        costs=Costs(per_treatment_fen=MappingProxyType(costs)),
        optimizer=_optimizer(document["optimizer"], ["optimizer"], problems),
        challengers=_challengers(document.get("challengers") or [], problems),
        description=document.get("description", ""),
        sale=_sale(document.get("sale"), problems),
    )
    if problems.items:
        raise StrategyError(problems.items)
    return strategy


def load_strategy_text(text: str) -> Strategy:
    """Parse YAML or JSON text (JSON is YAML) into a validated Strategy."""
    return parse_strategy(load_document(text))


def load_document(text: str) -> dict[str, Any]:
    """YAML or JSON text → a document mapping (not yet validated), or StrategyError for unreadable text."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise StrategyError([("", f"not valid YAML or JSON{where}: {getattr(exc, 'problem', exc)}")]) from exc
    if not isinstance(document, dict):
        raise StrategyError([("", f"must be a mapping (YAML or JSON object), got {_json_type(document)}")])
    return document


# --------------------------------------------------------------------------- back to a document


def _drop_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


def _segment_doc(segment: Segment) -> dict[str, Any]:
    c = segment.when
    when = _drop_none({
        "buckets": None if c.buckets is None else list(c.buckets),
        "balance_min_fen": c.balance_min_fen, "balance_max_fen": c.balance_max_fen,
        "score_min": c.score_min, "score_max": c.score_max,
        "products": None if c.products is None else list(c.products),
        "regions": None if c.regions is None else list(c.regions),
        "languages": None if c.languages is None else list(c.languages),
    })
    return {"name": segment.name, "when": when, "allow": list(segment.allow), "require": list(segment.require)}


def _dec(value: Decimal) -> str:
    return format(value, "f")


def _optimizer_doc(o: OptimizerSettings) -> dict[str, Any]:
    return {"top_k": o.top_k, "workload_band": _dec(o.workload_band),
            "continuity_threshold_fen": o.continuity_threshold_fen, "time_limit_s": o.time_limit_s,
            "horizon_days": o.horizon_days,
            # left out at 0 so documents written before the setting existed keep their canonical form and sha256
            **({"explore_share": _dec(o.explore_share)} if o.explore_share else {})}


def strategy_to_document(strategy: Strategy) -> dict[str, Any]:
    """The canonical document of a Strategy (plain JSON types; decimals as strings); parses back to it."""
    s, caps = strategy, strategy.capacities
    return {
        "portfolio": s.portfolio, "name": s.name, "description": s.description, "contact_profile": s.contact_profile,
        "segments": [_segment_doc(seg) for seg in s.segments],
        "ptp": {"max_days": s.ptp.max_days, "min_amount_share": _dec(s.ptp.min_amount_share),
                "min_amount_fen": s.ptp.min_amount_fen, "discounts": [_dec(d) for d in s.ptp.discounts],
                "instalments_max": s.ptp.instalments_max},
        "capacities": {
            "robot_calls_per_day": caps.robot_calls_per_day, "sms_per_day": caps.sms_per_day,
            "agency_slots": caps.agency_slots, "legal_per_day": caps.legal_per_day, "sale_per_day": caps.sale_per_day,
            "field_visits_by_region": dict(caps.field_visits_by_region),
            "agent_minutes_per_call": caps.agent_minutes_per_call,
            "field_minutes_per_visit": caps.field_minutes_per_visit},
        "costs": {"per_treatment_fen": {t: s.costs.per_treatment_fen[t] for t in TREATMENTS}},
        "optimizer": _optimizer_doc(s.optimizer),
        "challengers": [_drop_none({
            "name": c.name, "share": _dec(c.share), "seed": c.seed,
            "segments": None if c.segments is None else [_segment_doc(seg) for seg in c.segments],
            "optimizer": None if c.optimizer is None else _optimizer_doc(c.optimizer),
        }) for c in s.challengers],
        # left out when absent, like explore_share: older documents keep their canonical form and sha256
        **({"sale": {"price_share": {b: _dec(v) for b, v in s.sale.price_share.items()},
                     "annual_rate": _dec(s.sale.annual_rate),
                     # the default is left out, so documents written before the field keep their sha256
                     **({"min_valuation_days": s.sale.min_valuation_days}
                        if s.sale.min_valuation_days != DEFAULT_MIN_VALUATION_DAYS else {})}}
          if s.sale is not None else {}),
    }


def canonical_json(strategy: Strategy) -> str:
    """The canonical JSON text of a strategy (sorted keys, no spaces): what its sha256 is taken of."""
    return json.dumps(strategy_to_document(strategy), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
