"""The hidden ground truth: how simulated borrowers respond, as true probabilities and as draws.

Policies and models never read this module, except the oracle (a yardstick) and evaluation.

The response model (σ = logistic, b = bucket, z = ability logit, w = willingness logit, F = contact load):

* Self-cure. With no treatment the borrower pays within 30 days with q = σ(L0),
  L0 = dynamics.bucket_logit[b] + ability_weight·z + willingness_weight·w (0 if they already paid
  elsewhere); spontaneous payments arrive with the matching daily hazard 1 − (1 − q)^(1/30).
* Reach. Calls are answered with contact_level × hour_profile[hour] × e^(−answer_drop·F); a wrong
  number is answered by a stranger and a right number sometimes by a third party (no RPC either
  way). SMS is read with sms_read × e^(−answer_drop·F); visits meet with meet_base × (0.4 + 0.6 ×
  hour_profile) × e^(−answer_drop·F).
* Lift. Δ = effect[t] × bucket_effect[b] × sensitivity[i, t] × collector skill[c, segment] ×
  e^(−effect_drop·F) (× open_ptp_effect while a promise is open; × language_mismatch_factor when a
  ko-KR borrower gets a collector without Korean).
* Conversation (after an RPC, calls and visits): dispute, cease, callback, then a promise with
  π = σ(ptp_intercept + ptp_willingness·w + ptp_ability·z + ptp_bucket_logit[b] + Δ), else refusal
  or plain contact. A promise is kept with κ = σ(keep_intercept + keep_willingness·w +
  keep_ability·z + keep_bucket_logit[b] − hardship_keep_drop·hardship) (never if paid elsewhere).
* Induced payment u (an independent route on top of self-cure, so uplift = what the treatment
  adds): calls/visits u = P(PTP)·κ; SMS u = P(read)·c(Δ); agency u = c(Δ) with
  c(Δ) = (σ(L0 + Δ) − σ(L0)) / (1 − σ(L0)); legal pays recovery_share × balance after delay_days
  with σ(intercept + ability_weight·z + log sensitivity); sale pays price_share[b] × balance today.
  Payments land 1..days_max days out (promises), 1..30 (nudges), 1..placement_days (agency), after
  delay_days (legal); P(pay within 30 days) = 1 − (1 − q)(1 − u30), u30 = the part of u within 30 days.
* Amounts. A payment is share × overdue, share = clip(ability / full_pay_ability, min_pay_share, 1).
* Value. payoff = share × (overdue + post_cure_value × (balance − overdue)); R = discounted chance
  of paying in later months if not this month (bucket rolling forward); a payment brought into this
  month is worth payoff × (1 − R). Uplift: contact/agency (P − q)·payoff·(1 − R) with
  P = 1 − (1 − q)(1 − u) over the treatment's horizon; legal
  (1 − q)·u·(discount·recovery − payoff·R); sale price − payoff·(q + (1 − q)R). Expected cost:
  treatment cost + agency commission + P(complaint) × complaint_cost. Net = uplift − cost.
* Fatigue. F decays with half_life_days and grows by fatigue.weights[t] per attempt; complaints
  1 − exp(−(complaint_base[t] + complaint_slope·max(0, F + weight − free_load))); cease requests
  grow with F.
* Ability drifts daily: mean reversion to the borrower's long-run level (recovery), small noise and
  income shocks at shock_rate_per_month (more often for micro-merchants).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from typing import Any

import numpy as np

from buyu.simulation.portfolio import Portfolio, Staff, generate_portfolio, generate_staff
from buyu.simulation.rng import stream
from buyu.simulation.scenario import BUCKET_NAMES, Scenario, treatment_config
from buyu.simulation.views import (
    ALL_CODES,
    CODE_INDEX,
    T_INDEX,
    TREATMENTS,
    AccountArrays,
    AccountView,
    BoolArray,
    Capacity,
    CollectorView,
    FloatArray,
    IntArray,
    Treatment,
    bucket_index,
)

ROBOT, SMS, AGENT, FIELD = (T_INDEX[t] for t in (Treatment.ROBOT_CALL, Treatment.SMS, Treatment.AGENT_CALL,
                                                  Treatment.FIELD_VISIT))
AGENCY, LEGAL, SALE, NONE = (T_INDEX[t] for t in (Treatment.AGENCY, Treatment.LEGAL, Treatment.SALE,
                                                   Treatment.NO_ACTION))
PAY_SOURCES: tuple[str, ...] = ("", "promise", "nudge", "agency", "legal", "sale")
_SRC = {name: i for i, name in enumerate(PAY_SOURCES)}


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0))), dtype=np.float64)


def _fen(x: FloatArray) -> IntArray:
    """Expected amounts are statistics; round them to whole fen at the edge."""
    return np.rint(x).astype(np.int64)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class TrueResponse:
    """True probabilities and expected money of one treatment of one account (oracle/evaluation only).

    p_reach: answered / read / met; p_rpc: right-party conversation; p_ptp: promise made; p_keep:
    promise kept given made; p_induced: a payment caused by the treatment (p_induced_30d: and made
    within 30 days); p_pay_*: any payment, self-cure included. Amounts are fen: expected_amount_fen
    is cash expected over the treatment's horizon (30 days; agency: its placement; legal: 30-day
    self-cure plus the discounted court recovery; sale: the price); uplift_fen is the value added
    over no_action; expected_cost_fen includes commission and expected complaint cost;
    expected_net_fen = uplift − expected cost.
    """

    p_reach: float
    p_rpc: float
    p_ptp: float
    p_keep: float
    p_induced: float
    p_induced_30d: float
    p_pay_7d: float
    p_pay_30d: float
    p_complaint: float
    p_dispute: float
    p_cease: float
    expected_amount_fen: int
    expected_cost_fen: int
    uplift_fen: int
    expected_net_fen: int


@dataclass(frozen=True, slots=True)
class Responses:
    """TrueResponse fields as arrays, one element per (account, treatment, collector, hour) asked."""

    p_reach: FloatArray
    p_rpc: FloatArray
    p_ptp: FloatArray
    p_keep: FloatArray
    p_induced: FloatArray
    p_induced_30d: FloatArray
    p_pay_7d: FloatArray
    p_pay_30d: FloatArray
    p_complaint: FloatArray
    p_dispute: FloatArray
    p_cease: FloatArray
    expected_amount_fen: IntArray
    expected_cost_fen: IntArray
    uplift_fen: IntArray
    expected_net_fen: IntArray

    def at(self, i: int) -> TrueResponse:
        """Element `i` as a TrueResponse."""
        values: list[Any] = [getattr(self, f.name)[i] for f in fields(self)]
        values = [int(v) if f.name.endswith("_fen") else float(v) for f, v in zip(fields(self), values, strict=True)]
        return TrueResponse(*values)


@dataclass(frozen=True, slots=True)
class Promise:
    """A promise to pay `amount_fen` by `due`."""

    amount_fen: int
    due: date


@dataclass(frozen=True, slots=True)
class PlannedPayment:
    """A payment the borrower will make on `on` (the loop posts it if the account still owes).

    source: promise (a kept PTP), nudge (after an SMS), agency, legal, sale (the buyer's price).
    """

    amount_fen: int
    on: date
    source: str


@dataclass(frozen=True, slots=True)
class ContactOutcome:
    """What happened when a treatment was carried out (result_code from views.ALL_CODES)."""

    rpc: bool
    result_code: str
    ptp: Promise | None
    payment: PlannedPayment | None
    complaint: bool
    dispute: bool
    cease: bool
    wrong_number: bool
    duration_s: int


@dataclass(frozen=True, slots=True)
class Outcomes:
    """A batch of drawn outcomes as arrays (0 amounts mean none); `outcome(i)` gives one as objects."""

    day: date
    account_id: IntArray
    treatment: IntArray
    rpc: BoolArray
    code: IntArray  # index into views.ALL_CODES
    ptp_fen: IntArray
    ptp_offset: IntArray  # days after `day` the promise falls due
    pay_fen: IntArray
    pay_offset: IntArray  # days after `day` the payment arrives
    pay_source: IntArray  # index into PAY_SOURCES
    complaint: BoolArray
    dispute: BoolArray
    cease: BoolArray
    wrong_number: BoolArray
    duration_s: IntArray

    def outcome(self, i: int) -> ContactOutcome:
        """Element `i` as a ContactOutcome."""
        ptp = (Promise(int(self.ptp_fen[i]), self.day + timedelta(days=int(self.ptp_offset[i])))
               if self.ptp_fen[i] > 0 else None)
        pay = (PlannedPayment(int(self.pay_fen[i]), self.day + timedelta(days=int(self.pay_offset[i])),
                              PAY_SOURCES[int(self.pay_source[i])]) if self.pay_fen[i] > 0 else None)
        return ContactOutcome(rpc=bool(self.rpc[i]), result_code=ALL_CODES[int(self.code[i])], ptp=ptp, payment=pay,
                              complaint=bool(self.complaint[i]), dispute=bool(self.dispute[i]),
                              cease=bool(self.cease[i]), wrong_number=bool(self.wrong_number[i]),
                              duration_s=int(self.duration_s[i]))


@dataclass(slots=True)
class _State:
    """What changes day by day in the hidden world."""

    day: date
    ability: FloatArray  # logit z per account
    load: FloatArray  # fatigue contact load per account


@dataclass(frozen=True, slots=True)
class _Params:
    """Scenario numbers as arrays indexed by treatment / bucket, computed once."""

    effect: FloatArray
    cost: FloatArray
    complaint_base: FloatArray
    fatigue_weight: FloatArray
    bucket_logit: FloatArray
    bucket_effect: FloatArray
    ptp_bucket: FloatArray
    keep_bucket: FloatArray
    price: FloatArray
    hours: FloatArray  # (profiles, 24)


def _params(s: Scenario) -> _Params:
    t = s.treatments
    configs = {x: treatment_config(t, x.value) for x in TREATMENTS}

    def per_t(get: str) -> FloatArray:
        return np.array([float(getattr(configs[x], get)) if configs[x] is not None else 0.0 for x in TREATMENTS])

    def per_b(values: dict[str, float]) -> FloatArray:
        return np.array([values[b] for b in BUCKET_NAMES])

    return _Params(
        effect=per_t("effect"), cost=per_t("cost_fen"), complaint_base=per_t("complaint_base"),
        fatigue_weight=np.array([s.fatigue.weights.get(x.value, 0.0) for x in TREATMENTS]),
        bucket_logit=per_b(s.dynamics.bucket_logit), bucket_effect=per_b(t.bucket_effect),
        ptp_bucket=per_b(s.promises.ptp_bucket_logit), keep_bucket=per_b(s.promises.keep_bucket_logit),
        price=per_b(t.sale.price_share), hours=np.asarray(list(s.contact.hour_profiles.values()), dtype=np.float64),
    )


@dataclass(frozen=True, slots=True)
class _Ask:
    """A vectorised question: per element an account position, treatment, collector position, hour."""

    idx: IntArray
    t: IntArray
    coll: IntArray  # −1 = no collector
    hour: IntArray
    bucket: IntArray  # 0..3 = M1..M4+
    overdue: FloatArray
    balance: FloatArray
    open_ptp: BoolArray


@dataclass(frozen=True, slots=True)
class _Core:
    """Intermediate truth shared by expectations and draws, so both follow one model."""

    q30: FloatArray
    share: FloatArray
    p_answer: FloatArray
    p_reach: FloatArray
    p_rpc: FloatArray
    p_dispute: FloatArray
    p_cease: FloatArray
    p_callback: FloatArray
    p_ptp_conv: FloatArray  # promise given conversation
    p_refuse_conv: FloatArray
    p_keep: FloatArray
    p_convert: FloatArray  # nudge/agency/legal conversion given reach
    p_induced: FloatArray  # eventual
    p_induced_7d: FloatArray
    p_induced_30d: FloatArray
    p_complaint: FloatArray


# --------------------------------------------------------------------------- the world


@dataclass
class GroundTruth:
    """The hidden world of one scenario: borrowers' traits, collectors' skill and today's state.

    Build with `GroundTruth.from_scenario(scenario)`. Truth questions (`responses`, `true_response`)
    and draws refer to the world's current day; `advance_day()` moves it on.

    Loop contract, per day: plan → `draw_contacts` for the carried-out actions (rng
    `stream(seed, "contacts", day)`) → `record_contacts` for the same actions (fatigue) → book outcomes
    and planned payments → `draw_self_payments` for delinquent accounts and `draw_due_payments` for
    current ones with an instalment due → `advance_day()`. Only `draw_*`/`record_contacts`/
    `advance_day` touch state or randomness; everything else is a pure question.
    """

    scenario: Scenario
    portfolio: Portfolio
    staff: Staff
    _p: _Params = field(repr=False)
    _state: _State = field(repr=False)

    @staticmethod
    def from_scenario(scenario: Scenario) -> GroundTruth:
        """Generate borrowers and collectors and start the clock at `start_date`."""
        portfolio = generate_portfolio(scenario)
        return GroundTruth(
            scenario=scenario, portfolio=portfolio, staff=generate_staff(scenario), _p=_params(scenario),
            _state=_State(day=scenario.start_date, ability=portfolio.latent.ability_start.copy(),
                          load=np.zeros(portfolio.size)),
        )

    # ------------------------------------------------------------------ what the product may see

    @property
    def day(self) -> date:
        """The world's current day."""
        return self._state.day

    @property
    def collectors(self) -> tuple[CollectorView, ...]:
        """Collectors as the product sees them."""
        return self.staff.collectors

    def capacity(self, *, agency_in_use: int = 0) -> Capacity:
        """The day's capacity from the scenario, given how many agency slots are occupied."""
        s, t = self.scenario, self.scenario.treatments
        by_region: dict[str, int] = {}
        for col in self.staff.collectors:
            if col.kind == "field":
                by_region[col.region] = by_region.get(col.region, 0) + col.visits_per_day
        return Capacity(
            robot_calls_per_hour=s.robot_lines * t.robot_call.calls_per_line_per_hour,
            sms_per_day=t.sms.daily_limit, agent_minutes_per_call=t.agent_call.minutes_per_call,
            field_visits_by_region=by_region,
            agency_slots=max(0, round(t.agency.slots_share * s.accounts) - agency_in_use),
            legal_per_day=t.legal.per_day, sale_per_day=t.sale.per_day,
            call_hours=s.contact.call_hours, field_hours=s.contact.field_hours, sms_hours=s.contact.sms_hours,
            min_dpd={x: c.min_dpd for x in TREATMENTS if (c := treatment_config(t, x.value)) is not None},
        )

    def index(self, account_ids: IntArray) -> IntArray:
        """Positions of account ids (ids are 1..n in generation order)."""
        idx = np.asarray(account_ids, dtype=np.int64) - 1
        if idx.size and (idx.min() < 0 or idx.max() >= self.portfolio.size):
            raise ValueError("unknown account id")
        return idx

    # ------------------------------------------------------------------ true probabilities

    def responses(self, *, accounts: AccountArrays, treatment: IntArray | Treatment,
                  collector_ids: IntArray | int | None = None, hour: IntArray | int = 10,
                  day: date | None = None) -> Responses:
        """True responses, element-wise: accounts[i] treated with treatment[i] by collector_ids[i] at hour[i].

        `treatment` and `hour` may be scalars; collector_ids uses 0 (or None) for "no collector"
        (a median agent is assumed for an agent call without one).
        """
        ask = self._ask(accounts=accounts, treatment=treatment, collector_ids=collector_ids, hour=hour, day=day)
        core = self._core(ask)
        return self._expect(ask, core)

    def true_response(self, account: AccountView, treatment: Treatment, collector: CollectorView | None,
                      day: date, hour: int) -> TrueResponse:
        """True response of one account to one treatment (oracle and evaluation only)."""
        ids = None if collector is None else np.array([collector.collector_id])
        return self.responses(accounts=AccountArrays.from_views([account]), treatment=treatment,
                              collector_ids=ids, hour=hour, day=day).at(0)

    def self_cure_30d(self, *, accounts: AccountArrays) -> FloatArray:
        """True chance of paying within 30 days with no treatment at all."""
        return self.responses(accounts=accounts, treatment=Treatment.NO_ACTION).p_pay_30d

    def collector_ranking(self, *, accounts: AccountArrays, collector_ids: IntArray) -> tuple[IntArray, IntArray]:
        """Collectors ranked by true skill for each account's segment (oracle only).

        Returns (segment per account, ranking) where ranking[segment] lists positions into
        `collector_ids`, most skilled first (language mismatch included). Lift grows with skill and
        nothing else about a collector matters to the truth, so this is also the order of true response.
        Segments (bucket × loan size × language) keep it cheap for a large book.
        """
        ids = np.asarray(collector_ids, dtype=np.int64)
        idx = self.index(accounts.account_id)
        bucket = np.clip(bucket_index(accounts.dpd) - 1, 0, 3)
        segment = (bucket * 3 + self.portfolio.size_band[idx]) * 2 + self.portfolio.korean[idx].astype(np.int64)
        if ids.size == 0:
            return segment, np.zeros((24, 0), dtype=np.int64)
        c = ids - 1
        mismatch = np.where(self.staff.speaks_korean[c], 1.0, self.scenario.collector_pool.language_mismatch_factor)
        table = self.staff.skill[c] * np.stack([np.ones(c.size), mismatch], axis=1)[:, None, None, :]
        ranking = np.argsort(-table.reshape(c.size, 24), axis=0, kind="stable").T  # (24 segments, collectors)
        return segment, np.asarray(ranking, dtype=np.int64)

    # ------------------------------------------------------------------ draws

    def draw_contacts(self, *, accounts: AccountArrays, treatment: IntArray | Treatment,
                      collector_ids: IntArray | int | None = None, hour: IntArray | int = 10,
                      rng: np.random.Generator, day: date | None = None) -> Outcomes:
        """Draw outcomes of a batch of treatments (the same model as `responses`); does not record fatigue."""
        ask = self._ask(accounts=accounts, treatment=treatment, collector_ids=collector_ids, hour=hour, day=day)
        return self._draw(ask, self._core(ask), accounts.account_id, rng)

    def draw_contact(self, account: AccountView, treatment: Treatment, collector: CollectorView | None,
                     day: date, hour: int, rng: np.random.Generator) -> ContactOutcome:
        """Draw one outcome."""
        ids = None if collector is None else np.array([collector.collector_id])
        return self.draw_contacts(accounts=AccountArrays.from_views([account]), treatment=treatment,
                                  collector_ids=ids, hour=hour, rng=rng, day=day).outcome(0)

    def draw_self_payments(self, *, accounts: AccountArrays, rng: np.random.Generator) -> IntArray:
        """Spontaneous payments today with no treatment (self-cure), fen per account (0 = none)."""
        ask = self._ask(accounts=accounts, treatment=Treatment.NO_ACTION, collector_ids=None, hour=0, day=None)
        hazard = 1.0 - np.power(1.0 - self._q30(ask), 1.0 / 30.0)
        pays = (rng.random(ask.idx.size) < hazard) & (accounts.overdue_fen > 0)
        return np.where(pays, self._pay_amount(ask, accounts.overdue_fen), 0)

    def draw_due_payments(self, *, account_ids: IntArray, due_fen: IntArray, rng: np.random.Generator) -> IntArray:
        """Whether current borrowers pay an instalment due today: the amount paid (fen) or 0 (a roll to M1)."""
        idx = self.index(account_ids)
        d, lat = self.scenario.dynamics, self.portfolio.latent
        p = _sigmoid(d.on_time_intercept + d.ability_weight * self._state.ability[idx]
                     + d.willingness_weight * lat.willingness[idx]) * ~lat.paid_elsewhere[idx]
        return np.where(rng.random(idx.size) < p, np.asarray(due_fen, dtype=np.int64), 0)

    # ------------------------------------------------------------------ state

    def record_contacts(self, *, account_ids: IntArray, treatment: IntArray | Treatment) -> None:
        """Add today's attempts to each borrower's contact load (fatigue); call once per carried-out action."""
        idx = self.index(account_ids)
        t = np.broadcast_to(self._t_codes(treatment), idx.shape)
        np.add.at(self._state.load, idx, self._p.fatigue_weight[t])

    def advance_day(self) -> None:
        """Move to the next day: ability drifts (recovery, noise, income shocks), fatigue decays."""
        d, lat, st = self.scenario.dynamics, self.portfolio.latent, self._state
        rng = stream(self.scenario.seed, "ability", st.day)
        n = st.ability.size
        theta = 1.0 - 0.5 ** (1.0 / d.recovery_half_life_days)
        shock = rng.random(n) < d.shock_rate_per_month / 30.0 * lat.shock_factor
        st.ability = (st.ability + theta * (lat.ability_mean - st.ability) + rng.normal(0.0, d.ability_noise_per_day, n)
                      - np.where(shock, d.shock_size, 0.0))
        st.load = st.load * 0.5 ** (1.0 / self.scenario.fatigue.half_life_days)
        st.day = st.day + timedelta(days=1)

    def ability(self) -> FloatArray:
        """Today's ability-to-pay logit per account (a copy; for tests and evaluation)."""
        return self._state.ability.copy()

    def load(self) -> FloatArray:
        """Today's fatigue contact load per account (a copy)."""
        return self._state.load.copy()

    # ------------------------------------------------------------------ internals

    def _t_codes(self, treatment: IntArray | Treatment) -> IntArray:
        if isinstance(treatment, Treatment):
            return np.asarray(T_INDEX[treatment], dtype=np.int64)
        return np.asarray(treatment, dtype=np.int64)

    def _ask(self, *, accounts: AccountArrays, treatment: IntArray | Treatment, collector_ids: IntArray | int | None,
             hour: IntArray | int, day: date | None) -> _Ask:
        if day is not None and day != self._state.day:
            raise ValueError(f"the ground truth is at {self._state.day}, asked about {day}: call advance_day()")
        n = accounts.size
        coll = (np.full(n, -1, dtype=np.int64) if collector_ids is None
                else np.broadcast_to(np.asarray(collector_ids, dtype=np.int64) - 1, (n,)))
        return _Ask(
            idx=self.index(accounts.account_id), t=np.broadcast_to(self._t_codes(treatment), (n,)), coll=coll,
            hour=np.broadcast_to(np.asarray(hour, dtype=np.int64), (n,)),
            bucket=np.clip(bucket_index(accounts.dpd) - 1, 0, 3),
            overdue=accounts.overdue_fen.astype(np.float64), balance=accounts.balance_fen.astype(np.float64),
            open_ptp=accounts.open_ptp,
        )

    def _l0(self, ask: _Ask) -> FloatArray:
        d = self.scenario.dynamics
        return np.asarray(self._p.bucket_logit[ask.bucket] + d.ability_weight * self._state.ability[ask.idx]
                          + d.willingness_weight * self.portfolio.latent.willingness[ask.idx], dtype=np.float64)

    def _q30(self, ask: _Ask) -> FloatArray:
        return np.asarray(_sigmoid(self._l0(ask)) * ~self.portfolio.latent.paid_elsewhere[ask.idx], dtype=np.float64)

    def _share(self, ask: _Ask) -> FloatArray:
        d = self.scenario.dynamics
        a = _sigmoid(self._state.ability[ask.idx])
        return np.asarray(np.clip(a / d.full_pay_ability, d.min_pay_share, 1.0), dtype=np.float64)

    def _pay_amount(self, ask: _Ask, overdue_fen: IntArray) -> IntArray:
        """share × overdue in whole fen, in integer arithmetic (share in per-mille)."""
        per_mille = np.rint(self._share(ask) * 1000).astype(np.int64)
        return np.asarray(overdue_fen, dtype=np.int64) * per_mille // 1000

    def _skill(self, ask: _Ask) -> FloatArray:
        """Collector skill multiplier for the account's segment (1 = no collector / median)."""
        has = ask.coll >= 0
        c = np.where(has, ask.coll, 0)
        ko = self.portfolio.korean[ask.idx]
        if self.staff.skill.shape[0] == 0:
            return np.ones(ask.idx.size)
        skill = self.staff.skill[c, ask.bucket, self.portfolio.size_band[ask.idx], ko.astype(np.int64)]
        mismatch = ko & ~self.staff.speaks_korean[c]
        skill = skill * np.where(mismatch, self.scenario.collector_pool.language_mismatch_factor, 1.0)
        return np.asarray(np.where(has, skill, 1.0), dtype=np.float64)

    def _delta(self, ask: _Ask) -> FloatArray:
        p, lat = self._p, self.portfolio.latent
        fat = np.exp(-self.scenario.fatigue.effect_drop * self._state.load[ask.idx])
        ptp = np.where(ask.open_ptp, self.scenario.promises.open_ptp_effect, 1.0)
        return np.asarray(p.effect[ask.t] * p.bucket_effect[ask.bucket] * lat.sensitivity[ask.idx, ask.t]
                          * self._skill(ask) * fat * ptp, dtype=np.float64)

    def _reach(self, ask: _Ask) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(P(answered) for calls, P(reach) by channel, P(RPC))."""
        s, lat = self.scenario, self.portfolio.latent
        prof = self._p.hours[lat.profile[ask.idx], np.clip(ask.hour, 0, 23)]
        fat = np.exp(-s.fatigue.answer_drop * self._state.load[ask.idx])
        answer = lat.contact_level[ask.idx] * prof * fat
        wrong = lat.wrong_number[ask.idx]
        phone = (ask.t == ROBOT) | (ask.t == AGENT)
        meet = s.treatments.field_visit.meet_base * (0.4 + 0.6 * prof) * fat * self.portfolio.field_possible[ask.idx]
        reach = np.select([phone, ask.t == SMS, ask.t == FIELD], [answer, s.contact.sms_read * fat, meet], 1.0)
        rpc = np.select([phone, ask.t == FIELD], [answer * ~wrong * (1 - s.contact.third_party_share), meet], 0.0)
        return answer, reach, rpc

    def _conversation(self, ask: _Ask, delta: FloatArray) -> tuple[FloatArray, ...]:
        """(dispute, cease, callback, promise, refusal, keep) probabilities given a conversation."""
        s, lat = self.scenario, self.portfolio.latent
        pr, c = s.promises, s.contact
        z, w = self._state.ability[ask.idx], lat.willingness[ask.idx]
        pe = lat.paid_elsewhere[ask.idx]
        dispute = np.clip(c.dispute_base + c.disputer_dispute * lat.disputer[ask.idx] + c.paid_elsewhere_dispute * pe,
                          0.0, 0.98)
        load = self._state.load[ask.idx]
        cease = np.clip(s.fatigue.cease_base + s.fatigue.cease_slope * load, 0.0, 1.0) * (1 - dispute)
        callback = c.callback_share * (1 - dispute - cease)
        rest = 1 - dispute - cease - callback
        pi = _sigmoid(pr.ptp_intercept + pr.ptp_willingness * w + pr.ptp_ability * z + self._p.ptp_bucket[ask.bucket]
                      + delta)
        keep = _sigmoid(pr.keep_intercept + pr.keep_willingness * w + pr.keep_ability * z
                        + self._p.keep_bucket[ask.bucket] - pr.hardship_keep_drop * lat.hardship[ask.idx]) * ~pe
        return dispute, cease, callback, rest * pi, rest * (1 - pi) * _sigmoid(-w), keep

    def _convert(self, ask: _Ask, l0: FloatArray, delta: FloatArray) -> FloatArray:
        """Conversion given reach for nudges (SMS, agency) and legal; 0 for other treatments."""
        lat, legal = self.portfolio.latent, self.scenario.treatments.legal
        base = _sigmoid(l0)
        nudge = (_sigmoid(l0 + delta) - base) / np.maximum(1.0 - base, 1e-12)
        sens = lat.sensitivity[ask.idx, LEGAL]
        court = _sigmoid(legal.intercept + legal.ability_weight * self._state.ability[ask.idx] + np.log(sens))
        out = np.select([(ask.t == SMS) | (ask.t == AGENCY), ask.t == LEGAL], [nudge, court], 0.0)
        return np.asarray(out * ~lat.paid_elsewhere[ask.idx], dtype=np.float64)

    def _complaint(self, ask: _Ask) -> FloatArray:
        f, p = self.scenario.fatigue, self._p
        over = np.maximum(0.0, self._state.load[ask.idx] + p.fatigue_weight[ask.t] - f.free_load)
        # Only treatments that add load (real contacts) can tip a borrower into complaining.
        over = over * (p.fatigue_weight[ask.t] > 0)
        return np.asarray(1.0 - np.exp(-(p.complaint_base[ask.t] + f.complaint_slope * over)), dtype=np.float64)

    def _core(self, ask: _Ask) -> _Core:
        s = self.scenario
        l0, delta = self._l0(ask), self._delta(ask)
        answer, reach, rpc = self._reach(ask)
        dispute, cease, callback, ptp_c, refuse_c, keep = self._conversation(ask, delta)
        convert = self._convert(ask, l0, delta)
        talks = (ask.t == ROBOT) | (ask.t == AGENT) | (ask.t == FIELD)
        sms_read = reach * ~self.portfolio.latent.wrong_number[ask.idx]
        # Eventual chance the treatment causes a payment, and the part of it that lands within 7 / 30 days:
        # promises fall due 1..days_max days out, nudges 1..30, agency payments 1..placement_days,
        # the court pays after delay_days, a buyer pays today.
        induced = np.select([talks, ask.t == SMS, (ask.t == AGENCY) | (ask.t == LEGAL), ask.t == SALE],
                            [rpc * ptp_c * keep, sms_read * convert, convert, 1.0], 0.0)
        days = np.select([talks, ask.t == SMS, ask.t == AGENCY], [s.promises.days_max, 30,
                                                                  s.treatments.agency.placement_days], 1)
        delay = s.treatments.legal.delay_days
        within = {h: np.where(ask.t == LEGAL, float(delay <= h), np.minimum(1.0, h / days)) for h in (7, 30)}
        return _Core(q30=self._q30(ask), share=self._share(ask), p_answer=answer, p_reach=reach, p_rpc=rpc,
                     p_dispute=dispute, p_cease=cease, p_callback=callback, p_ptp_conv=ptp_c, p_refuse_conv=refuse_c,
                     p_keep=keep, p_convert=convert, p_induced=induced, p_induced_7d=induced * within[7],
                     p_induced_30d=induced * within[30],
                     p_complaint=self._complaint(ask))

    def _later_share(self, ask: _Ask) -> FloatArray:
        """R: discounted chance of paying in a later month if not this one, as the bucket rolls on."""
        d = self.scenario.dynamics
        base = self._l0(ask) - self._p.bucket_logit[ask.bucket]
        pe = self.portfolio.latent.paid_elsewhere[ask.idx]
        alive, total = np.ones(ask.idx.size), np.zeros(ask.idx.size)
        for m in range(1, d.valuation_months):
            q = _sigmoid(base + self._p.bucket_logit[np.minimum(ask.bucket + m, 3)]) * ~pe
            total += (1 - d.monthly_discount) ** m * alive * q
            alive = alive * (1 - q)
        return total

    def _expect(self, ask: _Ask, core: _Core) -> Responses:
        s, t = self.scenario, ask.t
        q = core.q30
        pay30 = 1 - (1 - q) * (1 - core.p_induced_30d)
        pay7 = 1 - np.power(1 - q, 7 / 30) * (1 - core.p_induced_7d)
        pay_any = 1 - (1 - q) * (1 - core.p_induced)  # over the treatment's own horizon
        owed = core.share * ask.overdue
        payoff = core.share * (ask.overdue + s.dynamics.post_cure_value * (ask.balance - ask.overdue))
        later = self._later_share(ask)
        legal = s.treatments.legal
        disc = (1 - s.dynamics.monthly_discount) ** (legal.delay_days / 30)
        price = self._p.price[ask.bucket] * ask.balance
        court = legal.recovery_share * ask.balance * disc
        amount = np.select([t == LEGAL, t == SALE], [q * owed + (1 - q) * core.p_induced * court, price],
                           pay_any * owed)
        uplift = np.select(
            [t == NONE, t == LEGAL, t == SALE],
            [0.0, (1 - q) * core.p_induced * (court - payoff * later), price - payoff * (q + (1 - q) * later)],
            (pay_any - q) * payoff * (1 - later))
        commission = np.where(t == AGENCY, s.treatments.agency.commission_share * amount, 0.0)
        cost = self._p.cost[t] + commission + core.p_complaint * s.fatigue.complaint_cost_fen
        talks = (t == ROBOT) | (t == AGENT) | (t == FIELD)
        return Responses(
            p_reach=core.p_reach, p_rpc=core.p_rpc, p_ptp=np.where(talks, core.p_rpc * core.p_ptp_conv, 0.0),
            p_keep=np.where(talks, core.p_keep, 0.0), p_induced=core.p_induced, p_induced_30d=core.p_induced_30d,
            p_pay_7d=np.where(t == SALE, 1.0, pay7),
            p_pay_30d=np.where(t == SALE, 1.0, pay30), p_complaint=core.p_complaint,
            p_dispute=np.where(talks, core.p_rpc * core.p_dispute, 0.0),
            p_cease=np.where(talks, core.p_rpc * core.p_cease, 0.0),
            expected_amount_fen=_fen(amount), expected_cost_fen=_fen(cost), uplift_fen=_fen(uplift),
            expected_net_fen=_fen(uplift) - _fen(cost),
        )

    def _draw(self, ask: _Ask, core: _Core, account_id: IntArray, rng: np.random.Generator) -> Outcomes:
        """Sample outcomes with a fixed number of uniforms per element, so element i's draw depends only on
        the generator state and i (and matches the probabilities of `_expect`)."""
        s, t, n = self.scenario, ask.t, ask.idx.size
        u = rng.random((n, 8))
        lat = self.portfolio.latent
        phone, field_t, talks = (t == ROBOT) | (t == AGENT), t == FIELD, (t == ROBOT) | (t == AGENT) | (t == FIELD)
        answered = np.where(phone, u[:, 0] < core.p_answer, u[:, 0] < core.p_reach)
        wrong = lat.wrong_number[ask.idx]
        third = phone & answered & ~wrong & (u[:, 1] < s.contact.third_party_share)
        rpc = talks & answered & ~(phone & wrong) & ~third
        # Conversation category from one uniform over cumulative probabilities.
        cuts = np.cumsum(np.stack([core.p_dispute, core.p_cease, core.p_callback, core.p_ptp_conv,
                                   core.p_refuse_conv]), axis=0)
        category = (u[:, 2][None, :] >= cuts).sum(axis=0)  # 0 dispute … 4 refused, 5 plain contact
        conv_codes = np.array([CODE_INDEX[c] for c in ("dispute", "ceased", "callback", "ptp", "refused", "rpc")])
        split = np.cumsum(np.asarray(s.contact.unanswered_split) / sum(s.contact.unanswered_split))
        missed_codes = np.array([CODE_INDEX[c] for c in ("no_answer", "busy", "voicemail")])
        missed = missed_codes[np.minimum((u[:, 1][:, None] >= split[None, :]).sum(axis=1), 2)]
        code = np.select(
            [phone & ~answered, phone & answered & ~rpc, field_t & ~rpc, rpc & (category == 5) & field_t, rpc,
             t == SMS, t == AGENCY, t == LEGAL, t == SALE],
            [missed, CODE_INDEX["wrong_party"], CODE_INDEX["visit_absent"], CODE_INDEX["visit_met"],
             conv_codes[np.minimum(category, 5)], CODE_INDEX["sms_sent"], CODE_INDEX["agency_placed"],
             CODE_INDEX["legal_filed"], CODE_INDEX["sold"]],
            CODE_INDEX["no_action"])
        owed = self._pay_amount(ask, ask.overdue.astype(np.int64))
        promised = rpc & (category == 3) & (owed > 0)
        ptp_offset = 1 + (u[:, 4] * s.promises.days_max).astype(np.int64)
        pay_fen, pay_offset, source = self._draw_payments(ask, core, u, promised=promised, owed=owed,
                                                          ptp_offset=ptp_offset)
        return Outcomes(
            day=self._state.day, account_id=np.asarray(account_id, dtype=np.int64), treatment=t.copy(), rpc=rpc,
            code=code.astype(np.int64), ptp_fen=np.where(promised, owed, 0),
            ptp_offset=np.where(promised, ptp_offset, 0),
            pay_fen=pay_fen, pay_offset=pay_offset, pay_source=source, complaint=u[:, 5] < core.p_complaint,
            dispute=rpc & (category == 0), cease=rpc & (category == 1), wrong_number=phone & answered & wrong,
            duration_s=self._durations(t, answered, rpc, u[:, 6]),
        )

    def _draw_payments(self, ask: _Ask, core: _Core, u: FloatArray, *, promised: BoolArray, owed: IntArray,
                       ptp_offset: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        """Induced payments: kept promises, SMS nudges, agency and legal recoveries, sale prices."""
        s, t = self.scenario, ask.t
        kept = promised & (u[:, 3] < core.p_keep)
        read = (t == SMS) & (u[:, 0] < core.p_reach) & ~self.portfolio.latent.wrong_number[ask.idx]
        nudged = read & (u[:, 7] < core.p_convert)
        agency = (t == AGENCY) & (u[:, 7] < core.p_convert)
        legal = (t == LEGAL) & (u[:, 7] < core.p_convert)
        balance = ask.balance.astype(np.int64)
        court = balance * round(s.treatments.legal.recovery_share * 10_000) // 10_000
        price = balance * np.rint(self._p.price[ask.bucket] * 10_000).astype(np.int64) // 10_000
        month = 1 + (u[:, 4] * 30).astype(np.int64)
        placement = 1 + (u[:, 4] * s.treatments.agency.placement_days).astype(np.int64)
        conds = [kept, nudged, agency, legal, t == SALE]
        amount = np.select(conds, [owed, owed, owed, court, price], 0)
        offset = np.select(conds, [ptp_offset, month, placement, np.full(t.size, s.treatments.legal.delay_days), 0], 0)
        source = np.select(conds, [_SRC["promise"], _SRC["nudge"], _SRC["agency"], _SRC["legal"], _SRC["sale"]], 0)
        has = amount > 0
        return np.where(has, amount, 0), np.where(has, offset, 0), np.where(has, source, 0)

    @staticmethod
    def _durations(t: IntArray, answered: BoolArray, rpc: BoolArray, u: FloatArray) -> IntArray:
        """Seconds the attempt took: ring time, short wrong-party calls, conversations, visits."""
        lo = np.select([t == FIELD, rpc & (t == AGENT), rpc & (t == ROBOT), answered & ((t == ROBOT) | (t == AGENT)),
                        (t == ROBOT) | (t == AGENT)], [300, 180, 60, 20, 25], 0)
        hi = np.select([t == FIELD, rpc & (t == AGENT), rpc & (t == ROBOT), answered & ((t == ROBOT) | (t == AGENT)),
                        (t == ROBOT) | (t == AGENT)], [900, 480, 150, 60, 45], 0)
        lo = np.where((t == FIELD) & rpc, 900, lo)
        hi = np.where((t == FIELD) & rpc, 2400, hi)
        return (lo + u * (hi - lo)).astype(np.int64)
