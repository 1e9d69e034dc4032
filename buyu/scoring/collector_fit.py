"""Collector scores and debtor–collector fit, with empirical-Bayes shrinkage (pure).

A collector's effect is measured where collectors differ: whether a right-party conversation ends
in a promise to pay, against what the propensity model's contact funnel expected of the same
account and channel without knowing who worked it (a payment within 7 days is too rare and too
late an outcome to separate collectors on a few months of calls). On the logit scale, one Newton
step from
the expectation gives θ̂ = Σ(y − p̂) / Σ p̂(1 − p̂) with variance 1 / Σ p̂(1 − p̂) (the information).
Effects are layered — a general effect per collector, then deviations by bucket, balance band,
language and region — and every layer is shrunk towards zero with a normal prior whose variance τ²
is estimated from the spread of all collectors' estimates (maximum likelihood of the
estimates' normal approximation; each layer measured against peers in the same segment):

    θ̃ = θ̂ · τ² / (τ² + v)

so a collector with three calls keeps almost none of their raw rate, and one with thousands keeps
nearly all of it. The fit score the optimizer uses per (account, collector) pair is
P(collect | debtor, collector) = P(pay within 7 days) through the funnel with the promise logit moved
by θ̃_c + Σ_dim δ̃_c,dim(segment) (`PropensityModel.collect_probability`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from buyu.scoring.features import STAFFED, FeatureFrame, Points
from buyu.scoring.learner import logit, sigmoid

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DIMENSIONS: tuple[str, ...] = ("bucket", "balance_band", "language", "region")
#: Balance bands (fen of outstanding balance): small < 5,000 yuan ≤ medium < 20,000 yuan ≤ large.
BALANCE_EDGES_FEN: tuple[int, ...] = (500_000, 2_000_000)


def balance_band(outstanding_fen: npt.ArrayLike) -> IntArray:
    """0 small, 1 medium, 2 large."""
    return np.searchsorted(np.asarray(BALANCE_EDGES_FEN), np.asarray(outstanding_fen), side="right").astype(np.int64)


@dataclass(frozen=True)
class Shrunk:
    """Raw and shrunk effects of one layer: arrays over (collector, level)."""

    raw: FloatArray
    shrunk: FloatArray
    info: FloatArray  # Σ p(1 − p): the evidence behind each cell
    n: IntArray
    tau2: float


def _tau2(raw: FloatArray, var: FloatArray) -> float:
    """Maximum-likelihood prior variance of cell effects, raw ~ N(0, τ² + v), over a grid (0 allowed).

    A moment estimate is dominated by cells with almost no evidence (a single surprise on a tiny
    expected count), which inflates τ² and leaves noise unshrunk; the likelihood weighs each cell by
    its own precision.
    """
    grid = np.concatenate([[0.0], np.logspace(-4, 1, 81)])
    total = var[None, :] + grid[:, None]
    loglik = -0.5 * (np.log(total) + raw[None, :] ** 2 / total).sum(axis=1)
    return float(grid[int(np.argmax(loglik))])


def _layer(*, coll: IntArray, level: IntArray, y: FloatArray, p: FloatArray, shape: tuple[int, int]) -> Shrunk:
    """One-step logit effects per (collector, level) cell, shrunk with a moment estimate of τ²."""
    resid = np.zeros(shape)
    info = np.zeros(shape)
    n = np.zeros(shape, dtype=np.int64)
    np.add.at(resid, (coll, level), y - p)
    np.add.at(info, (coll, level), p * (1 - p))
    np.add.at(n, (coll, level), 1)
    seen = info > 1e-9
    raw = np.where(seen, resid / np.maximum(info, 1e-9), 0.0)
    var = np.where(seen, 1.0 / np.maximum(info, 1e-9), np.inf)
    tau2 = _tau2(raw[seen], var[seen]) if seen.sum() >= 2 else 0.0
    shrunk = np.where(seen, raw * tau2 / (tau2 + var), 0.0) if tau2 > 0 else np.zeros(shape)
    return Shrunk(raw=raw, shrunk=shrunk, info=info, n=n, tau2=tau2)


def _recentred(y: FloatArray, p: FloatArray, level: IntArray, width: int) -> FloatArray:
    """Expectations moved by each level's common miss (one Newton step), so a layer measures collectors
    against their peers in the segment: a segment the funnel misjudges for everyone is no collector's effect."""
    resid = np.bincount(level, weights=y - p, minlength=width)
    info = np.bincount(level, weights=p * (1 - p), minlength=width)
    shift = np.where(info > 1e-9, resid / np.maximum(info, 1e-9), 0.0)
    return sigmoid(logit(p) + shift[level])


@dataclass(frozen=True)
class CollectorFit:
    """Fitted collector effects: general and per dimension, indexed by collector position and level."""

    collector_ids: IntArray  # sorted
    general: Shrunk
    layers: dict[str, Shrunk]
    levels: dict[str, tuple[str, ...]]
    #: Prior variance τ² of each layer (0 means the data showed no real differences between collectors).
    tau2: dict[str, float] = field(default_factory=dict)

    def position(self, collector_id: npt.ArrayLike) -> IntArray:
        """Position of each collector id, −1 for collectors never seen."""
        c = np.asarray(collector_id, dtype=np.int64)
        pos = np.searchsorted(self.collector_ids, c)
        safe = np.minimum(pos, max(self.collector_ids.size - 1, 0))
        ok = (self.collector_ids.size > 0) & (self.collector_ids[safe] == c)
        return np.where(ok, safe, -1).astype(np.int64)

    def effect(self, *, collector_id: npt.ArrayLike, segments: dict[str, IntArray]) -> FloatArray:
        """Shrunk logit effect of each (row, collector) pair; 0 for unknown collectors."""
        pos = self.position(collector_id)
        safe = np.maximum(pos, 0)
        total = self.general.shrunk[safe, 0].copy()
        for dim, layer in self.layers.items():
            level = np.clip(np.asarray(segments[dim], dtype=np.int64), 0, layer.shrunk.shape[1] - 1)
            total += layer.shrunk[safe, level]
        return np.where(pos >= 0, total, 0.0)

    def fit_score(self, *, p: npt.ArrayLike, collector_id: npt.ArrayLike, segments: dict[str, IntArray]) -> FloatArray:
        """P(collect | debtor, collector) for aligned rows."""
        return sigmoid(logit(p) + self.effect(collector_id=collector_id, segments=segments))

    def matrix(self, *, p: npt.ArrayLike, collector_ids: npt.ArrayLike, segments: dict[str, IntArray]) -> FloatArray:
        """(accounts, collectors) fit scores: every account against every listed collector."""
        base = logit(p)
        ids = np.asarray(collector_ids, dtype=np.int64)
        out = np.empty((base.size, ids.size))
        for j, cid in enumerate(ids):
            out[:, j] = sigmoid(base + self.effect(collector_id=np.full(base.size, cid), segments=segments))
        return out

    def table(self) -> list[dict[str, object]]:
        """Per collector: attempts, general effect (raw and shrunk) and the shrunk effect per segment level."""
        rows = []
        for i, cid in enumerate(self.collector_ids):
            row: dict[str, object] = {
                "collector_id": int(cid), "attempts": int(self.general.n[i, 0]),
                "effect_raw": round(float(self.general.raw[i, 0]), 4),
                "effect": round(float(self.general.shrunk[i, 0]), 4)}
            for dim, layer in self.layers.items():
                row[dim] = {self.levels[dim][k]: round(float(layer.shrunk[i, k]), 4)
                            for k in range(layer.shrunk.shape[1]) if layer.n[i, k] > 0}
            rows.append(row)
        return rows


def fit_collectors(*, collector_id: npt.ArrayLike, y: npt.ArrayLike, p: npt.ArrayLike, segments: dict[str, IntArray],
                   levels: dict[str, tuple[str, ...]]) -> CollectorFit:
    """Layered, shrunk effects from staffed attempts: outcome y against expectation p."""
    cid = np.asarray(collector_id, dtype=np.int64)
    ids = np.unique(cid)
    pos = np.searchsorted(ids, cid)
    yy = np.asarray(y, dtype=np.float64)
    pp = np.clip(np.asarray(p, dtype=np.float64), 1e-4, 1 - 1e-4)
    zero = np.zeros_like(pos)
    general = _layer(coll=pos, level=zero, y=yy, p=_recentred(yy, pp, zero, 1), shape=(ids.size, 1))
    offset = logit(pp) + general.shrunk[pos, 0]
    layers = {}
    for dim in DIMENSIONS:
        if dim not in segments:
            continue
        level = np.asarray(segments[dim], dtype=np.int64)
        width = max(len(levels.get(dim, ())), int(level.max(initial=0)) + 1)
        base = _recentred(yy, sigmoid(offset), level, width)
        layers[dim] = _layer(coll=pos, level=level, y=yy, p=base, shape=(ids.size, width))
    return CollectorFit(collector_ids=ids.astype(np.int64), general=general, layers=layers,
                        levels={d: levels.get(d, tuple(str(k) for k in range(layers[d].shrunk.shape[1])))
                                for d in layers},
                        tau2={"general": general.tau2, **{d: layers[d].tau2 for d in layers}})


def collector_segments(frame: FeatureFrame) -> tuple[dict[str, IntArray], dict[str, tuple[str, ...]]]:
    """Segments of decision-point rows: bucket, balance band, language, region (codes and levels)."""
    segments, levels = {}, {}
    for name in ("bucket", "language", "region"):
        segments[name], levels[name] = frame.cat(name)
    segments["balance_band"] = balance_band(np.expm1(frame.num("log_outstanding")) * 100)
    levels["balance_band"] = ("small", "medium", "large")
    return segments, levels


def train_collector_fit(*, model: Any, frame: FeatureFrame, points: Points) -> CollectorFit:
    """Fit collector effects on staffed right-party conversations: promise made vs the funnel's expectation."""
    talked = np.isin(points.treatment, STAFFED) & (points.collector > 0) & (points.result >= 2)
    rows = np.flatnonzero(talked)
    a = model.inputs(frame.take(rows))
    expected = model.promise_probability(a, points.treatment[rows])
    segments, levels = collector_segments(frame.take(rows))
    return fit_collectors(collector_id=points.collector[rows], y=points.result[rows] == 3, p=expected,
                          segments=segments, levels=levels)
