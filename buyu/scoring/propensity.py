"""Debtor propensity by treatment: P(pay within 7 / 30 days | account, treatment), expected amount, uplift.

Pure, on arrays. Three parts:

1. A treatment-blind *prognostic* score: the spline scorecard and the tree model of
   `learner.fit_base`, trained on whether the account paid within 30 days.
2. Per horizon a logistic *treatment head* on A = [scorecard logit, tree logit, drivers g(x)], with
   a main effect per treatment and heavily shrunk treatment × input interactions. It is fitted on
   out-of-fold first-stage scores, so it also calibrates them. Scoring every treatment is one small
   matrix product.
3. A *contact funnel* for the treatments that talk to the borrower (robot call, agent call, field
   visit): P(right-party contact | x, channel) × P(promise | contact, x, channel) × P(paid within 7
   days | promise, x). Every attempt shows its result, so this induced-payment probability u_t(x) is
   estimated from many more events than the payments alone, and it is what a contact *adds*.

Uplift (the difference a treatment makes today versus doing nothing today):
* conversational t: 1 − (1 − P(pay | no_action)) × (1 − u_t(x)) − P(pay | no_action), and the
  treatment's propensity is built the same way, so propensity and uplift agree;
* SMS, agency, legal: the head's P(pay | t) − P(pay | no_action).
A treatment never seen in a bucket during training (`min_support`) is scored as no_action and
flagged unsupported: no evidence, no claimed effect. The expected amount is P(pay within 30 days |
t) × E[amount | paid, t] (log-linear, Duan's smearing). Amounts leave this module as whole fen.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression, Ridge

from buyu.scoring.features import NO_ACTION, T_INDEX, TREATMENTS, FeatureFrame, bucket_code
from buyu.scoring.learner import BaseScores, Scorecard, crossfit, fit_base, folds, logit, sigmoid

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Drivers the heads and the funnel use besides the two base logits (those present in a frame).
DRIVERS: tuple[str, ...] = (
    "dpd", "log_outstanding", "answered_rate", "rpc_rate", "keep_rate", "open_ptp", "attempts_7d", "days_since_rpc",
    "ptp_90d", "ptp_broken_90d", "last_payment_share", "cease", "bucket", "language", "last_result",
)
CONVERSATIONAL: tuple[int, ...] = tuple(T_INDEX[t] for t in ("robot_call", "agent_call", "field_visit"))
#: Interaction columns are scaled down before fitting: an L2 penalty 1/scale² times the main effects'.
INTERACTION_SCALE = 0.1
#: Below this many randomised points the heads learn from every point (a young book has little else).
MIN_RANDOMISED = 1000
#: Held-out points a treatment (and no action) needs before its uplift loading is measured.
CALIBRATION_MIN_POINTS = 200


@dataclass(frozen=True)
class Linear:
    """A fitted logistic regression as plain arrays (fast and picklable)."""

    coef: FloatArray
    intercept: float

    @staticmethod
    def fit(x: FloatArray, y: npt.ArrayLike, *, c: float = 0.5, weight: FloatArray | None = None) -> Linear:
        """Fit (optionally weighted); a constant outcome gives the constant's logit."""
        yy = np.asarray(y, dtype=np.int64)
        if yy.size == 0 or yy.min() == yy.max():
            rate = (yy.mean() if yy.size else 0.0) * 0.98 + 0.01
            return Linear(np.zeros(x.shape[1]), float(np.log(rate / (1 - rate))))
        model = LogisticRegression(C=c, max_iter=3000).fit(x, yy, sample_weight=weight)
        return Linear(model.coef_[0].astype(np.float64), float(model.intercept_[0]))

    def p(self, x: FloatArray) -> FloatArray:
        """P(y = 1)."""
        return sigmoid(x @ self.coef + self.intercept)


@dataclass(frozen=True)
class Head:
    """A fitted treatment head: logit_t = A·(w + w_t) + b_t."""

    weights: FloatArray  # (treatments, inputs)
    bias: FloatArray  # (treatments,)

    def logits(self, inputs: FloatArray) -> FloatArray:
        """(rows, treatments) logits for every treatment."""
        return np.asarray(inputs @ self.weights.T + self.bias, dtype=np.float64)


@dataclass(frozen=True)
class Funnel:
    """Per conversational channel: P(RPC | x), P(promise | RPC, x); pooled P(paid in 7 days | promise, x)."""

    rpc: dict[int, Linear]
    promise: dict[int, Linear]
    kept: Linear
    #: Per horizon and channel, the share of induced payments that would not have come anyway under the
    #: logging strategy (fitted by likelihood; a promise today partly replaces tomorrow's contact).
    crowd: dict[str, FloatArray] = field(default_factory=dict)

    def induced(self, inputs: FloatArray) -> FloatArray:
        """(rows, treatments) u_t(x): the chance treatment t itself brings a payment within 7 days."""
        out = np.zeros((inputs.shape[0], len(TREATMENTS)))
        kept = self.kept.p(inputs)
        for t in self.rpc:
            out[:, t] = self.rpc[t].p(inputs) * self.promise[t].p(inputs) * kept
        return out


@dataclass(frozen=True)
class AmountModel:
    """log(amount paid within 30 days | paid) ~ inputs + treatment; mean = exp(prediction) × smearing."""

    weights: FloatArray
    treatment: FloatArray
    intercept: float
    smearing: float

    def expected_given_paid(self, inputs: FloatArray) -> FloatArray:
        """(rows, treatments) expected fen paid, given a payment."""
        log_yuan = (inputs @ self.weights)[:, None] + self.treatment[None, :] + self.intercept
        return np.asarray(np.exp(np.clip(log_yuan, -5, 20)) * 100 * self.smearing, dtype=np.float64)


@dataclass(frozen=True)
class Scores:
    """Scores of rows × TREATMENTS (amounts in whole fen)."""

    p7: FloatArray
    p30: FloatArray
    amount_fen: IntArray  # expected within 30 days
    uplift7: FloatArray  # P(pay within 7 days | t) − P(… | no_action)
    uplift7_fen: IntArray  # uplift7 × E[amount | paid, t]
    supported: BoolArray

    @property
    def uplift30(self) -> FloatArray:
        """P(pay within 30 days | t) − P(… | no_action)."""
        return np.asarray(self.p30 - self.p30[:, [NO_ACTION]], dtype=np.float64)

    def taken(self, treatment: IntArray) -> tuple[FloatArray, FloatArray, IntArray]:
        """(p7, p30, amount) of the treatment each row actually got."""
        rows = np.arange(treatment.size)
        return self.p7[rows, treatment], self.p30[rows, treatment], self.amount_fen[rows, treatment]


@dataclass(frozen=True)
class PropensityModel:
    """The fitted propensity model (see the module docstring)."""

    base: BaseScores
    drivers: tuple[str, ...]
    driver_columns: IntArray
    driver_mean: FloatArray
    driver_scale: FloatArray
    heads: dict[str, Head]
    funnel: Funnel
    amount: AmountModel
    support: IntArray  # (treatments, buckets) training points
    min_support: int
    #: Share of the heads' phone calls made at each local hour (24; None for a model trained without hours).
    call_hour_mix: FloatArray | None = None
    #: Per treatment, how much of what the treatment-specific part of the model adds to the uplift is real (the
    #: best linear predictor's loading on held-out randomised points, kept in [0, 1]); None: not calibrated.
    uplift_loading: FloatArray | None = None
    #: Per conversational treatment, the mean induced-payment chance u_t on the randomised points: the flat
    #: funnel of the main-effect model the uplift is shrunk towards.
    flat_induced: FloatArray | None = None

    def inputs(self, frame: FeatureFrame) -> FloatArray:
        """A = [scorecard logit, tree logit, standardised drivers] (the encoding computed once per chunk)."""
        enc = self.base.scorecard.encoder
        out = np.empty((frame.size, 2 + self.driver_columns.size))
        for k in range(0, frame.size, 100_000):
            part = frame.take(np.arange(k, min(k + 100_000, frame.size)))
            design = enc.transform(part)
            out[k:k + part.size, :2] = self.base.logits(part, design=design)
            out[k:k + part.size, 2:] = (design[:, self.driver_columns] - self.driver_mean) / self.driver_scale
        return out

    def score(self, frame: FeatureFrame, *, cap_fen: FloatArray | None = None) -> Scores:
        """Counterfactual scores of every row under every treatment."""
        dpd = frame.num("dpd") if "dpd" in frame.numeric_names else np.ones(frame.size)
        return self.score_inputs(self.inputs(frame), bucket=bucket_code(dpd), cap_fen=cap_fen)

    def score_inputs(self, a: FloatArray, *, bucket: IntArray, cap_fen: FloatArray | None = None) -> Scores:
        """Scores from precomputed inputs (the cheap second stage only)."""
        supported = self.min_support <= self.support[:, np.clip(bucket, 0, self.support.shape[1] - 1)].T
        supported[:, NO_ACTION] = True
        p7, p30 = self.probabilities(a, supported)
        given = self.amount.expected_given_paid(a)
        given = np.where(supported, given, given[:, [NO_ACTION]])  # no evidence, no claimed effect
        if cap_fen is not None:
            given = np.minimum(given, cap_fen[:, None])
        uplift7 = p7 - p7[:, [NO_ACTION]]
        amount, uplift7_fen = p30 * given, uplift7 * given
        if self.uplift_loading is not None and self.flat_induced is not None:
            # uplift = main-effect uplift + loading × (what the treatment-specific part adds)
            f7, f30 = self.probabilities(a, supported, flat=True)
            lam = self.uplift_loading[None, :]
            flat_amount = f30 * given
            up30 = flat_amount - flat_amount[:, [NO_ACTION]]
            up30 = up30 + lam * ((amount - amount[:, [NO_ACTION]]) - up30)
            flat7 = (f7 - f7[:, [NO_ACTION]]) * given
            uplift7_fen = flat7 + lam * (uplift7_fen - flat7)
            amount = amount[:, [NO_ACTION]] + up30
        return Scores(p7=p7, p30=p30, amount_fen=np.rint(amount).astype(np.int64), uplift7=uplift7,
                      uplift7_fen=np.rint(uplift7_fen).astype(np.int64), supported=supported)

    def probabilities(self, a: FloatArray, supported: BoolArray, *,
                      flat: bool = False) -> tuple[FloatArray, FloatArray]:
        """(p7, p30) per treatment. `flat`: the main-effect model — each head's treatment shifts the logit by a
        constant (no treatment × input interactions) and each call's induced-payment chance is its mean u_t."""
        if flat:
            if self.flat_induced is None:
                raise ValueError("this model has no flat funnel (trained before uplift calibration)")
            logits = {h: (a @ head.weights[NO_ACTION])[:, None] + head.bias[None, :] for h, head in self.heads.items()}
            u = np.tile(self.flat_induced, (a.shape[0], 1))
        else:
            logits = {h: head.logits(a) for h, head in self.heads.items()}
            u = self.funnel.induced(a)
        p7, p30 = sigmoid(logits["p7"]), sigmoid(logits["p30"])
        for t in CONVERSATIONAL:
            p7[:, t] = 1 - (1 - p7[:, NO_ACTION]) * (1 - np.clip(self.funnel.crowd["p7"][t] * u[:, t], 0, 1))
            p30[:, t] = 1 - (1 - p30[:, NO_ACTION]) * (1 - np.clip(self.funnel.crowd["p30"][t] * u[:, t], 0, 1))
        p7 = np.where(supported, p7, p7[:, [NO_ACTION]])
        p30 = np.maximum(np.where(supported, p30, p30[:, [NO_ACTION]]), p7)  # 30 days contain the first 7
        return p7, p30

    def promise_probability(self, a: FloatArray, treatment: IntArray) -> FloatArray:
        """P(promise | right-party contact, x) under each row's (conversational) treatment."""
        out = np.zeros(a.shape[0])
        for t in CONVERSATIONAL:
            mine = treatment == t
            out[mine] = self.funnel.promise[t].p(a[mine])
        return out

    def collect_probability(self, a: FloatArray, treatment: IntArray, collector_effect: FloatArray) -> FloatArray:
        """P(pay within 7 days | x, t, collector): the funnel with the collector's shrunk promise effect added."""
        p_none = sigmoid(self.heads["p7"].logits(a)[:, NO_ACTION])
        out = p_none.copy()
        for t in CONVERSATIONAL:
            mine = treatment == t
            if not mine.any():
                continue
            am = a[mine]
            promise = sigmoid(logit(self.funnel.promise[t].p(am)) + collector_effect[mine])
            u = self.funnel.rpc[t].p(am) * promise * self.funnel.kept.p(am)
            out[mine] = 1 - (1 - p_none[mine]) * (1 - np.clip(self.funnel.crowd["p7"][t] * u, 0, 1))
        return out

    def reasons(self, frame: FeatureFrame, *, top: int = 3) -> list[list[dict[str, object]]]:
        """Top drivers per row: the features moving the scorecard logit most from the training average."""
        contrib, names = self.base.scorecard.contributions(frame)
        order = np.argsort(-np.abs(contrib), axis=1)[:, :top]
        return [[{"feature": names[j], "effect": round(float(contrib[i, j]), 3),
                  "direction": "raises" if contrib[i, j] > 0 else "lowers"} for j in order[i]]
                for i in range(frame.size)]


def _head_design(a: FloatArray, treatment: IntArray, k: int) -> FloatArray:
    """[A, onehot(t ≠ no_action), scale × onehot(t ≠ no_action) ⊗ A] for fitting a head."""
    others = [t for t in range(k) if t != NO_ACTION]
    dummies = np.column_stack([treatment == t for t in others]).astype(np.float64)
    inter = np.hstack([a * dummies[:, [j]] for j in range(len(others))]) * INTERACTION_SCALE
    return np.hstack([a, dummies, inter])


def _fit_head(a: FloatArray, treatment: IntArray, y: npt.ArrayLike, *, k: int, c: float,
              weight: FloatArray | None = None) -> Head:
    """Fit one head and unpack its coefficients per treatment."""
    lin = Linear.fit(_head_design(a, treatment, k), y, c=c, weight=weight)
    coef, m = lin.coef, a.shape[1]
    others = [t for t in range(k) if t != NO_ACTION]
    weights = np.tile(coef[:m], (k, 1))
    bias = np.full(k, lin.intercept)
    for j, t in enumerate(others):
        bias[t] += coef[m + j]
        weights[t] += INTERACTION_SCALE * coef[m + len(others) + j * m: m + len(others) + (j + 1) * m]
    return Head(weights=weights, bias=bias)


def _fit_funnel(a: FloatArray, treatment: IntArray, result: IntArray, paid_7d: npt.ArrayLike) -> Funnel:
    """Contact, promise and keep models from the attempts' results."""
    paid = np.asarray(paid_7d, dtype=bool)
    rpc, promise = {}, {}
    for t in CONVERSATIONAL:
        mine = treatment == t
        rpc[t] = Linear.fit(a[mine], result[mine] >= 2)
        talked = mine & (result >= 2)
        promise[t] = Linear.fit(a[talked], result[talked] == 3)
    promised = result == 3
    return Funnel(rpc=rpc, promise=promise, kept=Linear.fit(a[promised], paid[promised]))


def _crowd(*, p_none: FloatArray, u: FloatArray, y: npt.ArrayLike) -> float:
    """κ maximising the likelihood of y under 1 − (1 − p_none)(1 − κu), κ in [0, 3]."""
    yy = np.asarray(y, dtype=np.float64)
    if yy.size < 30:
        return 1.0

    def nll(k: float) -> float:
        p = np.clip(1 - (1 - p_none) * (1 - np.clip(k * u, 0, 1)), 1e-6, 1 - 1e-6)
        return float(-(yy * np.log(p) + (1 - yy) * np.log(1 - p)).sum())

    return float(minimize_scalar(nll, bounds=(0.0, 3.0), method="bounded").x)


def _fit_amount(a: FloatArray, treatment: IntArray, amount_fen: IntArray, *, k: int,
                channel_amounts: bool = True) -> AmountModel:
    """Log-linear amount given payment, with Duan's smearing for the mean.

    `channel_amounts`: every treatment gets an amount effect of its own. Without it, a contact (robot call,
    SMS, agent call, visit) shares the no-action amount — it changes whether and when a borrower pays, not
    what they can pay — and only placements (agency, legal) get one. A free effect per contact channel
    moves with its noise (±2–4% between weekly refits); yet shared amounts measured lower in the simulator
    (see fit_propensity), so the free effects stay the default.
    """
    paid = amount_fen > 0
    if paid.sum() < 10:
        return AmountModel(np.zeros(a.shape[1]), np.zeros(k), float(np.log(max(amount_fen.mean(), 1) / 100)), 1.0)
    placed = list(range(k)) if channel_amounts else [T_INDEX["agency"], T_INDEX["legal"]]
    dummies = np.column_stack([treatment == t for t in placed]).astype(np.float64)
    x = np.hstack([a, dummies])[paid]
    target = np.log(amount_fen[paid] / 100)
    ridge = Ridge(alpha=1.0).fit(x, target)
    resid = target - ridge.predict(x)
    m = a.shape[1]
    effect = np.zeros(k)
    effect[placed] = ridge.coef_[m:]
    return AmountModel(weights=ridge.coef_[:m].astype(np.float64), treatment=effect,
                       intercept=float(ridge.intercept_), smearing=float(np.mean(np.exp(resid))))


@dataclass(frozen=True)
class SecondStage:
    """Choices in fitting the treatment effects, each a guard against a bias the simulator showed, and each
    off by default because the plan recovered less with them (2026-11-28, two default seeds; docs/plans.md,
    "Decision quality"):

    * `calibrate_uplift`: shrink each treatment's account-to-account uplift differences by their loading
      on held-out randomised points (uplift_calibration) — against a plan that picks the accounts whose
      noise flatters a treatment;
    * `channel_amounts` off: contacts share the no-action amount (see _fit_amount);
    * `crowd_on_randomised`: the calls' crowd-out κ judged on randomised points only — fitted on every point,
      the plan's own calls can drag it down (the robot's κ fell from 0.7 to 0 in six refits on default seed
      20260104).

    Optimized policy, 90 days after a 35-day history, no sales, default scenario seeds 20260102 / 20260103:
    with all three 4,650,040.75 / 3,890,179.13 yuan net, without them 4,714,551.71 / 4,009,855.74. The
    biases are real, but what the guards throw away (the heads' heterogeneity, the plan's own evidence on
    calls) was worth more on these books than the bias cost."""

    calibrate_uplift: bool = False
    channel_amounts: bool = True
    crowd_on_randomised: bool = False


@dataclass(frozen=True)
class TrainingSet:
    """Matured decision points: features, treatment done and its result, outcomes, accounts (fold groups)."""

    frame: FeatureFrame
    treatment: IntArray
    result: IntArray
    paid_7d: BoolArray
    paid_30d: BoolArray
    amount_30d: IntArray
    groups: IntArray
    day: IntArray | None = None
    #: False where the treatment was chosen by the plan from these very scores (not randomised): the
    #: treatment heads and amounts do not learn from those points (None: every point is usable).
    randomised: BoolArray | None = None
    #: Borrower-local hour of each point's contact (None: unknown); the model keeps the hour mix of the calls
    #: its heads learnt from, so a call planned at a better hour can be valued for it.
    hour: IntArray | None = None


def recency_weights(day: IntArray | None, half_life: float | None) -> FloatArray | None:
    """Weights halving every `half_life` days back from the latest point (None: equal weights)."""
    if day is None or half_life is None or day.size == 0:
        return None
    w = 0.5 ** ((day.max() - day) / half_life)
    return np.asarray(w * w.size / w.sum(), dtype=np.float64)


def fit_propensity(data: TrainingSet, *, k_folds: int = 3, head_c: float = 0.5, min_support: int = 30,
                   half_life_days: float | None = 14.0, seed: int = 0,
                   options: SecondStage = SecondStage()) -> PropensityModel:
    """Fit the base scores (cross-fitted by account), the heads and funnel on out-of-fold base logits."""
    k = len(TREATMENTS)
    splits = folds(n=data.frame.size, k=k_folds, groups=data.groups, seed=seed)
    base = fit_base(data.frame, data.paid_30d, splits=splits, seed=seed)
    enc = base.scorecard.encoder
    columns = np.asarray([i for i, (col, g) in enumerate(zip(enc.columns, enc.groups, strict=True))
                          if g in DRIVERS and "~s" not in col], dtype=np.int64)
    drivers = enc.transform(data.frame)[:, columns]
    mean, scale = drivers.mean(axis=0), drivers.std(axis=0) + 1e-9
    a = np.hstack([base.oof, (drivers - mean) / scale])
    # The heads calibrate: recent points weigh more, so the scale follows the book as it is now. They learn
    # treatment effects, so only from randomised points: where the plan chose the treatment from the scores,
    # the treatment follows what the last model believed and its effect cannot be told from the selection.
    free = np.ones(data.frame.size, dtype=bool) if data.randomised is None else np.asarray(data.randomised, bool)
    if free.sum() < MIN_RANDOMISED:
        free = np.ones(data.frame.size, dtype=bool)
    rows = np.flatnonzero(free)
    heads, funnel, amount, flat = _second_stage(a, data, rows, np.arange(data.frame.size), k=k, head_c=head_c,
                                                half_life_days=half_life_days, options=options)
    dpd = data.frame.num("dpd") if "dpd" in data.frame.numeric_names else np.ones(data.frame.size)
    support = np.zeros((k, 4), dtype=np.int64)
    np.add.at(support, (data.treatment, np.clip(bucket_code(dpd), 0, 3)), 1)
    model = PropensityModel(
        base=base, drivers=tuple(n for n in DRIVERS if n in enc.groups), driver_columns=columns, driver_mean=mean,
        driver_scale=scale, heads=heads, funnel=funnel, amount=amount, support=support,
        min_support=min_support, call_hour_mix=_hour_mix(data, rows), flat_induced=flat)
    if not options.calibrate_uplift:
        return model
    loading = uplift_calibration(model=model, a=a, data=data, rows=rows, head_c=head_c,
                                 half_life_days=half_life_days, seed=seed, options=options)
    return replace(model, uplift_loading=loading)


def _second_stage(a: FloatArray, data: TrainingSet, rows: IntArray, funnel_rows: IntArray, *, k: int,
                  head_c: float, half_life_days: float | None,
                  options: SecondStage) -> tuple[dict[str, Head], Funnel, AmountModel, FloatArray]:
    """Treatment heads and amounts on `rows`; the contact funnel's contact, promise and keep models on
    `funnel_rows` (every point of the accounts in play: their outcomes are the attempts' own results, which
    the plan's choice does not decide); its crowd-out on either (`options.crowd_on_randomised`)."""
    day = None if data.day is None else data.day[rows]
    weight = recency_weights(day, half_life_days)
    heads = {"p7": _fit_head(a[rows], data.treatment[rows], data.paid_7d[rows], k=k, c=head_c, weight=weight),
             "p30": _fit_head(a[rows], data.treatment[rows], data.paid_30d[rows], k=k, c=head_c, weight=weight)}
    funnel = _fit_funnel(a[funnel_rows], data.treatment[funnel_rows], data.result[funnel_rows],
                         data.paid_7d[funnel_rows])
    judged = rows if options.crowd_on_randomised else funnel_rows
    ar, tr = a[judged], data.treatment[judged]
    u = funnel.induced(ar)
    for name, y in (("p7", data.paid_7d[judged]), ("p30", data.paid_30d[judged])):
        none = sigmoid(heads[name].logits(ar)[:, NO_ACTION])
        kappa = np.ones(k)
        for t in CONVERSATIONAL:
            mine = tr == t
            kappa[t] = _crowd(p_none=none[mine], u=u[mine, t], y=np.asarray(y)[mine])
        funnel.crowd[name] = kappa
    u_free = u if judged is rows else funnel.induced(a[rows])  # the flat funnel: mean over randomised points
    flat = np.zeros(k)
    for t in CONVERSATIONAL:
        flat[t] = float(u_free[:, t].mean()) if rows.size else 0.0
    return heads, funnel, _fit_amount(a[rows], data.treatment[rows], data.amount_30d[rows], k=k,
                                      channel_amounts=options.channel_amounts), flat


def uplift_calibration(*, model: PropensityModel, a: FloatArray, data: TrainingSet, rows: IntArray, head_c: float,
                       half_life_days: float | None, seed: int, k_folds: int = 2,
                       min_points: int = CALIBRATION_MIN_POINTS,
                       options: SecondStage = SecondStage()) -> FloatArray:
    """Per treatment, the share of what the treatment-specific part of the model adds to the uplift that is real.

    Every treatment's uplift is split into a main-effect part M(x) — the treatment shifts the payment logit
    by a constant (heads) or brings its average induced-payment chance (calls) — whose differences between
    accounts come from their baseline P(pay) alone, and the rest R(x) = S(x) − M(x), the interactions and
    funnel models fitted per treatment. The second stage is refitted on part of the randomised points'
    accounts and scores the rest (cross-fitting; the first-stage inputs are already out of fold). On the
    held-out points that got treatment t or nothing, the best linear predictor of paying within 30 days
    (Chernozhukov, Demirer, Duflo & Fernández-Val, "Generic machine learning inference on heterogeneous
    treatment effects") is fitted with weights 1/(p(1 − p)):
    y = α₀ + α₁·B(x) + β₁(D − p) + β_M(D − p)(M − M̄) + β_R(D − p)(R − R̄),
    B the predicted P(pay) under no action, D = [got t], p its share in the account's bucket. β_R = 1 when
    R's differences are right on average, 0 when they are noise. The payment, not its amount, is the
    outcome: amounts are so dispersed that the loading on them is ±2–3 with a few thousand points, on the
    payment ±0.2–0.5. Scores then use M + clip(β_R, 0, 1)·R (in fen): a head whose account-to-account
    differences do not hold up on new accounts stops steering the plan — a plan picking the best-looking
    treatment per account otherwise picks exactly the accounts whose noise flatters it — while the main
    effect still follows each account (a borrower who will hardly pay gains little from any nudge).
    For calls M is the funnel at its mean induced-payment chance (κ·ū on top of each account's baseline) and R
    what the per-account contact, promise and keep models add. Treatments with fewer than `min_points`
    held-out points keep loading 1.
    """
    k = len(TREATMENTS)
    loading = np.ones(k)
    if rows.size < 2 * min_points:
        return loading
    rest, main, baseline = np.zeros((rows.size, k)), np.zeros((rows.size, k)), np.zeros(rows.size)
    for train, test in folds(n=rows.size, k=k_folds, groups=data.groups[rows], seed=seed + 1):
        others = np.flatnonzero(~np.isin(data.groups, data.groups[rows[test]]))
        heads, funnel, amount, flat = _second_stage(a, data, rows[train], others, k=k, head_c=head_c,
                                                    half_life_days=half_life_days, options=options)
        part = replace(model, heads=heads, funnel=funnel, amount=amount, flat_induced=flat)
        scored = part.score_inputs(a[rows[test]], bucket=_bucket(data, rows[test]))
        _, f30 = part.probabilities(a[rows[test]], scored.supported, flat=True)
        main[test] = f30 - f30[:, [NO_ACTION]]
        rest[test] = (scored.p30 - scored.p30[:, [NO_ACTION]]) - main[test]
        baseline[test] = scored.p30[:, NO_ACTION]
    y, treatment, bucket = data.paid_30d[rows].astype(np.float64), data.treatment[rows], _bucket(data, rows)
    for t in range(k):
        if t == NO_ACTION:
            continue
        pair = (treatment == t) | (treatment == NO_ACTION)
        if (treatment == t).sum() < min_points or (treatment == NO_ACTION).sum() < min_points:
            continue
        loading[t] = _blp_loading(y=y[pair], d=(treatment[pair] == t).astype(np.float64), bucket=bucket[pair],
                                  baseline=baseline[pair], uplift=rest[pair, t], main=main[pair, t])
    return loading


def _blp_loading(*, y: FloatArray, d: FloatArray, bucket: IntArray, baseline: FloatArray, uplift: FloatArray,
                 main: FloatArray | None = None) -> float:
    """The loading on `uplift` of the weighted best linear predictor (see uplift_calibration), clipped to [0, 1];
    `main`, when given, enters as a heterogeneity term of its own."""
    p = np.zeros(d.size)
    for b in np.unique(bucket):
        here = bucket == b
        p[here] = d[here].mean()
    ok = (p > 0.02) & (p < 0.98)
    if ok.sum() < 50 or np.std(uplift[ok]) <= 0:
        return 1.0
    dp = d[ok] - p[ok]
    columns = [np.ones(ok.sum()), baseline[ok], dp]
    if main is not None and np.std(main[ok]) > 0:
        columns.append(dp * (main[ok] - main[ok].mean()))
    columns.append(dp * (uplift[ok] - uplift[ok].mean()))
    x = np.column_stack(columns)
    root = np.sqrt(1.0 / (p[ok] * (1 - p[ok])))
    beta, *_ = np.linalg.lstsq(x * root[:, None], y[ok] * root, rcond=None)
    return float(np.clip(beta[-1], 0.0, 1.0))


def _bucket(data: TrainingSet, rows: IntArray) -> IntArray:
    dpd = data.frame.num("dpd")[rows] if "dpd" in data.frame.numeric_names else np.ones(rows.size)
    return bucket_code(dpd)


def _hour_mix(data: TrainingSet, rows: IntArray) -> FloatArray | None:
    """Share of the learnt-from robot and agent calls by local hour."""
    if data.hour is None:
        return None
    phone = np.isin(data.treatment[rows], [T_INDEX["robot_call"], T_INDEX["agent_call"]])
    counts = np.bincount(np.clip(data.hour[rows][phone], 0, 23), minlength=24)[:24].astype(np.float64)
    return counts / counts.sum() if counts.sum() else None


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
