"""Metrics: AUC, calibration error, PSI and the Qini curve on arrays with known answers."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from buyu.scoring.metrics import auc, ece, psi, reference_categorical, reference_numeric, uplift_curve


def test_auc_matches_scikit_learn_including_ties() -> None:
    """Our AUC (ties counted half) equals scikit-learn's on random scores with ties."""
    rng = np.random.default_rng(1)
    y = rng.random(500) < 0.3
    s = np.round(rng.random(500) + 0.3 * y, 1)
    assert abs(auc(y=y, score=s) - roc_auc_score(y, s)) < 1e-12
    assert np.isnan(auc(y=np.ones(4, dtype=bool), score=np.arange(4)))


def test_ece_is_small_for_calibrated_and_large_for_shifted_probabilities() -> None:
    """Outcomes drawn from p give an ECE near 0; reporting p + 0.2 gives about 0.2."""
    rng = np.random.default_rng(2)
    p = rng.random(50_000)
    y = rng.random(p.size) < p
    assert ece(y=y, p=p) < 0.01
    assert abs(ece(y=y, p=np.clip(p + 0.2, 0, 1)) - 0.18) < 0.03


def test_psi_is_zero_for_the_same_population_and_large_for_a_shift() -> None:
    """PSI of the training sample against itself is ~0; a one-sd shift is well above the 0.25 alarm."""
    rng = np.random.default_rng(3)
    train = rng.normal(size=20_000)
    ref = reference_numeric(name="x", values=train)
    assert psi(reference=ref, values=rng.normal(size=20_000)) < 0.01
    assert psi(reference=ref, values=rng.normal(1.0, 1.0, 20_000)) > 0.25
    cat = reference_categorical(name="c", codes=np.repeat([0, 1, 2], [600, 300, 100]), levels=3)
    assert psi(reference=cat, values=np.repeat([0, 1, 2], [100, 300, 600])) > 0.25


def test_qini_rewards_ranking_the_persuadable_first() -> None:
    """With the true effect known, ranking by it has a higher Qini than ranking against it."""
    rng = np.random.default_rng(4)
    n = 20_000
    effect = rng.random(n) * 0.4
    treated = rng.random(n) < 0.5
    y = (rng.random(n) < 0.2 + treated * effect).astype(float)
    good = uplift_curve(score=effect, treated=treated, y=y)
    bad = uplift_curve(score=-effect, treated=treated, y=y)
    assert good.qini > 0.1 > bad.qini
    assert good.at(1.0) == good.total


def test_equal_width_ece_bins_the_probability_scale() -> None:
    """Equal-width bins group scores by value: 0.12 and 0.18 share the [0.1, 0.2) bin of 10 (their gaps cancel),
    while equal-count bins of one row each add both gaps."""
    p = np.array([0.12, 0.18])
    y = np.array([0.22, 0.08])  # fractional outcomes make the bin arithmetic exact
    assert abs(ece(y=y, p=p, bins=10, equal_width=True) - 0.0) < 1e-12
    assert abs(ece(y=y, p=p, bins=2) - 0.10) < 1e-12
    assert abs(ece(y=np.zeros(4), p=np.full(4, 0.999), bins=15, equal_width=True) - 0.999) < 1e-12
