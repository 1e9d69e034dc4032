"""Collector effects with empirical-Bayes shrinkage (pure)."""

from __future__ import annotations

import numpy as np

from buyu.scoring.collector_fit import fit_collectors
from buyu.scoring.learner import logit, sigmoid


def _data(seed: int = 0) -> tuple[np.ndarray, ...]:
    """Ten collectors with 3,000 conversations each, true logit effects spread ±0.5, bucket-specific for #1."""
    rng = np.random.default_rng(seed)
    true = np.linspace(-0.5, 0.5, 10)
    coll = np.repeat(np.arange(1, 11), 3000)
    bucket = rng.integers(0, 4, coll.size)
    p = rng.uniform(0.2, 0.5, coll.size)
    shift = true[coll - 1] + np.where((coll == 1) & (bucket == 3), 1.0, 0.0)
    y = rng.random(coll.size) < sigmoid(logit(p) + shift)
    return coll, bucket, p, y, true


def test_effects_track_true_skill_and_a_segment_speciality() -> None:
    """With thousands of conversations each, shrunk effects rank collectors as their true skill does,
    and collector 1's strength in bucket M4+ shows in that layer."""
    coll, bucket, p, y, true = _data()
    fit = fit_collectors(collector_id=coll, y=y, p=p, segments={"bucket": bucket},
                         levels={"bucket": ("M1", "M2", "M3", "M4+")})
    general = fit.general.shrunk[:, 0]
    assert np.corrcoef(general, true)[0, 1] > 0.9
    assert fit.layers["bucket"].shrunk[0, 3] > 0.4
    assert fit.tau2["general"] > 0.02


def test_a_new_collector_is_not_judged_on_three_calls() -> None:
    """Three successes in three calls move a new collector's effect far less than the raw estimate says."""
    coll, _bucket, p, y, _ = _data()
    coll = np.concatenate([coll, [99, 99, 99]])
    p = np.concatenate([p, [0.3, 0.3, 0.3]])
    y = np.concatenate([y, [True, True, True]])
    fit = fit_collectors(collector_id=coll, y=y, p=p, segments={}, levels={})
    i = int(np.flatnonzero(fit.collector_ids == 99)[0])
    raw, shrunk = fit.general.raw[i, 0], fit.general.shrunk[i, 0]
    assert raw > 3.0 and abs(shrunk) < 0.5 * raw and abs(shrunk) < 0.6
    busy = int(np.flatnonzero(fit.collector_ids == 10)[0])
    assert fit.general.shrunk[busy, 0] > 0.85 * fit.general.raw[busy, 0]


def test_unknown_collectors_get_the_expectation_and_identical_collectors_shrink_to_zero() -> None:
    """A collector never seen scores the collector-blind probability; when nobody differs, τ² is 0."""
    rng = np.random.default_rng(5)
    coll = np.repeat(np.arange(1, 6), 2000)
    p = np.full(coll.size, 0.3)
    y = rng.random(coll.size) < p
    fit = fit_collectors(collector_id=coll, y=y, p=p, segments={}, levels={})
    assert np.allclose(fit.general.shrunk, 0.0, atol=0.05)
    score = fit.fit_score(p=np.array([0.3]), collector_id=np.array([123]), segments={})
    assert abs(score[0] - 0.3) < 1e-9


def test_a_segment_misjudged_for_everyone_is_no_collectors_effect() -> None:
    """When the expectation under-states promises in M4+ by one logit for every collector alike, the bucket
    layer stays near zero (collectors are measured against peers in the segment) and so does its τ²."""
    rng = np.random.default_rng(11)
    coll = np.repeat(np.arange(1, 13), 2500)
    bucket = rng.integers(0, 4, coll.size)
    p = rng.uniform(0.2, 0.5, coll.size)
    y = rng.random(coll.size) < sigmoid(logit(p) + np.where(bucket == 3, 1.0, 0.0))
    fit = fit_collectors(collector_id=coll, y=y, p=p, segments={"bucket": bucket},
                         levels={"bucket": ("M1", "M2", "M3", "M4+")})
    assert np.abs(fit.layers["bucket"].shrunk).max() < 0.1 and fit.tau2["bucket"] < 0.01
    assert np.abs(fit.general.shrunk).max() < 0.1
