"""The shared modelling path: feature encoding, a spline scorecard, a tree ensemble, cross-fitted stacking.

Every binary model in scoring (propensity by treatment, German-credit evaluation) goes through
these pieces, so the figures printed for one dataset say something about the others:

* `Encoder` — numeric features become a robust-scaled value, a restricted cubic spline (linear
  beyond the outer knots, so extreme values extrapolate calmly) and a missing-value flag;
  categorical ones become one-hot columns for levels seen often enough (by label, so a new level
  at scoring time is simply "other").
* `Scorecard` — L2 logistic regression on the encoding: interpretable, and the source of reason
  codes (each feature's contribution to the logit relative to the training average).
* `TreeModel` — gradient boosting (scikit-learn's histogram GBM) for large samples, a random forest
  for small ones, where bagging is the better bias/variance trade.
* `crossfit` — out-of-fold predictions (folds grouped by account, so an account's later days never
  grade its earlier ones), used to train the second stage on honest first-stage scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedKFold

from buyu.scoring.features import FeatureFrame

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SMALL_SAMPLE = 5_000
CHUNK = 100_000
#: Ensemble sizes (module-level so a quick test run can shrink them).
GBM_ITERATIONS = 80
FOREST_TREES = 400


def logit(p: npt.ArrayLike) -> FloatArray:
    """log(p / (1 − p)) with p clipped away from 0 and 1."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q / (1 - q)), dtype=np.float64)


def sigmoid(x: npt.ArrayLike) -> FloatArray:
    """1 / (1 + e^−x), overflow-safe."""
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, dtype=np.float64), -40, 40))), dtype=np.float64)


def _rcs(x: FloatArray, knots: FloatArray) -> FloatArray:
    """Restricted cubic spline basis (Harrell): k − 2 columns, linear beyond the boundary knots."""
    k = knots.size
    if k < 3:
        return np.zeros((x.size, 0))
    cubes = []
    for t in knots:
        v = np.maximum(x - t, 0.0)
        cubes.append(v * v * v)
    t_k, t_k1 = knots[-1], knots[-2]
    norm = (t_k - knots[0]) ** 2 or 1.0
    out = np.empty((x.size, k - 2))
    for j in range(k - 2):
        a, b = (t_k - knots[j]) / (t_k - t_k1), (t_k1 - knots[j]) / (t_k - t_k1)
        out[:, j] = (cubes[j] - cubes[k - 2] * a + cubes[k - 1] * b) / norm
    return out


@dataclass(frozen=True)
class _NumericCode:
    name: str
    median: float
    scale: float
    knots: FloatArray
    missing: bool


@dataclass(frozen=True)
class Encoder:
    """Fitted encoding of a FeatureFrame into a dense design matrix (columns grouped by feature)."""

    numeric: tuple[_NumericCode, ...]
    categorical: tuple[tuple[str, tuple[str, ...]], ...]  # (feature, kept levels)
    columns: tuple[str, ...]
    groups: tuple[str, ...]  # the feature each column belongs to

    @staticmethod
    def fit(frame: FeatureFrame, *, knots: int = 4, min_count: int = 20) -> Encoder:
        """Learn scales, knots and kept levels from a training frame."""
        num = []
        for j, name in enumerate(frame.numeric_names):
            x = frame.numeric[:, j]
            ok = x[np.isfinite(x)]
            if ok.size == 0 or (float(ok.max()) == float(ok.min()) and ok.size == x.size):
                continue  # nothing to learn from a column that never varies
            med = float(np.median(ok))
            q1, q3 = np.quantile(ok, [0.25, 0.75])
            scale = float(q3 - q1) or float(ok.std()) or 1.0
            kn = np.unique(np.quantile(ok, np.linspace(0.05, 0.95, knots)))
            num.append(_NumericCode(name, med, scale, (kn - med) / scale, bool((~np.isfinite(x)).any())))
        cats = []
        for j, name in enumerate(frame.categorical_names):
            counts = np.bincount(frame.categorical[:, j], minlength=len(frame.levels[j]))
            kept = tuple(frame.levels[j][k] for k in np.argsort(-counts)[1:] if counts[k] >= min_count)
            cats.append((name, kept))  # the most common level is the reference
        columns, groups = [], []
        for code in num:
            extra = max(code.knots.size - 2, 0) if code.knots.size >= 3 else 0
            columns += [code.name] + [f"{code.name}~s{k}" for k in range(extra)] + (
                [f"{code.name}~missing"] if code.missing else [])
            groups += [code.name] * (1 + extra + int(code.missing))
        for name, kept in cats:
            columns += [f"{name}={v}" for v in kept]
            groups += [name] * len(kept)
        return Encoder(numeric=tuple(num), categorical=tuple(cats), columns=tuple(columns), groups=tuple(groups))

    def transform(self, frame: FeatureFrame) -> FloatArray:
        """The design matrix of a frame (float64; call on chunks for very large frames)."""
        out = np.empty((frame.size, len(self.columns)))
        col = 0
        for code in self.numeric:
            x = frame.num(code.name)
            missing = ~np.isfinite(x)
            z = np.clip((np.where(missing, code.median, x) - code.median) / code.scale, -10, 10)
            out[:, col] = z
            col += 1
            if code.knots.size >= 3:
                width = code.knots.size - 2
                out[:, col:col + width] = _rcs(z, code.knots)
                col += width
            if code.missing:
                out[:, col] = missing
                col += 1
        for name, kept in self.categorical:
            codes, levels = frame.cat(name)
            for v in kept:
                # Compare codes, not strings: the level's code in this frame (absent levels match nothing).
                out[:, col] = codes == levels.index(v) if v in levels else 0.0
                col += 1
        return out


@dataclass(frozen=True)
class Scorecard:
    """L2 logistic regression on the encoding, with the means used for reason codes."""

    encoder: Encoder
    coef: FloatArray
    intercept: float
    mean: FloatArray

    @staticmethod
    def fit(frame: FeatureFrame, y: npt.ArrayLike, *, c: float = 0.3, encoder: Encoder | None = None) -> Scorecard:
        """Fit on a training frame."""
        enc = encoder or Encoder.fit(frame)
        design = enc.transform(frame)
        model = LogisticRegression(C=c, max_iter=2000).fit(design, np.asarray(y, dtype=np.int64))
        return Scorecard(encoder=enc, coef=model.coef_[0].astype(np.float64), intercept=float(model.intercept_[0]),
                         mean=design.mean(axis=0))

    def logit(self, frame: FeatureFrame) -> FloatArray:
        """Scorecard logit per row (chunked)."""
        out = np.empty(frame.size)
        for k in range(0, frame.size, CHUNK):
            part = frame.take(np.arange(k, min(k + CHUNK, frame.size)))
            out[k:k + part.size] = self.encoder.transform(part) @ self.coef + self.intercept
        return out

    def contributions(self, frame: FeatureFrame) -> tuple[FloatArray, tuple[str, ...]]:
        """Per-feature logit contribution relative to the training average: (rows × features, names)."""
        names = tuple(dict.fromkeys(self.encoder.groups))
        design = self.encoder.transform(frame)
        weighted = (design - self.mean) * self.coef
        group = np.asarray([names.index(g) for g in self.encoder.groups], dtype=np.int64)
        out = np.zeros((frame.size, len(names)))
        for j in range(len(names)):
            out[:, j] = weighted[:, group == j].sum(axis=1)
        return out, names


@dataclass(frozen=True)
class TreeModel:
    """A tree ensemble on raw features (categoricals as codes of the training levels)."""

    kind: str  # "gbm" | "forest"
    model: HistGradientBoostingClassifier | RandomForestClassifier
    levels: tuple[tuple[str, ...], ...]
    keep: IntArray  # numeric columns with at least two distinct values in training
    onehot: bool

    @staticmethod
    def fit(frame: FeatureFrame, y: npt.ArrayLike, *, seed: int = 0) -> TreeModel:
        """Boosting when the sample is large, a forest when it is small."""
        yy = np.asarray(y, dtype=np.int64)
        levels = frame.levels
        keep = np.asarray([j for j in range(frame.numeric.shape[1])
                           if np.unique(frame.numeric[np.isfinite(frame.numeric[:, j]), j]).size > 1], dtype=np.int64)
        if frame.size >= SMALL_SAMPLE:
            x = _tree_matrix(frame, levels=levels, keep=keep, onehot=False)
            cats = list(range(keep.size, x.shape[1]))
            gbm = HistGradientBoostingClassifier(
                max_iter=GBM_ITERATIONS, learning_rate=0.12, max_leaf_nodes=15, min_samples_leaf=50,
                l2_regularization=1.0, categorical_features=cats or None, early_stopping=False, random_state=seed)
            return TreeModel("gbm", gbm.fit(x, yy), levels, keep, onehot=False)
        x = _tree_matrix(frame, levels=levels, keep=keep, onehot=True)
        forest = RandomForestClassifier(n_estimators=FOREST_TREES, min_samples_leaf=2, max_features="sqrt", n_jobs=2,
                                        random_state=seed)
        return TreeModel("forest", forest.fit(x, yy), levels, keep, onehot=True)

    def logit(self, frame: FeatureFrame) -> FloatArray:
        """Tree logit per row."""
        out = np.empty(frame.size)
        for k in range(0, frame.size, CHUNK * 2):
            part = frame.take(np.arange(k, min(k + CHUNK * 2, frame.size)))
            x = _tree_matrix(part, levels=self.levels, keep=self.keep, onehot=self.onehot)
            if isinstance(self.model, HistGradientBoostingClassifier):
                out[k:k + part.size] = np.asarray(self.model.decision_function(x), dtype=np.float64)
            else:
                out[k:k + part.size] = logit(np.clip(self.model.predict_proba(x)[:, 1], 0.002, 0.998))
        return out


def _tree_matrix(frame: FeatureFrame, *, levels: tuple[tuple[str, ...], ...], keep: IntArray,
                 onehot: bool) -> FloatArray:
    """Numeric columns (NaN kept for boosting, −1 for the forest) and categorical codes of the training levels."""
    numeric = frame.numeric[:, keep]
    cols = [numeric if not onehot else np.nan_to_num(numeric, nan=-1.0)]
    for j in range(len(frame.categorical_names)):
        index = {v: i for i, v in enumerate(levels[j])}
        codes = np.asarray([index.get(str(v), -1) for v in frame.levels[j]], dtype=np.int64)[frame.categorical[:, j]]
        if onehot:
            cols.append(np.column_stack([codes == i for i in range(len(levels[j]))]).astype(np.float64))
        else:
            cols.append(np.where(codes >= 0, codes, np.nan).astype(np.float64)[:, None])
    return np.hstack(cols)


def folds(*, n: int, k: int, groups: npt.ArrayLike | None = None, y: npt.ArrayLike | None = None,
          seed: int = 0) -> list[tuple[IntArray, IntArray]]:
    """K train/test index splits: grouped (no group in two folds) when groups are given, else stratified."""
    idx = np.arange(n)
    if groups is not None:
        g = np.asarray(groups)
        # GroupKFold is deterministic; shuffle the group labels first so folds are not ordered by id.
        uniq, inv = np.unique(g, return_inverse=True)
        perm = np.random.default_rng(seed).permutation(uniq.size)
        return [(np.asarray(a), np.asarray(b)) for a, b in GroupKFold(n_splits=k).split(idx, groups=perm[inv])]
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(idx, np.asarray(y))]


def crossfit(*, n: int, splits: Sequence[tuple[IntArray, IntArray]],
             fit_predict: Callable[[IntArray, IntArray], FloatArray]) -> FloatArray:
    """Out-of-fold predictions: each row scored by a model that never saw its fold."""
    out = np.full(n, np.nan)
    for train, test in splits:
        out[test] = fit_predict(train, test)
    return out


@dataclass(frozen=True)
class BaseScores:
    """The first stage: a scorecard and a tree model, and their out-of-fold logits for the second stage.

    New rows get the tree model refitted on all rows and the average of the fold scorecards (a
    linear model, so one matrix product), which keeps the scorecard logits' spread close to the
    out-of-fold logits the second stage learned from. `scorecard` (refitted on all rows) gives the
    reason codes.
    """

    scorecard: Scorecard
    card_coef: FloatArray  # the fold scorecards' average
    card_intercept: float
    tree: TreeModel
    oof: FloatArray  # (rows, 2): scorecard and tree logits, out of fold

    def logits(self, frame: FeatureFrame, *, design: FloatArray | None = None) -> FloatArray:
        """(rows, 2) first-stage logits of new rows (pass the encoder's design if already computed)."""
        if design is None:
            card = np.empty(frame.size)
            for k in range(0, frame.size, CHUNK):
                part = frame.take(np.arange(k, min(k + CHUNK, frame.size)))
                card[k:k + part.size] = self.scorecard.encoder.transform(part) @ self.card_coef + self.card_intercept
        else:
            card = design @ self.card_coef + self.card_intercept
        return np.column_stack([card, self.tree.logit(frame)])


def fit_base(frame: FeatureFrame, y: npt.ArrayLike, *, splits: Sequence[tuple[IntArray, IntArray]],
             c: float = 0.3, seed: int = 0) -> BaseScores:
    """Fit the first stage per fold for out-of-fold logits, then the models used for new rows."""
    yy = np.asarray(y, dtype=np.int64)
    encoder = Encoder.fit(frame)
    cards: list[Scorecard] = []

    def card(train: IntArray, test: IntArray) -> FloatArray:
        cards.append(Scorecard.fit(frame.take(train), yy[train], c=c, encoder=encoder))
        return cards[-1].logit(frame.take(test))

    def tree(train: IntArray, test: IntArray) -> FloatArray:
        return TreeModel.fit(frame.take(train), yy[train], seed=seed).logit(frame.take(test))

    oof = np.column_stack([crossfit(n=frame.size, splits=splits, fit_predict=card),
                           crossfit(n=frame.size, splits=splits, fit_predict=tree)])
    return BaseScores(scorecard=Scorecard.fit(frame, yy, c=c, encoder=encoder),
                      card_coef=np.mean([x.coef for x in cards], axis=0),
                      card_intercept=float(np.mean([x.intercept for x in cards])),
                      tree=TreeModel.fit(frame, yy, seed=seed), oof=oof)
