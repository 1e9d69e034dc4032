"""Model metrics on arrays: AUC, calibration (ECE), PSI and uplift (Qini), all pure numpy.

They live here rather than being imported from scikit-learn one by one so every metric the
registry, the monitors and the evaluation print is defined (and tested) in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def auc(*, y: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Area under the ROC curve (ties counted half); NaN when only one class is present."""
    yy = np.asarray(y, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    pos, neg = int(yy.sum()), int((~yy).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[yy].sum() - pos * (pos + 1) / 2) / (pos * neg))


def ece(*, y: npt.ArrayLike, p: npt.ArrayLike, bins: int = 10, equal_width: bool = False) -> float:
    """Expected calibration error: Σ (n_b / n) · |mean(y_b) − mean(p_b)| over bins.

    Equal-count bins by default (every bin holds the same number of rows); `equal_width` uses bins
    of the probability scale [0, 1) instead (the Guo et al. 2017 convention, usually with 15 bins).
    """
    yy = np.asarray(y, dtype=np.float64)
    pp = np.asarray(p, dtype=np.float64)
    if yy.size == 0:
        return float("nan")
    if equal_width:
        which = np.minimum((np.clip(pp, 0.0, 1.0) * bins).astype(np.int64), bins - 1)
        parts = [np.flatnonzero(which == b) for b in range(bins)]
    else:
        parts = np.array_split(np.argsort(pp, kind="stable"), min(bins, yy.size))
    total = 0.0
    for part in parts:
        if part.size:
            total += part.size * abs(float(yy[part].mean()) - float(pp[part].mean()))
    return total / yy.size


def reliability(*, y: npt.ArrayLike, p: npt.ArrayLike, bins: int = 10) -> list[dict[str, float]]:
    """Predicted vs observed rate per equal-count bin (for model cards and reports)."""
    yy = np.asarray(y, dtype=np.float64)
    pp = np.asarray(p, dtype=np.float64)
    order = np.argsort(pp, kind="stable")
    return [{"n": int(part.size), "predicted": round(float(pp[part].mean()), 4),
             "observed": round(float(yy[part].mean()), 4)}
            for part in np.array_split(order, min(bins, max(yy.size, 1))) if part.size]


# --------------------------------------------------------------------------- stability


@dataclass(frozen=True, slots=True)
class Reference:
    """A training-window distribution to compare later populations with (PSI).

    Numeric: `edges` are inner quantile cut points and `shares` the training share per bin, with a
    last bin for missing values. Categorical: `edges` is empty and bins are the category codes.
    """

    name: str
    edges: tuple[float, ...]
    shares: tuple[float, ...]
    categorical: bool = False

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (stored with the model version)."""
        return {"name": self.name, "edges": list(self.edges), "shares": list(self.shares),
                "categorical": self.categorical}

    @staticmethod
    def from_dict(data: dict[str, object]) -> Reference:
        """Inverse of `to_dict`."""
        edges = data["edges"]
        shares = data["shares"]
        assert isinstance(edges, list) and isinstance(shares, list)
        return Reference(name=str(data["name"]), edges=tuple(float(x) for x in edges),
                         shares=tuple(float(x) for x in shares), categorical=bool(data["categorical"]))


def reference_numeric(*, name: str, values: npt.ArrayLike, bins: int = 10) -> Reference:
    """Decile cut points of the training values (missing values get their own bin)."""
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])) if finite.size else np.array([])
    return Reference(name=name, edges=tuple(float(e) for e in edges), shares=tuple(_numeric_shares(v, edges)))


def reference_categorical(*, name: str, codes: npt.ArrayLike, levels: int) -> Reference:
    """Training share of each category code 0..levels−1."""
    c = np.asarray(codes, dtype=np.int64)
    counts = np.bincount(np.clip(c, 0, levels - 1), minlength=levels).astype(np.float64)
    return Reference(name=name, edges=(), shares=tuple(counts / max(c.size, 1)), categorical=True)


def _numeric_shares(v: FloatArray, edges: npt.ArrayLike) -> list[float]:
    e = np.asarray(edges, dtype=np.float64)
    finite = np.isfinite(v)
    counts = np.bincount(np.searchsorted(e, v[finite], side="right"), minlength=e.size + 1).astype(np.float64)
    counts = np.append(counts, float((~finite).sum()))
    return list(counts / max(v.size, 1))


def psi(*, reference: Reference, values: npt.ArrayLike) -> float:
    """Population stability index of `values` against the reference: Σ (a − e) · ln(a / e), shares floored."""
    v = np.asarray(values)
    if reference.categorical:
        levels = len(reference.shares)
        counts = np.bincount(np.clip(v.astype(np.int64), 0, levels - 1), minlength=levels).astype(np.float64)
        actual = counts / max(v.size, 1)
    else:
        actual = np.asarray(_numeric_shares(v.astype(np.float64), reference.edges))
    expected = np.asarray(reference.shares, dtype=np.float64)
    a, e = np.maximum(actual, 1e-4), np.maximum(expected, 1e-4)
    return float(((a - e) * np.log(a / e)).sum())


# --------------------------------------------------------------------------- uplift


@dataclass(frozen=True, slots=True)
class UpliftCurve:
    """Realised incremental outcome when treating the top fraction of a ranking (randomised data).

    At each fraction f of the ranked population: incremental(f) = Σ_treated y − Σ_control y ×
    n_treated / n_control among the top f (the Qini curve). `qini` is the area between the curve
    and the random-targeting line, as a share of the total incremental outcome.
    """

    fractions: FloatArray
    incremental: FloatArray
    qini: float
    total: float

    def at(self, fraction: float) -> float:
        """Incremental outcome when treating the top `fraction`."""
        return float(np.interp(fraction, self.fractions, self.incremental))


def uplift_curve(*, score: npt.ArrayLike, treated: npt.ArrayLike, y: npt.ArrayLike, points: int = 20) -> UpliftCurve:
    """Qini curve of a ranking (highest score first) on randomised treated/control data."""
    s = np.asarray(score, dtype=np.float64)
    t = np.asarray(treated, dtype=bool)
    yy = np.asarray(y, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    t, yy = t[order], yy[order]
    nt, nc = np.cumsum(t), np.cumsum(~t)
    yt, yc = np.cumsum(np.where(t, yy, 0.0)), np.cumsum(np.where(t, 0.0, yy))
    fractions = np.linspace(0.0, 1.0, points + 1)
    idx = np.clip((fractions * s.size).astype(np.int64) - 1, 0, s.size - 1)
    inc = np.where(nc[idx] > 0, yt[idx] - yc[idx] * nt[idx] / np.maximum(nc[idx], 1), 0.0)
    inc[0] = 0.0
    total = float(inc[-1])
    area = float(np.trapezoid(inc, fractions) - total / 2)
    return UpliftCurve(fractions=fractions, incremental=inc, qini=area / abs(total) if total else 0.0, total=total)
