"""NPL valuation: expected 12-month recovery curves, their present value, pools, hold or sell (pure).

The model is a discrete-time, multi-state hazard model on 30-day periods (`rollrate.periods`):

* hazard  h(s, x)      = P(any payment in the period | state s at its start, account facts x)
  (logistic; censored periods never enter, so accounts still being worked count for the periods
  they completed);
* amount  r(s, x)      = E[cash / balance at the start | paid] (log-linear, smeared);
* moves   T_paid(s, ·) = next-period state given the state and whether the account paid
  (M0 … M4+, closed, sold), the book's transition counts with a light prior.

An account's curve propagates its state distribution month by month: expected cash in month k is
B_k Σ_s P(s_k = s) h(s, x) r(s, x), with B_k the balance left after the expected cash before it.
The curve reflects whatever strategy produced the history ("the current strategy"). Present value
discounts month k at the annual rate, mid-month. A pool's 90% interval combines the randomness of
which accounts pay (Monte Carlo of the chain) with the uncertainty of the fitted parameters
(account-level bootstrap refits). Money leaves as whole fen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import Ridge

from buyu.scoring.features import FeatureFrame
from buyu.scoring.learner import Encoder
from buyu.scoring.propensity import Linear
from buyu.scoring.rollrate import LIVE, STATES, Periods, shrink, transition_counts

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MONTHS = 12
Z90 = 1.6448536269514722


@dataclass(frozen=True)
class Params:
    """One set of fitted valuation parameters."""

    hazard: Linear
    amount: FloatArray  # ridge coefficients over the design
    amount_intercept: float
    smearing: float
    log_sd: float
    moves: FloatArray  # (2 paid?, LIVE, states)


@dataclass(frozen=True)
class ValuationModel:
    """Encoder of account facts, the main parameter set and bootstrap replicates."""

    encoder: Encoder
    params: Params
    replicates: tuple[Params, ...]
    meta: dict[str, object] = field(default_factory=dict)

    def design(self, frame: FeatureFrame, state: IntArray) -> FloatArray:
        """[state one-hot, encoded facts]."""
        onehot = np.column_stack([state == s for s in range(LIVE)]).astype(np.float64)
        return np.hstack([onehot, self.encoder.transform(frame)])

    def curves(self, *, frame: FeatureFrame, state: IntArray, balance_fen: npt.ArrayLike,
               params: Params | None = None) -> FloatArray:
        """(accounts, MONTHS) expected cash per month (fen, float) under the current strategy."""
        p = params or self.params
        hazard, ratio = _per_state(p, self, frame)
        dist = np.zeros((state.size, LIVE))
        dist[np.arange(state.size), np.clip(state, 0, LIVE - 1)] = 1.0
        bal = np.asarray(balance_fen, dtype=np.float64).copy()
        out = np.zeros((state.size, MONTHS))
        for k in range(MONTHS):
            paying = dist * hazard
            cash = np.minimum(bal * (paying * ratio).sum(axis=1), bal)
            out[:, k] = cash
            bal = bal - cash
            moved = paying @ p.moves[1] + (dist - paying) @ p.moves[0]
            dist = moved[:, :LIVE]
        return out

    def simulate_totals(self, *, frame: FeatureFrame, state: IntArray, balance_fen: npt.ArrayLike, annual_rate: float,
                        paths: int, seed: int = 0) -> FloatArray:
        """Pool present value on `paths` random histories of the chain (process noise only)."""
        hazard, ratio = _per_state(self.params, self, frame)
        rng = np.random.default_rng(seed)
        disc = discount_factors(annual_rate)
        cum = np.cumsum(self.params.moves, axis=2)
        totals = np.zeros(paths)
        for j in range(paths):
            s = np.clip(state, 0, LIVE - 1).copy()
            bal = np.asarray(balance_fen, dtype=np.float64).copy()
            pv = 0.0
            for k in range(MONTHS):
                live = s < LIVE
                idx = np.minimum(s, LIVE - 1)
                rows = np.arange(s.size)
                pays = live & (rng.random(s.size) < hazard[rows, idx])
                noise = np.exp(rng.normal(0.0, self.params.log_sd, s.size) - self.params.log_sd ** 2 / 2)
                cash = np.where(pays, np.minimum(bal * ratio[rows, idx] * noise, bal), 0.0)
                pv += float(cash.sum()) * disc[k]
                bal -= cash
                nxt = (rng.random(s.size)[:, None] > cum[pays.astype(np.int64), idx]).sum(axis=1)
                s = np.where(live, nxt, s)
            totals[j] = pv
        return totals


def _per_state(p: Params, model: ValuationModel, frame: FeatureFrame) -> tuple[FloatArray, FloatArray]:
    """(accounts, LIVE) hazard and expected cash ratio given payment, per starting state."""
    facts = model.encoder.transform(frame)
    hazard = np.empty((frame.size, LIVE))
    ratio = np.empty((frame.size, LIVE))
    for s in range(LIVE):
        onehot = np.zeros((frame.size, LIVE))
        onehot[:, s] = 1.0
        x = np.hstack([onehot, facts])
        hazard[:, s] = p.hazard.p(x)
        ratio[:, s] = np.clip(np.exp(x @ p.amount + p.amount_intercept) * p.smearing, 0.0, 1.0)
    return hazard, ratio


def discount_factors(annual_rate: float) -> FloatArray:
    """Mid-month discount factor of each month at an annual rate (monthly compounding)."""
    monthly = (1.0 + annual_rate) ** (1 / 12) - 1
    return np.asarray(1.0 / (1.0 + monthly) ** (np.arange(MONTHS) + 0.5), dtype=np.float64)


def _fit_params(design: FloatArray, data: Periods, *, c: float) -> Params:
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
    return Params(hazard=hazard, amount=coef, amount_intercept=intercept, smearing=smearing, log_sd=sd, moves=moves)


def fit_valuation(*, frame: FeatureFrame, data: Periods, bootstrap: int = 20, c: float = 0.5,
                  seed: int = 0) -> ValuationModel:
    """Fit on completed periods (facts as of each period's start) with account-level bootstrap replicates."""
    encoder = Encoder.fit(frame, knots=3)
    onehot = np.column_stack([data.state0 == s for s in range(LIVE)]).astype(np.float64)
    design = np.hstack([onehot, encoder.transform(frame)])
    params = _fit_params(design, data, c=c)
    rng = np.random.default_rng(seed)
    loans = np.unique(data.loan)
    reps = []
    for _ in range(bootstrap):
        chosen = rng.choice(loans, size=loans.size, replace=True)
        counts = np.bincount(np.searchsorted(loans, chosen), minlength=loans.size)
        rows = np.repeat(np.arange(data.size), counts[np.searchsorted(loans, data.loan)])
        reps.append(_fit_params(design[rows], data.take(rows), c=c))
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
               annual_rate: float, bid_share: float | None = None, paths: int = 200, seed: int = 0) -> PoolValue:
    """Pool value, 90% interval (process and parameter uncertainty) and hold/sell at the bid."""
    bal = np.asarray(balance_fen, dtype=np.float64)
    disc = discount_factors(annual_rate)
    curve = model.curves(frame=frame, state=state, balance_fen=bal).sum(axis=0)
    value = float(curve @ disc)
    param_values = [float(model.curves(frame=frame, state=state, balance_fen=bal, params=p).sum(axis=0) @ disc)
                    for p in model.replicates]
    sims = model.simulate_totals(frame=frame, state=state, balance_fen=bal, annual_rate=annual_rate,
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
