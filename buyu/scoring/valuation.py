"""NPL valuation: expected 12-month recovery curves, their present value, pools, hold or sell (pure).

The model is a discrete-time, multi-state hazard model on 30-day periods (`rollrate.periods`):

* hazard  h(s, c, x)   = P(any payment in the period | state s and case band c at its start, account
  facts x) (logistic; censored periods never enter, so accounts still being worked count for the
  periods they completed);
* amount  r(s, c, x)   = E[cash / balance at the start | paid] (log-linear, smeared);
* moves   T_paid(s, ·) = next-period state given the state and whether the account paid
  (M0 … M4+, closed, sold), the book's transition counts with a light prior;
* filing  f(s)         = P(filed in court during a period | state, no case yet).

Case bands are the age of a court filing or agency placement in 30-day steps (see `Cases`): cash in
court arrives on the court's clock, not the borrower's. An account's curve propagates the expected
balance owed in each (court track, state) month by month: expected cash in month k is
Σ_{track, s} M_k(track, s) h r; what payers leave moves to the states payers reach that still owe
(closing by paying leaves nothing), what non-payers owe moves with theirs; court tracks age a band a
month and a share f(s) of the no-case track enters court. The curve reflects whatever strategy
produced the history ("the current strategy"). Present value discounts month k at the annual rate,
mid-month. A pool's 90% interval combines the randomness of which accounts pay (Monte Carlo of the
chain) with the uncertainty of the fitted parameters (account-level bootstrap refits). Money leaves as
whole fen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import Ridge

from buyu.scoring.features import AGENCY, LEGAL, FeatureFrame, History
from buyu.scoring.learner import Encoder, sigmoid
from buyu.scoring.propensity import Linear
from buyu.scoring.rollrate import (
    CLOSED,
    LIVE,
    PERIOD_DAYS,
    STATES,
    Periods,
    placement_age,
    shrink,
    transition_counts,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MONTHS = 12
Z90 = 1.6448536269514722


#: Case bands: how long ago the account was filed in court or placed with an agency, in 30-day steps
#: (legal: 0–29, 30–59, 60–89, 90+ days; agency: 0–29, 30+; no case is the reference). Court recoveries and
#: agency collections arrive on their own clocks, so a case's cash depends on its age; and the age is the one
#: covariate whose future is known, so the curve advances it a step every month.
LEGAL_BANDS = 4
AGENCY_BANDS = 2
CASE_COLUMNS = LEGAL_BANDS + AGENCY_BANDS


@dataclass(frozen=True)
class Cases:
    """Days since the latest court filing and agency placement at the valuation (or period) start; NaN: none.

    `filed_within`: for training periods, whether the account was filed in court during the period.
    """

    legal_age: FloatArray
    agency_age: FloatArray
    filed_within: npt.NDArray[np.bool_] | None = None

    @staticmethod
    def none(n: int) -> Cases:
        """No account in a case."""
        return Cases(legal_age=np.full(n, np.nan), agency_age=np.full(n, np.nan))

    def take(self, idx: npt.ArrayLike) -> Cases:
        """A subset."""
        i = np.asarray(idx)
        return Cases(legal_age=self.legal_age[i], agency_age=self.agency_age[i],
                     filed_within=None if self.filed_within is None else self.filed_within[i])

    def legal_band(self) -> IntArray:
        """Court band at the start (−1: no case)."""
        return _band(self.legal_age, 0, LEGAL_BANDS)

    def onehot(self, months_ahead: int = 0) -> FloatArray:
        """(accounts, CASE_COLUMNS) band indicators `months_ahead` periods after the start."""
        return np.hstack([_onehot(_band(self.legal_age, months_ahead, LEGAL_BANDS), LEGAL_BANDS),
                          self.agency_onehot(months_ahead)])

    def agency_onehot(self, months_ahead: int = 0) -> FloatArray:
        """(accounts, AGENCY_BANDS) agency band indicators `months_ahead` periods after the start."""
        return _onehot(_band(self.agency_age, months_ahead, AGENCY_BANDS), AGENCY_BANDS)


def _band(age: FloatArray, months_ahead: int, bands: int) -> IntArray:
    shifted = np.asarray(age, dtype=np.float64) + PERIOD_DAYS * months_ahead
    band = np.minimum(np.nan_to_num(shifted) // PERIOD_DAYS, bands - 1)
    return np.where(np.isfinite(shifted), band, -1).astype(np.int64)


def _onehot(band: IntArray, bands: int) -> FloatArray:
    return np.column_stack([band == j for j in range(bands)]).astype(np.float64)


@dataclass(frozen=True)
class Params:
    """One set of fitted valuation parameters (coefficients over [state one-hot, case bands, facts])."""

    hazard: Linear
    amount: FloatArray  # ridge coefficients over the design
    amount_intercept: float
    smearing: float
    log_sd: float
    moves: FloatArray  # (2 paid?, LIVE, states)
    #: P(filed in court during a period | state at its start, no case yet), per live state.
    filing: FloatArray = field(default_factory=lambda: np.zeros(LIVE))

    def facts_parts(self, facts: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The facts' part of the hazard logit and of the log cash ratio (intercepts included)."""
        cut = LIVE + CASE_COLUMNS
        return (facts @ self.hazard.coef[cut:] + self.hazard.intercept,
                facts @ self.amount[cut:] + self.amount_intercept)

    def per_state(self, parts: tuple[FloatArray, FloatArray], legal: IntArray,
                  agency: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(accounts, LIVE) hazard and expected cash ratio given payment, per state, in court band `legal`."""
        bands = np.hstack([_onehot(legal, LEGAL_BANDS), agency])
        h = parts[0] + bands @ self.hazard.coef[LIVE:LIVE + CASE_COLUMNS]
        r = parts[1] + bands @ self.amount[LIVE:LIVE + CASE_COLUMNS]
        return sigmoid(h[:, None] + self.hazard.coef[None, :LIVE]), self.ratio(r[:, None] + self.amount[None, :LIVE])

    def ratio(self, log_ratio: FloatArray) -> FloatArray:
        """Expected cash / balance given payment, capped at the balance."""
        return np.asarray(np.clip(np.exp(log_ratio) * self.smearing, 0.0, 1.0), dtype=np.float64)

    def balance_moves(self) -> tuple[FloatArray, FloatArray]:
        """(LIVE, LIVE) where the balance left after a period goes, for payers and non-payers.

        The balance travels with the state: an account that closes by paying takes no balance with it,
        so the balance a payer leaves belongs to payers still owing (tracking one expected balance per
        account instead would charge the payoffs of those who closed to the rest, and under-state later
        months). A sale or a write-off takes its balance out of the book.
        """
        paid = self.moves[1][:, :LIVE] / np.maximum(1.0 - self.moves[1][:, CLOSED], 1e-9)[:, None]
        return paid, self.moves[0][:, :LIVE]


@dataclass(frozen=True)
class ValuationModel:
    """Encoder of account facts, the main parameter set and bootstrap replicates."""

    encoder: Encoder
    params: Params
    replicates: tuple[Params, ...]
    meta: dict[str, object] = field(default_factory=dict)

    def design(self, frame: FeatureFrame, state: IntArray, cases: Cases | None = None) -> FloatArray:
        """[state one-hot, case bands, encoded facts]."""
        onehot = np.column_stack([state == s for s in range(LIVE)]).astype(np.float64)
        bands = (cases or Cases.none(frame.size)).onehot()
        return np.hstack([onehot, bands, self.encoder.transform(frame)])

    def curves(self, *, frame: FeatureFrame, state: IntArray, balance_fen: npt.ArrayLike, cases: Cases | None = None,
               params: Params | None = None) -> FloatArray:
        """(accounts, MONTHS) expected cash per month (fen, float) under the current strategy.

        The expected balance is tracked per (court track, state): track 0 has no court case, track
        1 + j is in court band j. Each month a share `filing[s]` of track 0 is filed and enters band 0
        the month after; court tracks age a band a month.
        """
        p = params or self.params
        parts = p.facts_parts(self.encoder.transform(frame))
        case = cases or Cases.none(frame.size)
        paid_moves, unpaid_moves = p.balance_moves()
        n = state.size
        mass = np.zeros((LEGAL_BANDS + 1, n, LIVE))
        start = (1 + case.legal_band(), np.arange(n), np.clip(state, 0, LIVE - 1))
        mass[start] = np.asarray(balance_fen, dtype=np.float64)
        out = np.zeros((n, MONTHS))

        def step(m: FloatArray, hazard: FloatArray, ratio: FloatArray) -> tuple[FloatArray, FloatArray]:
            paying = m * hazard
            cash = paying * ratio
            return cash.sum(axis=1), (paying - cash) @ paid_moves + (m - paying) @ unpaid_moves

        for k in range(MONTHS):
            agency = case.agency_onehot(k)
            nxt = np.zeros_like(mass)
            for t in range(LEGAL_BANDS + 1):
                if not mass[t].any():
                    continue
                hazard, ratio = p.per_state(parts, np.full(n, t - 1), agency)
                if t == 0:
                    filed = mass[0] * p.filing[None, :]
                    cash_f, moved_f = step(filed, hazard, ratio)
                    cash_s, moved_s = step(mass[0] - filed, hazard, ratio)
                    out[:, k] += cash_f + cash_s
                    nxt[0] += moved_s
                    nxt[1] += moved_f
                else:
                    cash, moved = step(mass[t], hazard, ratio)
                    out[:, k] += cash
                    nxt[min(t + 1, LEGAL_BANDS)] += moved
            mass = nxt
        return out

    def simulate_totals(self, *, frame: FeatureFrame, state: IntArray, balance_fen: npt.ArrayLike, annual_rate: float,
                        paths: int, cases: Cases | None = None, seed: int = 0) -> FloatArray:
        """Pool present value on `paths` random histories of the chain (process noise only)."""
        p = self.params
        parts = p.facts_parts(self.encoder.transform(frame))
        case = cases or Cases.none(frame.size)
        agency = [case.agency_onehot(k) for k in range(MONTHS)]
        rng = np.random.default_rng(seed)
        disc = discount_factors(annual_rate)
        cum = np.cumsum(p.moves, axis=2)
        rows = np.arange(state.size)
        totals = np.zeros(paths)
        for j in range(paths):
            s = np.clip(state, 0, LIVE - 1).copy()
            legal = case.legal_band()
            bal = np.asarray(balance_fen, dtype=np.float64).copy()
            pv = 0.0
            for k in range(MONTHS):
                live = s < LIVE
                idx = np.minimum(s, LIVE - 1)
                hazard, ratio = p.per_state(parts, legal, agency[k])
                pays = live & (rng.random(s.size) < hazard[rows, idx])
                noise = np.exp(rng.normal(0.0, p.log_sd, s.size) - p.log_sd ** 2 / 2)
                cash = np.where(pays, np.minimum(bal * ratio[rows, idx] * noise, bal), 0.0)
                pv += float(cash.sum()) * disc[k]
                bal -= cash
                filed = (legal < 0) & (rng.random(s.size) < p.filing[idx])
                legal = np.where(legal >= 0, np.minimum(legal + 1, LEGAL_BANDS - 1), np.where(filed, 0, -1))
                nxt = (rng.random(s.size)[:, None] > cum[pays.astype(np.int64), idx]).sum(axis=1)
                s = np.where(live, nxt, s)
            totals[j] = pv
        return totals


def discount_factors(annual_rate: float) -> FloatArray:
    """Mid-month discount factor of each month at an annual rate (monthly compounding)."""
    monthly = (1.0 + annual_rate) ** (1 / 12) - 1
    return np.asarray(1.0 / (1.0 + monthly) ** (np.arange(MONTHS) + 0.5), dtype=np.float64)


def _filing_rates(data: Periods, cases: Cases) -> FloatArray:
    """P(filed in court during a period | state, no case at its start), with a light prior towards the book's."""
    if cases.filed_within is None:
        return np.zeros(LIVE)
    free = ~np.isfinite(cases.legal_age)
    filed = np.bincount(data.state0[free], weights=cases.filed_within[free].astype(np.float64), minlength=LIVE)
    seen = np.bincount(data.state0[free], minlength=LIVE).astype(np.float64)
    book = filed.sum() / max(seen.sum(), 1.0)
    return np.asarray((filed[:LIVE] + 5.0 * book) / (seen[:LIVE] + 5.0), dtype=np.float64)


def _fit_params(design: FloatArray, data: Periods, cases: Cases, *, c: float) -> Params:
    paid = data.cash > 0
    hazard = Linear.fit(design, paid, c=c)
    ratio = np.clip(data.cash / np.maximum(data.balance0, 1.0), 1e-4, 1.0)
    if paid.sum() >= 10:
        ridge = Ridge(alpha=1.0).fit(design[paid], np.log(ratio[paid]))
        resid = np.log(ratio[paid]) - ridge.predict(design[paid])
        coef, intercept = ridge.coef_.astype(np.float64), float(ridge.intercept_)
        smearing, sd = float(np.mean(np.exp(resid))), float(resid.std())
    else:
        coef, intercept, smearing, sd = np.zeros(design.shape[1]), float(np.log(ratio.mean())), 1.0, 0.5
    counts = np.stack([transition_counts(data.state0[paid == flag], data.state1[paid == flag])[0]
                       for flag in (False, True)])
    pooled = shrink(counts.sum(axis=0), np.full(len(STATES), 1 / len(STATES))[None, :], 1.0)
    moves = shrink(counts, pooled[None], 5.0)
    return Params(hazard=hazard, amount=coef, amount_intercept=intercept, smearing=smearing, log_sd=sd, moves=moves,
                  filing=_filing_rates(data, cases))


def fit_valuation(*, frame: FeatureFrame, data: Periods, cases: Cases | None = None, bootstrap: int = 20,
                  c: float = 0.5, seed: int = 0) -> ValuationModel:
    """Fit on completed periods (facts and case ages as of each period's start) with account-level bootstrap."""
    encoder = Encoder.fit(frame, knots=3)
    case = cases or Cases.none(data.size)
    onehot = np.column_stack([data.state0 == s for s in range(LIVE)]).astype(np.float64)
    design = np.hstack([onehot, case.onehot(), encoder.transform(frame)])
    params = _fit_params(design, data, case, c=c)
    rng = np.random.default_rng(seed)
    loans = np.unique(data.loan)
    reps = []
    for _ in range(bootstrap):
        chosen = rng.choice(loans, size=loans.size, replace=True)
        counts = np.bincount(np.searchsorted(loans, chosen), minlength=loans.size)
        rows = np.repeat(np.arange(data.size), counts[np.searchsorted(loans, data.loan)])
        reps.append(_fit_params(design[rows], data.take(rows), case.take(rows), c=c))
    return ValuationModel(encoder=encoder, params=params, replicates=tuple(reps),
                          meta={"periods": data.size, "accounts": int(loans.size)})


@dataclass(frozen=True)
class PoolValue:
    """A pool's valuation at a discount rate, and the hold-or-sell call at a bid (share of balance)."""

    accounts: int
    balance_fen: int
    expected_recovery_fen: int  # undiscounted, 12 months
    value_fen: int  # present value
    low_fen: int  # 90% interval
    high_fen: int
    curve_fen: list[int]  # expected cash per month
    bid_share: float | None
    bid_fen: int | None
    recommendation: str | None
    p_hold_beats_bid: float | None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (money as decimal strings of yuan and integer fen)."""
        def yuan(f: int | None) -> str | None:
            return None if f is None else f"{f / 100:.2f}"

        return {
            "accounts": self.accounts, "balance": yuan(self.balance_fen), "expected_recovery_12m":
            yuan(self.expected_recovery_fen), "value": yuan(self.value_fen), "interval_90": [yuan(self.low_fen),
                                                                                            yuan(self.high_fen)],
            "value_share_of_balance": round(self.value_fen / self.balance_fen, 4) if self.balance_fen else None,
            "curve": [yuan(x) for x in self.curve_fen], "bid_share": self.bid_share, "bid": yuan(self.bid_fen),
            "recommendation": self.recommendation, "p_hold_beats_bid": self.p_hold_beats_bid,
            "fen": {"balance": self.balance_fen, "value": self.value_fen, "low": self.low_fen, "high": self.high_fen,
                    "expected_recovery_12m": self.expected_recovery_fen},
        }


def value_pool(*, model: ValuationModel, frame: FeatureFrame, state: IntArray, balance_fen: npt.ArrayLike,
               annual_rate: float, cases: Cases | None = None, bid_share: float | None = None, paths: int = 200,
               seed: int = 0) -> PoolValue:
    """Pool value, 90% interval (process and parameter uncertainty) and hold/sell at the bid."""
    bal = np.asarray(balance_fen, dtype=np.float64)
    disc = discount_factors(annual_rate)
    curve = model.curves(frame=frame, state=state, balance_fen=bal, cases=cases).sum(axis=0)
    value = float(curve @ disc)
    param_values = [float(model.curves(frame=frame, state=state, balance_fen=bal, cases=cases, params=p)
                          .sum(axis=0) @ disc)
                    for p in model.replicates]
    sims = model.simulate_totals(frame=frame, state=state, balance_fen=bal, annual_rate=annual_rate, cases=cases,
                                 paths=paths if state.size <= 20_000 else max(20, paths // 5), seed=seed)
    sd = float(np.sqrt(np.var(sims) + (np.var(param_values) if len(param_values) > 1 else 0.0)))
    low, high = max(0.0, value - Z90 * sd), value + Z90 * sd
    bid_fen = None if bid_share is None else round(bid_share * float(bal.sum()))
    rec, p_hold = None, None
    if bid_fen is not None:
        rec = "hold" if value > bid_fen else "sell"
        p_hold = round(float(0.5 * (1 + _erf((value - bid_fen) / (sd * np.sqrt(2)) if sd > 0 else np.inf))), 4)
    return PoolValue(accounts=int(state.size), balance_fen=round(float(bal.sum())),
                     expected_recovery_fen=round(float(curve.sum())), value_fen=round(value), low_fen=round(low),
                     high_fen=round(high), curve_fen=[round(float(x)) for x in curve], bid_share=bid_share,
                     bid_fen=bid_fen, recommendation=rec, p_hold_beats_bid=p_hold)


def _erf(x: float) -> float:
    from math import erf

    return 1.0 if x == np.inf else erf(x)


def case_ages(*, history: History, loan: IntArray, day: IntArray, period_days: int | None = None) -> Cases:
    """Court and agency case ages of each loan on the morning of `day` (placements dated before it); with
    `period_days`, also whether a court filing followed within that many days (for training periods)."""
    legal = placement_age(history=history, loan=loan, day=day, kind=LEGAL)
    within = None
    if period_days is not None:
        later = placement_age(history=history, loan=loan, day=day + period_days, kind=LEGAL)
        within = ~np.isfinite(legal) & np.isfinite(later)
    return Cases(legal_age=legal, agency_age=placement_age(history=history, loan=loan, day=day, kind=AGENCY),
                 filed_within=within)
