"""Debtor propensity by treatment: P(pay within 7 / 30 days | account, treatment), expected amount, uplift.

Two stages (pure, on arrays):

1. A treatment-blind *prognostic* score: the spline scorecard and the tree model of
   `learner.fit_base`, trained on whether the account paid within 30 days.
2. Per horizon a logistic *treatment head* on [scorecard logit, tree logit, a few drivers g(x)],
   with a main effect per treatment and every treatment's interaction with those inputs (the
   treatment-interaction uplift model). It is fitted on out-of-fold first-stage scores, so it also
   calibrates them. Scoring a treatment is one matrix–vector product: counterfactual scores for all
   treatments cost little more than one.

Uplift of treatment t = P(pay | t) − P(pay | no_action); the expected amount is P(pay within 30 days
| t) × E[amount | paid, t], the latter a log-linear model with Duan's smearing. Amounts leave this
module as whole fen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression, Ridge

from buyu.scoring.features import NO_ACTION, TREATMENTS, FeatureFrame
from buyu.scoring.learner import BaseScores, Scorecard, crossfit, fit_base, folds, sigmoid

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Drivers the treatment heads may interact with (those present in a frame are used).
DRIVERS: tuple[str, ...] = (
    "dpd", "log_outstanding", "answered_rate", "rpc_rate", "keep_rate", "open_ptp", "attempts_7d", "days_since_rpc",
    "last_payment_share", "cease", "bucket", "language", "segment", "last_result",
)
HORIZONS: tuple[str, ...] = ("p7", "p30")


@dataclass(frozen=True)
class Head:
    """A fitted treatment head: logit = A·(w + w_t) + b_t, A = [base logits, drivers]."""

    weights: FloatArray  # (treatments, inputs): main weights plus each treatment's interaction
    bias: FloatArray  # (treatments,)

    def logits(self, inputs: FloatArray) -> FloatArray:
        """(rows, treatments) logits for every treatment."""
        return np.asarray(inputs @ self.weights.T + self.bias, dtype=np.float64)


@dataclass(frozen=True)
class AmountModel:
    """log(amount paid within 30 days | paid) ~ inputs + treatment; mean = exp(prediction) × smearing."""

    weights: FloatArray  # (inputs,)
    treatment: FloatArray  # (treatments,)
    intercept: float
    smearing: float

    def expected_given_paid(self, inputs: FloatArray) -> FloatArray:
        """(rows, treatments) expected fen paid, given a payment."""
        log_yuan = (inputs @ self.weights)[:, None] + self.treatment[None, :] + self.intercept
        return np.asarray(np.exp(np.clip(log_yuan, -5, 20)) * 100 * self.smearing, dtype=np.float64)


@dataclass(frozen=True)
class Scores:
    """Scores of rows × TREATMENTS: probabilities, expected amounts (fen), uplift, reasons input."""

    p7: FloatArray
    p30: FloatArray
    amount_fen: IntArray

    @property
    def uplift30(self) -> FloatArray:
        """P(pay within 30 days | t) − P(… | no_action)."""
        return np.asarray(self.p30 - self.p30[:, [NO_ACTION]], dtype=np.float64)

    @property
    def uplift_amount_fen(self) -> IntArray:
        """Expected fen within 30 days under t minus under no_action."""
        return np.asarray(self.amount_fen - self.amount_fen[:, [NO_ACTION]], dtype=np.int64)

    def taken(self, treatment: IntArray) -> tuple[FloatArray, FloatArray, IntArray]:
        """(p7, p30, amount) of the treatment each row actually got."""
        rows = np.arange(treatment.size)
        return self.p7[rows, treatment], self.p30[rows, treatment], self.amount_fen[rows, treatment]


@dataclass(frozen=True)
class PropensityModel:
    """The fitted two-stage propensity model."""

    base: BaseScores
    drivers: tuple[str, ...]
    driver_columns: IntArray  # encoder columns used as drivers
    driver_mean: FloatArray
    driver_scale: FloatArray
    heads: dict[str, Head]
    amount: AmountModel
    treatment_counts: IntArray

    def inputs(self, frame: FeatureFrame) -> FloatArray:
        """A = [scorecard logit, tree logit, standardised drivers]."""
        base = self.base.logits(frame)
        return _inputs(base, self._drivers(frame), self.driver_mean, self.driver_scale)

    def _drivers(self, frame: FeatureFrame) -> FloatArray:
        enc = self.base.scorecard.encoder
        out = np.empty((frame.size, self.driver_columns.size))
        for k in range(0, frame.size, 100_000):
            part = frame.take(np.arange(k, min(k + 100_000, frame.size)))
            out[k:k + part.size] = enc.transform(part)[:, self.driver_columns]
        return out

    def score(self, frame: FeatureFrame, *, overdue_cap_fen: FloatArray | None = None) -> Scores:
        """Counterfactual scores of every row under every treatment."""
        a = self.inputs(frame)
        return self.score_inputs(a, cap_fen=overdue_cap_fen)

    def score_inputs(self, a: FloatArray, *, cap_fen: FloatArray | None = None) -> Scores:
        """Scores from precomputed inputs (the cheap second stage only)."""
        p7 = sigmoid(self.heads["p7"].logits(a))
        p30 = np.maximum(sigmoid(self.heads["p30"].logits(a)), p7)  # 30 days contain the first 7
        amount = p30 * self.amount.expected_given_paid(a)
        if cap_fen is not None:
            amount = np.minimum(amount, cap_fen[:, None])
        return Scores(p7=p7, p30=p30, amount_fen=np.rint(amount).astype(np.int64))

    def reasons(self, frame: FeatureFrame, *, top: int = 3) -> list[list[dict[str, object]]]:
        """Top drivers per row: the features moving the scorecard logit most from the training average."""
        contrib, names = self.base.scorecard.contributions(frame)
        weight = float(self.heads["p30"].weights[NO_ACTION, 0])
        contrib = contrib * weight
        order = np.argsort(-np.abs(contrib), axis=1)[:, :top]
        return [[{"feature": names[j], "effect": round(float(contrib[i, j]), 3),
                  "direction": "raises" if contrib[i, j] > 0 else "lowers"} for j in order[i]]
                for i in range(frame.size)]


def _inputs(base: FloatArray, drivers: FloatArray, mean: FloatArray, scale: FloatArray) -> FloatArray:
    return np.hstack([base, (drivers - mean) / scale])


def _head_design(a: FloatArray, treatment: IntArray, k: int) -> FloatArray:
    """[A, onehot(t ≠ no_action), onehot(t ≠ no_action) ⊗ A] for fitting a head."""
    others = [t for t in range(k) if t != NO_ACTION]
    dummies = np.column_stack([treatment == t for t in others]).astype(np.float64)
    inter = np.hstack([a * dummies[:, [j]] for j in range(len(others))])
    return np.hstack([a, dummies, inter])


def _fit_head(a: FloatArray, treatment: IntArray, y: npt.ArrayLike, *, k: int, c: float) -> Head:
    """Fit one head and unpack its coefficients per treatment."""
    design = _head_design(a, treatment, k)
    model = LogisticRegression(C=c, max_iter=3000).fit(design, np.asarray(y, dtype=np.int64))
    coef, m = model.coef_[0], a.shape[1]
    others = [t for t in range(k) if t != NO_ACTION]
    weights = np.tile(coef[:m], (k, 1))
    bias = np.full(k, float(model.intercept_[0]))
    for j, t in enumerate(others):
        bias[t] += coef[m + j]
        weights[t] += coef[m + len(others) + j * m: m + len(others) + (j + 1) * m]
    return Head(weights=weights, bias=bias)


def _fit_amount(a: FloatArray, treatment: IntArray, amount_fen: IntArray, *, k: int) -> AmountModel:
    """Log-linear amount given payment, with Duan's smearing for the mean."""
    paid = amount_fen > 0
    dummies = np.column_stack([treatment == t for t in range(k)]).astype(np.float64)
    if paid.sum() < 10:
        return AmountModel(np.zeros(a.shape[1]), np.zeros(k), float(np.log(max(amount_fen.mean(), 1) / 100)), 1.0)
    x = np.hstack([a, dummies])[paid]
    target = np.log(amount_fen[paid] / 100)
    ridge = Ridge(alpha=1.0).fit(x, target)
    resid = target - ridge.predict(x)
    m = a.shape[1]
    return AmountModel(weights=ridge.coef_[:m].astype(np.float64), treatment=ridge.coef_[m:].astype(np.float64),
                       intercept=float(ridge.intercept_), smearing=float(np.mean(np.exp(resid))))


@dataclass(frozen=True)
class TrainingSet:
    """Matured decision points: features, treatment done, outcomes, and the account (fold groups)."""

    frame: FeatureFrame
    treatment: IntArray
    paid_7d: npt.NDArray[np.bool_]
    paid_30d: npt.NDArray[np.bool_]
    amount_30d: IntArray
    groups: IntArray


def fit_propensity(data: TrainingSet, *, k_folds: int = 3, head_c: float = 0.5, seed: int = 0) -> PropensityModel:
    """Fit both stages: base scores cross-fitted by account, heads on out-of-fold base logits."""
    k = len(TREATMENTS)
    splits = folds(n=data.frame.size, k=k_folds, groups=data.groups, seed=seed)
    base = fit_base(data.frame, data.paid_30d, splits=splits, seed=seed)
    enc = base.scorecard.encoder
    columns = np.asarray([i for i, (col, g) in enumerate(zip(enc.columns, enc.groups, strict=True))
                          if g in DRIVERS and "~s" not in col], dtype=np.int64)
    drivers = enc.transform(data.frame)[:, columns]
    mean, scale = drivers.mean(axis=0), drivers.std(axis=0) + 1e-9
    a = _inputs(base.oof, drivers, mean, scale)
    heads = {"p7": _fit_head(a, data.treatment, data.paid_7d, k=k, c=head_c),
             "p30": _fit_head(a, data.treatment, data.paid_30d, k=k, c=head_c)}
    amount = _fit_amount(a, data.treatment, data.amount_30d, k=k)
    return PropensityModel(base=base, drivers=tuple(n for n in DRIVERS if n in enc.groups),
                           driver_columns=columns, driver_mean=mean, driver_scale=scale, heads=heads, amount=amount,
                           treatment_counts=np.bincount(data.treatment, minlength=k).astype(np.int64))


# --------------------------------------------------------------------------- a plain binary pipeline


@dataclass(frozen=True)
class BinaryModel:
    """The same two stages without treatments (one head): used for datasets like German credit."""

    base: BaseScores
    head: LogisticRegression

    def predict(self, frame: FeatureFrame) -> FloatArray:
        """P(y = 1) per row."""
        return np.asarray(self.head.predict_proba(self.base.logits(frame))[:, 1], dtype=np.float64)


def fit_binary(frame: FeatureFrame, y: npt.ArrayLike, *, k_folds: int = 5, seed: int = 0,
               groups: npt.ArrayLike | None = None) -> BinaryModel:
    """Stacked scorecard + trees, combined (and calibrated) by a logistic head on out-of-fold logits."""
    yy = np.asarray(y, dtype=np.int64)
    splits = folds(n=frame.size, k=k_folds, groups=groups, y=yy, seed=seed)
    base = fit_base(frame, yy, splits=splits, seed=seed)
    return BinaryModel(base=base, head=LogisticRegression(C=1.0).fit(base.oof, yy))


def cross_validate(frame: FeatureFrame, y: npt.ArrayLike, *, k: int = 5, seed: int = 0) -> FloatArray:
    """Out-of-fold P(y = 1) of the binary pipeline (every row scored by a model that never saw it)."""
    yy = np.asarray(y, dtype=np.int64)
    splits = folds(n=frame.size, k=k, y=yy, seed=seed)

    def fit_predict(train: IntArray, test: IntArray) -> FloatArray:
        return fit_binary(frame.take(train), yy[train], seed=seed).predict(frame.take(test))

    return crossfit(n=frame.size, splits=splits, fit_predict=fit_predict)


__all__ = ["BinaryModel", "PropensityModel", "Scorecard", "Scores", "TrainingSet", "cross_validate",
           "fit_binary", "fit_propensity"]
