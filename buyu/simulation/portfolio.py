"""The synthetic portfolio: borrowers with their loans and hidden traits, and the collectors.

Generation is a pure function of the scenario. Every attribute group draws from its own named
stream, so changing one mechanism's parameters (or the policy) leaves the others' draws alone.
Hidden traits live in `Latent` and are read only by the ground truth (`world.GroundTruth`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from buyu.ledger.schedule import Method, add_months, build_schedule
from buyu.money import RATE_SCALE
from buyu.simulation.rng import stream
from buyu.simulation.scenario import BUCKET_NAMES, LoanSize, Scenario
from buyu.simulation.views import TREATMENTS, BoolArray, BorrowerProfile, CollectorView, FloatArray, IntArray

#: DPD range (inclusive) a starting account of each bucket M1..M4+ is drawn from.
DPD_RANGES: tuple[tuple[int, int], ...] = ((1, 30), (31, 60), (61, 90), (91, 300))
PRODUCTS: tuple[str, ...] = ("consumer", "micro_merchant")


@dataclass(frozen=True, slots=True)
class Latent:
    """Hidden borrower traits (index = account position). Models never see these."""

    ability_mean: FloatArray  # long-run logit of ability to pay
    ability_start: FloatArray  # logit of ability on start_date (after any recent shock)
    willingness: FloatArray  # logit, includes willingness_shift
    sensitivity: FloatArray  # (accounts, treatments) multiplier of each treatment's effect, mean 1
    contact_level: FloatArray  # 0..1, scales the hour profile
    profile: IntArray  # index into the scenario's hour profiles
    shock_factor: FloatArray  # income-shock rate multiplier (micro-merchants are more volatile)
    wrong_number: BoolArray
    disputer: BoolArray
    hardship: BoolArray
    paid_elsewhere: BoolArray


@dataclass(frozen=True, slots=True)
class Portfolio:
    """Observable profiles plus the arrays the vectorised truth and the pure harness need."""

    profiles: tuple[BorrowerProfile, ...]
    region: IntArray
    korean: BoolArray
    size_band: IntArray
    micro_merchant: BoolArray
    field_possible: BoolArray
    instalment_fen: IntArray  # level payment of the equal-instalment schedule
    due_day: IntArray  # day of month instalments fall due
    remaining_fen: IntArray  # contractual amount (principal + interest) still to pay at start
    start_dpd: IntArray
    start_balance_fen: IntArray
    start_overdue_fen: IntArray
    latent: Latent

    @property
    def size(self) -> int:
        """Number of accounts."""
        return len(self.profiles)


@dataclass(frozen=True, slots=True)
class Staff:
    """Collectors as the product sees them, plus their hidden skill table."""

    collectors: tuple[CollectorView, ...]
    #: exp(log skill) by (collector, bucket M1..M4+, size band, language zh/ko); median 1.
    skill: FloatArray
    speaks_korean: BoolArray
    region: IntArray  # region index for field staff, −1 for agents
    field: BoolArray

    def index_of(self, collector_id: int) -> int:
        """Position of a collector id (ids are 1..n in order)."""
        return collector_id - 1


# --------------------------------------------------------------------------- borrowers


def _choice(rng: np.random.Generator, weights: list[float], n: int) -> IntArray:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int64)


def _apportion(total: int, weights: list[float]) -> list[int]:
    """Split `total` by weights with largest remainders, so counts sum exactly."""
    w = np.asarray(weights, dtype=np.float64)
    raw = total * w / w.sum()
    counts = np.floor(raw).astype(np.int64)
    for i in np.argsort(-(raw - counts), kind="stable")[: total - int(counts.sum())]:
        counts[i] += 1
    return [int(c) for c in counts]


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _latent(scenario: Scenario, *, micro: BoolArray, income: IntArray) -> Latent:
    """Hidden traits: ability, willingness, sensitivities, contactability and special cases."""
    b, n, seed = scenario.borrowers, len(micro), scenario.seed
    flags = stream(seed, "borrowers", "flags").random((n, 4))
    hardship = flags[:, 2] < b.hardship_share
    means = np.array([band.ability_mean for band in b.income_bands])[income]
    ability_rng = stream(seed, "borrowers", "ability")
    mu = (means + np.where(micro, b.micro_merchant_ability, 0.0) + ability_rng.normal(0.0, b.ability_sd, n)
          - np.where(hardship, b.hardship_ability_drop, 0.0))
    # Many accounts went delinquent after an income shock that has not yet worn off.
    shocked = ability_rng.random(n) < 0.3
    will = stream(seed, "borrowers", "willingness").normal(b.willingness_mean, b.willingness_sd, n)
    sd = b.sensitivity_sd
    sens = np.exp(stream(seed, "borrowers", "sensitivity").normal(-sd * sd / 2, sd, (n, len(TREATMENTS))))
    conc = b.contact_level_concentration
    level = stream(seed, "borrowers", "contact").beta(b.contact_level_mean * conc, (1 - b.contact_level_mean) * conc, n)
    return Latent(
        ability_mean=mu,
        ability_start=mu - np.where(shocked, scenario.dynamics.shock_size, 0.0),
        willingness=will + scenario.willingness_shift * b.willingness_shift_scale,
        sensitivity=sens,
        contact_level=level,
        profile=_profiles(scenario, micro=micro),
        shock_factor=np.where(micro, scenario.dynamics.micro_merchant_shock_factor, 1.0),
        wrong_number=flags[:, 0] < b.wrong_number_share,
        disputer=flags[:, 1] < b.disputer_share,
        hardship=hardship,
        paid_elsewhere=flags[:, 3] < b.paid_elsewhere_share,
    )


def _profiles(scenario: Scenario, *, micro: BoolArray) -> IntArray:
    names = list(scenario.contact.hour_profiles)
    rng = stream(scenario.seed, "borrowers", "hour_profile")
    out = np.zeros(len(micro), dtype=np.int64)
    for product, mask in (("consumer", ~micro), ("micro_merchant", micro)):
        mix = scenario.borrowers.profile_mix.get(product, {names[0]: 1.0})
        picks = _choice(rng, list(mix.values()), len(micro))
        lookup = np.array([names.index(name) for name in mix])
        out = np.where(mask, lookup[picks], out)
    return out


def _start_buckets(scenario: Scenario, latent: Latent) -> IntArray:
    """Bucket M1..M4+ (0..3) per account: the book's mix, with weaker borrowers sorted later."""
    n = len(latent.willingness)
    noise = stream(scenario.seed, "borrowers", "bucket").normal(0.0, 1.0, n)
    score = scenario.borrowers.bucket_selection * (latent.ability_mean + latent.willingness) + noise
    counts = _apportion(n, [scenario.borrowers.bucket_mix[name] for name in BUCKET_NAMES])
    order = np.argsort(-score, kind="stable")  # strongest first → earliest bucket
    buckets = np.empty(n, dtype=np.int64)
    buckets[order] = np.repeat(np.arange(len(BUCKET_NAMES)), counts)
    return buckets


def _dpd_on_day28(start: date, dpd: int, low: int, high: int) -> int:
    """The DPD nearest `dpd` inside [low, high] whose first missed due date falls on day ≤ 28.

    Day ≤ 28 keeps the schedule's anchor day exact in every month, so the ledger ages the loan to
    exactly this DPD on start_date.
    """
    for step in (0, 1, -1, 2, -2, 3, -3, 4, -4):
        candidate = dpd + step
        if low <= candidate <= high and (start - timedelta(days=candidate)).day <= 28:
            return candidate
    return dpd


@dataclass(frozen=True, slots=True)
class _Loan:
    principal: int
    term: int
    rate_micro: int
    disbursed_on: date
    paid: int
    dpd: int
    instalment: int
    remaining: int
    balance: int
    overdue: int


def _loan(*, start: date, dpd: int, principal: int, size: LoanSize, paid_draw: float) -> _Loan:
    """Terms and starting state of one loan: paid `paid` instalments, first missed one `dpd` days ago."""
    first_missed = start - timedelta(days=dpd)
    missed = 1
    while add_months(first_missed, missed) <= start:
        missed += 1
    term = max(size.term_months, missed)
    paid = int(paid_draw * (term - missed + 1))
    disbursed = add_months(first_missed, -(paid + 1))
    rate = int(size.annual_rate * RATE_SCALE)
    rows = build_schedule(principal=principal, annual_rate_micro=rate, term_months=term,
                          method=Method.EQUAL_INSTALMENT, start_date=disbursed)
    unpaid = rows[paid:]
    due = [r for r in unpaid if r.due_date <= start]
    overdue = sum(r.payment for r in due)
    principal_left = rows[paid - 1].balance_after if paid else principal
    return _Loan(principal=principal, term=term, rate_micro=rate, disbursed_on=disbursed, paid=paid, dpd=dpd,
                 instalment=rows[0].payment, remaining=sum(r.payment for r in unpaid),
                 balance=principal_left + sum(r.interest for r in due), overdue=overdue)


def _principals(scenario: Scenario, *, micro: BoolArray) -> IntArray:
    rng = stream(scenario.seed, "borrowers", "loan_size")
    z = rng.normal(0.0, 1.0, len(micro))
    out = np.zeros(len(micro), dtype=np.int64)
    for size, mask in ((scenario.borrowers.consumer_loan, ~micro), (scenario.borrowers.micro_merchant_loan, micro)):
        raw = np.clip(size.median_fen * np.exp(size.sigma * z), size.min_fen, size.max_fen)
        out = np.where(mask, (np.round(raw / 100) * 100).astype(np.int64), out)  # whole yuan
    return out


def generate_portfolio(scenario: Scenario) -> Portfolio:
    """Borrowers, loans and hidden traits for `scenario.accounts` delinquent accounts."""
    b, n, seed = scenario.borrowers, scenario.accounts, scenario.seed
    micro = stream(seed, "borrowers", "product").random(n) < b.micro_merchant_share
    income = _choice(stream(seed, "borrowers", "income"), [x.weight for x in b.income_bands], n)
    region = _choice(stream(seed, "borrowers", "region"), [r.weight for r in b.regions], n)
    ko_share = np.array([r.ko_share for r in b.regions])[region]
    korean = stream(seed, "borrowers", "language").random(n) < ko_share
    latent = _latent(scenario, micro=micro, income=income)
    buckets = _start_buckets(scenario, latent)
    principal = _principals(scenario, micro=micro)
    obs = stream(seed, "borrowers", "observables")
    dpd_draw, paid_draw, field_draw = obs.random(n), obs.random(n), obs.random(n)
    loans = []
    for i in range(n):
        low, high = DPD_RANGES[int(buckets[i])]
        dpd = _dpd_on_day28(scenario.start_date, low + int(dpd_draw[i] * (high - low + 1)), low, high)
        size = b.micro_merchant_loan if micro[i] else b.consumer_loan
        loans.append(_loan(start=scenario.start_date, dpd=dpd, principal=int(principal[i]), size=size,
                           paid_draw=float(paid_draw[i])))
    field_possible = field_draw < scenario.field_share
    profiles = _borrower_profiles(scenario, loans=loans, micro=micro, income=income, region=region, korean=korean,
                                  latent=latent, field_possible=field_possible)
    bands = np.asarray(scenario.collector_pool.size_bands_fen)
    return Portfolio(
        profiles=profiles, region=region, korean=korean,
        size_band=np.searchsorted(bands, principal, side="right").astype(np.int64),
        micro_merchant=micro, field_possible=field_possible,
        instalment_fen=np.array([x.instalment for x in loans], dtype=np.int64),
        due_day=np.array([x.disbursed_on.day for x in loans], dtype=np.int64),
        remaining_fen=np.array([x.remaining for x in loans], dtype=np.int64),
        start_dpd=np.array([x.dpd for x in loans], dtype=np.int64),
        start_balance_fen=np.array([x.balance for x in loans], dtype=np.int64),
        start_overdue_fen=np.array([x.overdue for x in loans], dtype=np.int64),
        latent=latent,
    )


def _borrower_profiles(scenario: Scenario, *, loans: list[_Loan], micro: BoolArray, income: IntArray,
                       region: IntArray, korean: BoolArray, latent: Latent,
                       field_possible: BoolArray) -> tuple[BorrowerProfile, ...]:
    """Observable features; the noisy ones carry a little signal about hidden traits, as real data does."""
    b, n = scenario.borrowers, len(loans)
    rng = stream(scenario.seed, "borrowers", "history")
    paid = np.array([x.paid for x in loans])
    p_late = _sigmoid(-2.0 - 0.8 * latent.willingness - 0.5 * latent.ability_mean)
    prior_late = rng.binomial(paid, p_late)
    points = 1 + rng.poisson(b.extra_contact_points_mean, n)
    hours = np.asarray(list(scenario.contact.hour_profiles.values()))
    typical = latent.contact_level * hours[latent.profile].max(axis=1)
    answer = np.clip(typical + rng.normal(0.0, 0.1, n), 0.0, 1.0)
    sms_leaning = latent.sensitivity[:, 1] * np.exp(rng.normal(0.0, 0.3, n)) > latent.sensitivity[:, 0]
    channel = np.where(rng.random(n) < 0.15, "app", np.where(sms_leaning, "sms", "call"))
    start = scenario.start_date
    out = []
    for i, loan in enumerate(loans):
        reg = b.regions[int(region[i])]
        age = (start.year - loan.disbursed_on.year) * 12 + start.month - loan.disbursed_on.month
        out.append(BorrowerProfile(
            account_id=i + 1, external_ref=f"SIM{scenario.seed}-{i + 1:07d}", product=PRODUCTS[int(micro[i])],
            principal_fen=loan.principal, term_months=loan.term, annual_rate_micro=loan.rate_micro,
            disbursed_on=loan.disbursed_on, paid_instalments=loan.paid, start_dpd=loan.dpd,
            income_band=b.income_bands[int(income[i])].name, region=reg.name, timezone=reg.timezone,
            utc_offset_h=reg.utc_offset_h, language=b.ko_language if korean[i] else b.main_language,
            account_age_months=age, prior_late_instalments=int(prior_late[i]), contact_points=int(points[i]),
            past_answer_rate=round(float(answer[i]), 2), past_channel=str(channel[i]),
            field_possible=bool(field_possible[i]),
        ))
    return tuple(out)


# --------------------------------------------------------------------------- collectors


def generate_staff(scenario: Scenario) -> Staff:
    """Agents and field staff with languages, capacity, tenure and a hidden skill by segment."""
    pool, n, seed = scenario.collector_pool, scenario.collectors, scenario.seed
    regions = scenario.borrowers.regions
    n_field = round(pool.field_staff_share * n) if scenario.field_share > 0 else 0
    field_counts = _apportion(n_field, [r.weight for r in regions])
    region = np.array([-1] * (n - n_field) + [j for j, c in enumerate(field_counts) for _ in range(c)], dtype=np.int64)
    field = region >= 0
    rng = stream(seed, "collectors", "observables")
    ko_prob = np.where(field, np.clip(pool.ko_speaker_share + np.array([r.ko_share for r in regions])[region], 0, 1),
                       pool.ko_speaker_share)
    korean = rng.random(n) < ko_prob
    skill, general = _skill_table(scenario, n=n)
    rho = pool.tenure_skill_corr
    tenure = np.exp(2.5 + 0.8 * (rho * general + np.sqrt(1 - rho * rho) * rng.normal(0.0, 1.0, n)))
    visits = scenario.treatments.field_visit.visits_per_collector_per_day
    collectors = tuple(
        CollectorView(
            collector_id=c + 1, kind="field" if field[c] else "agent",
            languages=(scenario.borrowers.main_language, scenario.borrowers.ko_language) if korean[c]
            else (scenario.borrowers.main_language,),
            region=regions[int(region[c])].name if field[c] else "",
            minutes_per_day=0 if field[c] else pool.minutes_per_day,
            visits_per_day=visits if field[c] else 0,
            tenure_months=max(1, round(float(tenure[c]))),
        )
        for c in range(n)
    )
    return Staff(collectors=collectors, skill=skill, speaks_korean=korean, region=region, field=field)


def _skill_table(scenario: Scenario, *, n: int) -> tuple[FloatArray, FloatArray]:
    """Skill multipliers (n, 4 buckets, 3 sizes, 2 languages) and the general component.

    log skill = skill_spread × max_log_sd × (weighted sum of standard normals) / norm, so its
    standard deviation across collectors is exactly skill_spread × max_log_sd in every segment:
    the components are drawn once per seed and only scaled by the knob.
    """
    pool = scenario.collector_pool
    rng = stream(scenario.seed, "collectors", "skill")
    general, by_bucket = rng.normal(0.0, 1.0, n), rng.normal(0.0, 1.0, (n, 4))
    by_size, by_lang = rng.normal(0.0, 1.0, (n, 3)), rng.normal(0.0, 1.0, (n, 2))
    weights = np.array([pool.general_weight, pool.bucket_weight, pool.size_weight, pool.language_weight])
    norm = float(np.sqrt((weights**2).sum())) or 1.0
    z = (weights[0] * general[:, None, None, None] + weights[1] * by_bucket[:, :, None, None]
         + weights[2] * by_size[:, None, :, None] + weights[3] * by_lang[:, None, None, :]) / norm
    return np.exp(scenario.skill_spread * pool.max_log_sd * z), general
