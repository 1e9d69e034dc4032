"""The uplift loading: how much of a head's predicted account-to-account differences in uplift is real."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from buyu.scoring.features import NO_ACTION, T_INDEX, FeatureFrame
from buyu.scoring.propensity import SecondStage, TrainingSet, _blp_loading, fit_propensity

SMS, ROBOT = T_INDEX["sms"], T_INDEX["robot_call"]


def _trial(*, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A randomised trial whose true uplift τ(x) in P(pay) ranges over 0–0.3 with the account's x."""
    rng = np.random.default_rng(seed)
    x = rng.random(n)
    tau = 0.3 * x
    base = 0.2 + 0.2 * rng.random(n)
    d = (rng.random(n) < 0.5).astype(np.float64)
    y = (rng.random(n) < base + d * tau).astype(np.float64)
    return y, d, base, tau, rng.normal(0.0, 0.1, n)


@pytest.mark.parametrize(("predicted", "low", "high"), [
    ("truth", 0.8, 1.0),  # right on average: kept (the loading is capped at 1)
    ("noise", 0.0, 0.15),  # unrelated to the truth: dropped
    ("doubled", 0.35, 0.65),  # twice as spread out as the truth: halved
])
def test_the_loading_measures_how_much_predicted_heterogeneity_is_real(predicted: str, low: float,
                                                                        high: float) -> None:
    y, d, base, tau, noise = _trial(n=60_000, seed=11)
    uplift = {"truth": tau, "noise": noise, "doubled": 2 * tau - 0.15}[predicted]
    loading = _blp_loading(y=y, d=d, bucket=np.zeros(y.size, dtype=np.int64), baseline=base, uplift=uplift)
    assert low <= loading <= high


def test_the_loading_uses_each_buckets_own_treatment_share() -> None:
    """Treatment shares that differ by bucket (what a random allowed treatment gives) do not bias the loading."""
    rng = np.random.default_rng(3)
    n = 60_000
    bucket = rng.integers(0, 2, n)
    x = rng.random(n)
    tau = 0.3 * x
    d = (rng.random(n) < np.where(bucket == 0, 0.2, 0.7)).astype(np.float64)
    base = 0.1 + 0.3 * bucket  # the bucket with more treatment also pays more anyway
    y = (rng.random(n) < base + d * tau).astype(np.float64)
    assert _blp_loading(y=y, d=d, bucket=bucket, baseline=base, uplift=tau) > 0.8


def test_a_model_shrinks_what_each_treatment_adds_beyond_its_main_effect_by_its_loading() -> None:
    """fit_propensity measures a loading in [0, 1] per treatment on cross-fitted randomised points; scoring uses
    main-effect uplift + loading × (full uplift − main-effect uplift), so with loading 0 each account gets the
    main-effect model's uplift (a constant logit shift for SMS, the mean induced chance for a call) and with
    loading 1 the full model's. Probabilities are not touched."""
    rng = np.random.default_rng(8)
    n = 6000
    x = rng.normal(size=n)
    dpd = rng.integers(1, 30, size=n).astype(np.float64)
    treatment = rng.choice([SMS, ROBOT, NO_ACTION], size=n).astype(np.int64)
    rpc = (treatment == ROBOT) & (rng.random(n) < 1 / (1 + np.exp(-x)))
    promise = rpc & (rng.random(n) < 0.5)
    result = np.where(promise, 3, np.where(rpc, 2, 0)).astype(np.int64)
    p = 1 / (1 + np.exp(-(-1.0 + x + 0.4 * (treatment == SMS) * (x > 0))))
    paid = (rng.random(n) < p) | (promise & (rng.random(n) < 0.7))
    frame = FeatureFrame(numeric=np.column_stack([x, dpd]), numeric_names=("x", "dpd"),
                         categorical=np.zeros((n, 0), dtype=np.int64), categorical_names=(), levels=())
    data = TrainingSet(frame=frame, treatment=treatment, result=result, paid_7d=paid,
                       paid_30d=paid, amount_30d=np.where(paid, 50_000, 0).astype(np.int64),
                       groups=np.arange(n, dtype=np.int64), day=np.zeros(n, dtype=np.int64))
    assert fit_propensity(data).uplift_loading is None  # not applied by default (see SecondStage)
    model = fit_propensity(data, options=SecondStage(calibrate_uplift=True, channel_amounts=False))
    assert model.uplift_loading is not None and model.flat_induced is not None
    assert ((model.uplift_loading >= 0) & (model.uplift_loading <= 1)).all()
    assert model.uplift_loading[NO_ACTION] == 1 and 0 < model.flat_induced[ROBOT] < 1
    raw = replace(model, uplift_loading=None).score(frame)
    flat = replace(model, uplift_loading=np.zeros_like(model.uplift_loading)).score(frame)
    kept = replace(model, uplift_loading=np.ones_like(model.uplift_loading)).score(frame)
    assert np.abs(kept.amount_fen - raw.amount_fen).max() <= 1
    assert (flat.amount_fen[:, NO_ACTION] == raw.amount_fen[:, NO_ACTION]).all()
    assert np.array_equal(flat.p30, raw.p30) and np.array_equal(flat.p7, raw.p7)
    a = model.inputs(frame)
    _, f30 = model.probabilities(a, raw.supported, flat=True)
    given = model.amount.expected_given_paid(a)
    expected = (f30[:, ROBOT] - f30[:, NO_ACTION]) * given[:, NO_ACTION]
    assert np.abs((flat.amount_fen[:, ROBOT] - flat.amount_fen[:, NO_ACTION]) - expected).max() <= 2
    # with loading 0 the robot's uplift follows the baseline only: accounts equal in P(pay | no action) get
    # the same value, whatever the per-account funnel said
    assert np.corrcoef(expected, raw.amount_fen[:, ROBOT] - raw.amount_fen[:, NO_ACTION])[0, 1] < 0.999
