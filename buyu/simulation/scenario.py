"""Scenario files: the knobs of a simulated portfolio, validated before anything is generated.

A scenario is YAML with nine required knobs (`seed`, `accounts`, `collectors`, `days`,
`robot_lines`, `field_share`, `willingness_shift`, `skill_spread`, `start_date`) and optional
sections (`borrowers`, `dynamics`, `treatments`, `collector_pool`, `fatigue`, `promises`,
`contact`) whose every field has a documented default. Unknown keys are refused, so a typo never
silently falls back to a default. (The collectors section is `collector_pool` because the
required knob `collectors` is the head count.)

Logit conventions: propensities are logistic, σ(x) = 1 / (1 + e^−x); "logit" fields add to x.
Money is integer fen; shares and probabilities are floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from buyu.errors import InvalidInput

Prob = Annotated[float, Field(ge=0.0, le=1.0)]
Fen = Annotated[int, Field(ge=0)]
Positive = Annotated[float, Field(gt=0.0)]
Hour = Annotated[int, Field(ge=0, le=23)]

BUCKET_NAMES: tuple[str, ...] = ("M1", "M2", "M3", "M4+")

#: Where the shipped scenario files live (repo top level, next to `buyu/`).
SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"


class ScenarioError(InvalidInput, ValueError):
    """A scenario file that cannot be used; the message names every offending field."""

    code = "invalid_scenario"


class _Section(BaseModel):
    # frozen: a world built from a scenario can never see it change underneath it.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _by_bucket(**values: float) -> dict[str, float]:
    return {"M1": values["m1"], "M2": values["m2"], "M3": values["m3"], "M4+": values["m4"]}


def _check_buckets(value: dict[str, float]) -> dict[str, float]:
    missing = [b for b in BUCKET_NAMES if b not in value]
    extra = [b for b in value if b not in BUCKET_NAMES]
    if missing or extra:
        raise ValueError(f"needs exactly the buckets {list(BUCKET_NAMES)}; missing {missing}, unknown {extra}")
    return value


# --------------------------------------------------------------------------- borrowers


class Region(_Section):
    """A region: its time zone (hours are local to the borrower) and Korean-speaking share."""

    name: str = Field(min_length=1, max_length=40)
    timezone: str = "Asia/Shanghai"
    utc_offset_h: int = Field(default=8, ge=-12, le=14)
    weight: Positive = 1.0
    ko_share: Prob = 0.0


class IncomeBand(_Section):
    """An income band and the long-run ability-to-pay logit of borrowers in it."""

    name: str = Field(min_length=1, max_length=10)
    weight: Positive
    ability_mean: float


class LoanSize(_Section):
    """Loan size of a product: log-normal around a median, fixed term and rate."""

    median_fen: Fen = 600_000
    sigma: float = Field(default=0.6, ge=0.0, le=2.0)
    min_fen: Fen = 100_000
    max_fen: Fen = 50_000_000
    term_months: int = Field(default=12, ge=1, le=60)
    annual_rate: Decimal = Field(default=Decimal("0.24"), ge=0, le=Decimal("0.36"))


DEFAULT_REGIONS: tuple[Region, ...] = (
    Region(name="east", weight=0.35, ko_share=0.01),
    Region(name="south", weight=0.30, ko_share=0.01),
    Region(name="north", weight=0.20, ko_share=0.02),
    # Yanbian and the north-east are home to most of China's Korean-speaking borrowers.
    Region(name="northeast", weight=0.10, ko_share=0.35),
    # Xinjiang keeps local time two hours behind Beijing in daily life.
    Region(name="west", timezone="Asia/Urumqi", utc_offset_h=6, weight=0.05, ko_share=0.0),
)

DEFAULT_INCOME: tuple[IncomeBand, ...] = (
    IncomeBand(name="low", weight=0.45, ability_mean=-0.4),
    IncomeBand(name="mid", weight=0.40, ability_mean=0.3),
    IncomeBand(name="high", weight=0.15, ability_mean=0.9),
)


class Borrowers(_Section):
    """Who owes: observable features and the hidden traits behind them."""

    micro_merchant_share: Prob = 0.3
    consumer_loan: LoanSize = LoanSize()
    micro_merchant_loan: LoanSize = LoanSize(median_fen=3_000_000, sigma=0.7, min_fen=500_000, term_months=12)
    income_bands: tuple[IncomeBand, ...] = DEFAULT_INCOME
    regions: tuple[Region, ...] = DEFAULT_REGIONS
    #: Share of the starting book in each delinquency bucket.
    bucket_mix: dict[str, float] = Field(default_factory=lambda: _by_bucket(m1=0.55, m2=0.2, m3=0.12, m4=0.13))
    #: How strongly low ability/willingness sorts accounts into late buckets (0 = not at all).
    bucket_selection: float = Field(default=1.0, ge=0.0, le=5.0)
    ability_sd: float = Field(default=0.8, ge=0.0, le=3.0)
    #: Micro-merchants' ability sits this much (logit) off their income band's mean.
    micro_merchant_ability: float = 0.2
    willingness_mean: float = 0.3
    willingness_sd: float = Field(default=1.0, ge=0.0, le=3.0)
    #: Logits that `willingness_shift` = 1 adds to every borrower's willingness.
    willingness_shift_scale: float = Field(default=1.5, ge=0.0, le=5.0)
    #: Log-sd of each borrower's per-treatment sensitivity (a multiplier with mean 1).
    sensitivity_sd: float = Field(default=0.5, ge=0.0, le=2.0)
    #: Contactability level: Beta with this mean and concentration, times the hour profile.
    contact_level_mean: float = Field(default=0.6, gt=0.0, lt=1.0)
    contact_level_concentration: Positive = 6.0
    #: Hour-profile mix (names from contact.hour_profiles) by product.
    profile_mix: dict[str, dict[str, float]] = Field(default_factory=lambda: {
        "consumer": {"office": 0.6, "home": 0.3, "shop": 0.1},
        "micro_merchant": {"office": 0.1, "home": 0.2, "shop": 0.7},
    })
    wrong_number_share: Prob = 0.04
    disputer_share: Prob = 0.03
    hardship_share: Prob = 0.07
    paid_elsewhere_share: Prob = 0.01
    #: Logits of long-run ability a hardship case loses.
    hardship_ability_drop: float = Field(default=1.5, ge=0.0)
    #: Mean extra contact points (phones, emails) beyond the first.
    extra_contact_points_mean: float = Field(default=0.8, ge=0.0)
    ko_language: str = "ko-KR"
    main_language: str = "zh-CN"

    @field_validator("bucket_mix")
    @classmethod
    def _mix(cls, v: dict[str, float]) -> dict[str, float]:
        _check_buckets(v)
        if any(x < 0 for x in v.values()) or sum(v.values()) <= 0:
            raise ValueError("bucket shares must be non-negative with a positive sum")
        return v

    @field_validator("regions", "income_bands")
    @classmethod
    def _non_empty(cls, v: tuple[Any, ...]) -> tuple[Any, ...]:
        if not v:
            raise ValueError("needs at least one entry")
        names = [x.name for x in v]
        if len(set(names)) != len(names):
            raise ValueError(f"names must be unique, got {names}")
        return v


# --------------------------------------------------------------------------- dynamics


class Dynamics(_Section):
    """Delinquency dynamics and the ability-to-pay process (income shocks and recovery)."""

    #: Baseline logit of paying within 30 days with no treatment (self-cure); later is lower.
    bucket_logit: dict[str, float] = Field(default_factory=lambda: _by_bucket(m1=-0.6, m2=-1.6, m3=-2.3, m4=-3.2))
    ability_weight: float = 1.0
    willingness_weight: float = 0.8
    #: Days for half of an income shock to wear off (mean reversion of ability).
    recovery_half_life_days: Positive = 60.0
    ability_noise_per_day: float = Field(default=0.03, ge=0.0, le=1.0)
    #: Chance of an income shock per 30 days, and its size in logits of ability.
    shock_rate_per_month: Prob = 0.04
    micro_merchant_shock_factor: float = Field(default=1.5, ge=0.0)
    shock_size: float = Field(default=1.2, ge=0.0)
    #: Ability at which a borrower pays in full; below it, a proportional part (at least min_pay_share).
    full_pay_ability: float = Field(default=0.55, gt=0.0, le=1.0)
    min_pay_share: Prob = 0.3
    #: Logit of a current borrower paying an instalment on its due date.
    on_time_intercept: float = 1.8
    #: Share of the not-yet-due balance a cured borrower goes on to repay (for valuation).
    post_cure_value: Prob = 0.6
    #: Months ahead the hold value (NPL valuation) looks, and the discount per month.
    valuation_months: int = Field(default=12, ge=1, le=60)
    monthly_discount: float = Field(default=0.01, ge=0.0, lt=1.0)

    @field_validator("bucket_logit")
    @classmethod
    def _buckets(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_buckets(v)


# --------------------------------------------------------------------------- treatments


class _Treatment(_Section):
    """Fields every treatment has (legal and sale ignore `effect`: they follow their own recovery rules)."""

    cost_fen: Fen = 0
    #: Logit lift of the treatment on promise / payment propensity, before sensitivity and skill.
    effect: float = Field(default=0.0, ge=0.0, le=5.0)
    #: Lowest DPD at which the treatment is allowed.
    min_dpd: int = Field(default=1, ge=0)
    #: Chance of a complaint per attempt before fatigue.
    complaint_base: Prob = 0.0


class RobotCall(_Treatment):
    """Voice robot: cheap, capacity = robot_lines × calls per line per hour."""

    cost_fen: Fen = 30
    effect: float = Field(default=0.4, ge=0.0, le=5.0)
    calls_per_line_per_hour: int = Field(default=20, ge=1)
    complaint_base: Prob = 0.001


class Sms(_Treatment):
    """SMS reminder: no conversation, a nudge to those who read it."""

    cost_fen: Fen = 5
    effect: float = Field(default=0.25, ge=0.0, le=5.0)
    daily_limit: int = Field(default=1_000_000, ge=0)
    complaint_base: Prob = 0.0005


class AgentCall(_Treatment):
    """Human call; capacity is collector minutes."""

    cost_fen: Fen = 400
    effect: float = Field(default=1.0, ge=0.0, le=5.0)
    minutes_per_call: int = Field(default=6, ge=1, le=60)
    complaint_base: Prob = 0.002


class FieldVisit(_Treatment):
    """Home or shop visit by field staff of the borrower's region."""

    cost_fen: Fen = 6_000
    effect: float = Field(default=1.8, ge=0.0, le=5.0)
    min_dpd: int = Field(default=31, ge=0)
    visits_per_collector_per_day: int = Field(default=6, ge=0)
    #: Chance of finding the borrower in at a good hour (scaled by their hour profile).
    meet_base: Prob = 0.7
    complaint_base: Prob = 0.003


class Agency(_Treatment):
    """Placement with a collection agency for a while; it keeps a commission on what it collects."""

    effect: float = Field(default=0.9, ge=0.0, le=5.0)
    min_dpd: int = Field(default=61, ge=0)
    commission_share: Prob = 0.25
    placement_days: int = Field(default=30, ge=1)
    #: Agency slots as a share of the starting book (concurrent placements).
    slots_share: Prob = 0.1


class Legal(_Treatment):
    """Court action: fixed cost, recovery after a delay, works on those able to pay."""

    cost_fen: Fen = 60_000
    min_dpd: int = Field(default=91, ge=0)
    delay_days: int = Field(default=60, ge=0)
    intercept: float = -1.2
    ability_weight: float = 1.2
    recovery_share: Prob = 0.8
    per_day: int = Field(default=20, ge=0)


class Sale(_Treatment):
    """Debt sale: price as a share of the balance by bucket; the account leaves the book."""

    min_dpd: int = Field(default=61, ge=0)
    price_share: dict[str, float] = Field(default_factory=lambda: _by_bucket(m1=0.2, m2=0.12, m3=0.07, m4=0.035))
    per_day: int = Field(default=50, ge=0)

    @field_validator("price_share")
    @classmethod
    def _buckets(cls, v: dict[str, float]) -> dict[str, float]:
        _check_buckets(v)
        if any(not 0 <= x <= 1 for x in v.values()):
            raise ValueError("prices are shares of the balance, between 0 and 1")
        return v


class Treatments(_Section):
    """Cost, capacity and effect of each treatment."""

    robot_call: RobotCall = RobotCall()
    sms: Sms = Sms()
    agent_call: AgentCall = AgentCall()
    field_visit: FieldVisit = FieldVisit()
    agency: Agency = Agency()
    legal: Legal = Legal()
    sale: Sale = Sale()
    #: Effect multiplier by bucket: the same call moves a late account less.
    bucket_effect: dict[str, float] = Field(default_factory=lambda: _by_bucket(m1=1.0, m2=0.85, m3=0.7, m4=0.5))

    @field_validator("bucket_effect")
    @classmethod
    def _buckets(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_buckets(v)


# --------------------------------------------------------------------------- collectors, fatigue, promises, contact


class CollectorPool(_Section):
    """Collectors: field/agent split, languages, capacity, and how their hidden skill is built."""

    field_staff_share: Prob = 0.2
    minutes_per_day: int = Field(default=360, ge=0, le=720)
    ko_speaker_share: Prob = 0.15
    #: Log-sd of skill at skill_spread = 1; the knob scales it (0 = every collector alike).
    max_log_sd: float = Field(default=0.6, ge=0.0, le=3.0)
    #: Relative weight of the skill components: general, by bucket, by loan size, by language.
    general_weight: float = Field(default=1.0, ge=0.0)
    bucket_weight: float = Field(default=0.6, ge=0.0)
    size_weight: float = Field(default=0.5, ge=0.0)
    language_weight: float = Field(default=0.5, ge=0.0)
    #: Effect multiplier when a ko-KR borrower is called by a collector who does not speak Korean.
    language_mismatch_factor: float = Field(default=0.5, ge=0.0, le=1.0)
    #: Loan-size bands (fen) that segment skill: small < first ≤ medium < second ≤ large.
    size_bands_fen: tuple[int, int] = (500_000, 2_000_000)
    #: Correlation of observable tenure with hidden general skill.
    tenure_skill_corr: float = Field(default=0.4, ge=-1.0, le=1.0)


class Fatigue(_Section):
    """Over-contact: a decaying contact load lowers answering and response and raises complaints."""

    half_life_days: Positive = 5.0
    weights: dict[str, float] = Field(default_factory=lambda: {
        "robot_call": 0.5, "sms": 0.3, "agent_call": 1.0, "field_visit": 1.5, "agency": 0.0, "legal": 0.0,
        "sale": 0.0, "no_action": 0.0,
    })
    answer_drop: float = Field(default=0.12, ge=0.0)
    effect_drop: float = Field(default=0.25, ge=0.0)
    #: Load up to which contact is tolerated; beyond it complaints grow by complaint_slope per unit.
    free_load: float = Field(default=2.5, ge=0.0)
    complaint_slope: float = Field(default=0.01, ge=0.0)
    #: Expected cost of one complaint (regulator, reputation, handling).
    complaint_cost_fen: Fen = 20_000
    cease_base: Prob = 0.004
    cease_slope: float = Field(default=0.01, ge=0.0)

    @field_validator("weights")
    @classmethod
    def _known(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(TREATMENT_NAMES))
        if unknown:
            raise ValueError(f"unknown treatments {unknown}; known: {list(TREATMENT_NAMES)}")
        return v


class Promises(_Section):
    """Promises to pay: made in a conversation, kept or broken by the borrower's traits."""

    ptp_intercept: float = -0.8
    ptp_willingness: float = 0.8
    ptp_ability: float = 0.5
    ptp_bucket_logit: dict[str, float] = Field(default_factory=lambda: _by_bucket(m1=0.0, m2=-0.3, m3=-0.6, m4=-1.0))
    keep_intercept: float = 0.3
    keep_willingness: float = 1.0
    keep_ability: float = 1.0
    keep_bucket_logit: dict[str, float] = Field(default_factory=lambda: _by_bucket(m1=0.0, m2=-0.3, m3=-0.6, m4=-1.0))
    hardship_keep_drop: float = Field(default=1.0, ge=0.0)
    #: Promised date: 1..days_max days ahead.
    days_max: int = Field(default=7, ge=1, le=30)
    #: Effect multiplier while an earlier promise is still open (chasing a promise adds little).
    open_ptp_effect: Prob = 0.3

    @field_validator("ptp_bucket_logit", "keep_bucket_logit")
    @classmethod
    def _buckets(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_buckets(v)


def _profile(night: float, morning: float, midday: float, afternoon: float, evening: float) -> list[float]:
    """24 hourly answer multipliers from five day parts (0–7 & 22–23, 8–10, 11–13, 14–17, 18–21)."""
    parts = [(range(0, 8), night), (range(8, 11), morning), (range(11, 14), midday), (range(14, 18), afternoon),
             (range(18, 22), evening), (range(22, 24), night)]
    hours = [0.0] * 24
    for span, value in parts:
        for h in span:
            hours[h] = value
    return hours


class Contact(_Section):
    """Reaching people: hour profiles, third parties, SMS reading, allowed hours, conversation outcomes."""

    hour_profiles: dict[str, list[float]] = Field(default_factory=lambda: {
        "office": _profile(0.05, 0.35, 0.6, 0.3, 0.95),
        "home": _profile(0.05, 0.8, 0.7, 0.75, 0.65),
        "shop": _profile(0.05, 0.85, 0.4, 0.7, 0.5),
    })
    #: Share of answered calls to a right number picked up by someone else (family, colleague).
    third_party_share: Prob = 0.08
    sms_read: Prob = 0.6
    #: First and last local start hour (inclusive) for calls, visits and SMS.
    call_hours: tuple[Hour, Hour] = (8, 21)
    field_hours: tuple[Hour, Hour] = (9, 19)
    sms_hours: tuple[Hour, Hour] = (9, 20)
    callback_share: Prob = 0.05
    dispute_base: Prob = 0.01
    disputer_dispute: Prob = 0.6
    paid_elsewhere_dispute: Prob = 0.9
    #: How an unanswered call ends: no answer, busy, voicemail.
    unanswered_split: tuple[Prob, Prob, Prob] = (0.7, 0.2, 0.1)

    @field_validator("hour_profiles")
    @classmethod
    def _profiles(cls, v: dict[str, list[float]]) -> dict[str, list[float]]:
        for name, hours in v.items():
            if len(hours) != 24 or any(not 0.0 <= h <= 1.0 for h in hours):
                raise ValueError(f"profile {name!r} needs 24 hourly values between 0 and 1")
        if not v:
            raise ValueError("needs at least one profile")
        return v

    @field_validator("call_hours", "field_hours", "sms_hours")
    @classmethod
    def _window(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] > v[1]:
            raise ValueError(f"first hour {v[0]} is after last hour {v[1]}")
        return v

    @field_validator("unanswered_split")
    @classmethod
    def _split(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if sum(v) <= 0:
            raise ValueError("needs a positive sum")
        return v


TREATMENT_NAMES: tuple[str, ...] = (
    "robot_call", "sms", "agent_call", "field_visit", "agency", "legal", "sale", "no_action",
)


def treatment_config(treatments: Treatments, name: str) -> _Treatment | None:
    """The section of treatment `name` (cost_fen, effect, min_dpd, complaint_base …); None for no_action."""
    if name not in TREATMENT_NAMES:
        raise ValueError(f"unknown treatment {name!r}")
    config = getattr(treatments, name, None)
    return config if isinstance(config, _Treatment) else None


# --------------------------------------------------------------------------- the scenario


class Scenario(_Section):
    """One simulated portfolio: required knobs plus mechanism sections with defaults."""

    name: str = ""
    description: str = ""
    seed: int = Field(ge=0, description="root of every random stream")
    accounts: int = Field(ge=1, le=1_000_000, description="delinquent accounts at the start")
    collectors: int = Field(ge=0, le=10_000, description="head count, agents and field staff")
    days: int = Field(ge=1, le=3_650)
    history_days: int = Field(default=0, ge=0, le=3_650,
                              description="days played before the measured window by the exploration policy: the "
                                          "lender's past, identical for every compared policy, which models learn from")
    robot_lines: int = Field(ge=0, le=10_000)
    field_share: Prob = Field(description="share of accounts where a field visit is possible")
    willingness_shift: float = Field(ge=-1.0, le=1.0, description="moves every borrower's willingness")
    skill_spread: Prob = Field(description="0 = identical collectors, 1 = widest skill dispersion")
    start_date: date
    borrowers: Borrowers = Borrowers()
    dynamics: Dynamics = Dynamics()
    treatments: Treatments = Treatments()
    collector_pool: CollectorPool = CollectorPool()
    fatigue: Fatigue = Fatigue()
    promises: Promises = Promises()
    contact: Contact = Contact()

    @model_validator(mode="after")
    def _profiles_known(self) -> Scenario:
        known = set(self.contact.hour_profiles)
        for product, mix in self.borrowers.profile_mix.items():
            if product not in ("consumer", "micro_merchant"):
                raise ValueError(f"borrowers.profile_mix: unknown product {product!r}")
            unknown = sorted(set(mix) - known)
            if unknown or not mix or sum(mix.values()) <= 0 or any(x < 0 for x in mix.values()):
                raise ValueError(f"borrowers.profile_mix.{product}: needs non-negative weights over known "
                                 f"profiles {sorted(known)}; unknown {unknown}")
        return self


# --------------------------------------------------------------------------- loading


def _describe(exc: ValidationError) -> list[dict[str, str]]:
    return [{"field": ".".join(str(p) for p in err["loc"]) or "(scenario)", "message": err["msg"]}
            for err in exc.errors()]


def parse_scenario(data: Any, *, source: str = "scenario") -> Scenario:
    """Validate a mapping (already parsed YAML) into a Scenario, or raise ScenarioError naming the fields."""
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{source}: expected a mapping of knobs, got {type(data).__name__}",
                            details=[{"field": "(scenario)", "message": "not a mapping"}])
    try:
        return Scenario.model_validate(dict(data))
    except ValidationError as exc:
        problems = _describe(exc)
        lines = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise ScenarioError(f"{source}: {lines}", details=problems) from exc


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{file}: cannot read scenario ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{file}: not valid YAML ({exc})") from exc
    return parse_scenario(data, source=str(file))


def shipped_scenario(name: str) -> Scenario:
    """One of the scenarios shipped in the repo's `scenarios/` folder, by file stem."""
    return load_scenario(SCENARIO_DIR / f"{name}.yaml")
