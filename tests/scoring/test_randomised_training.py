"""Treatment effects are learnt from randomised points only: plan-chosen points cannot fake an uplift."""

from __future__ import annotations

import numpy as np

from buyu.scoring.features import NO_ACTION, T_INDEX, FeatureFrame
from buyu.scoring.propensity import SecondStage, TrainingSet, fit_propensity

SMS = T_INDEX["sms"]


def _data(*, n: int, chosen_share: float, seed: int) -> tuple[TrainingSet, np.ndarray]:
    """SMS truly changes nothing. On randomised points SMS or no action is a coin flip; on the plan's points
    SMS went to the accounts about to pay anyway (here: every SMS point paid, every no-action point did not)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    dpd = rng.integers(1, 30, size=n).astype(np.float64)
    paid = rng.random(n) < 1 / (1 + np.exp(-(-0.5 + x)))
    chosen = rng.random(n) < chosen_share
    treatment = np.where(rng.random(n) < 0.5, SMS, NO_ACTION).astype(np.int64)
    paid = np.where(chosen, treatment == SMS, paid)
    frame = FeatureFrame(numeric=np.column_stack([x, dpd]), numeric_names=("x", "dpd"),
                         categorical=np.zeros((n, 0), dtype=np.int64), categorical_names=(), levels=())
    data = TrainingSet(frame=frame, treatment=treatment, result=np.zeros(n, dtype=np.int64), paid_7d=paid,
                       paid_30d=paid, amount_30d=np.where(paid, 50_000, 0).astype(np.int64),
                       groups=np.arange(n, dtype=np.int64), day=np.zeros(n, dtype=np.int64), randomised=~chosen)
    return data, frame


def test_plan_chosen_points_do_not_teach_the_heads_an_effect() -> None:
    """Fitted on everything, SMS looks like a large uplift; fitted with the plan's points marked, it is ~0."""
    from dataclasses import replace

    data, frame = _data(n=8000, chosen_share=0.4, seed=5)
    honest = fit_propensity(data).score(frame).uplift30[:, SMS].mean()
    fooled = fit_propensity(replace(data, randomised=None)).score(frame).uplift30[:, SMS].mean()
    assert fooled > 0.15
    assert abs(honest) < 0.05


def test_too_few_randomised_points_fall_back_to_all() -> None:
    """A young book with almost no randomised points still trains (on every point) rather than on a handful."""
    from dataclasses import replace

    data, frame = _data(n=3000, chosen_share=0.9, seed=6)
    few = replace(data, randomised=np.arange(3000) < 50)
    everything = replace(data, randomised=None)
    assert np.allclose(fit_propensity(few).score(frame).p30, fit_propensity(everything).score(frame).p30)


def test_the_model_keeps_the_hour_mix_of_the_calls_it_learnt_from() -> None:
    """Robot and agent calls' local hours on the randomised points, as shares; plan-chosen calls do not count."""
    from dataclasses import replace

    data, _ = _data(n=3000, chosen_share=0.5, seed=7)
    robot = np.full(3000, T_INDEX["robot_call"], dtype=np.int64)
    hour = np.where(data.randomised, 9, 20).astype(np.int64)
    hour[:300] = 15
    model = fit_propensity(replace(data, treatment=robot, hour=hour))
    mix = model.call_hour_mix
    assert mix is not None and abs(mix.sum() - 1) < 1e-9
    assert mix[20] == 0 and mix[9] > 0.8 and mix[15] > 0
    assert fit_propensity(data).call_hour_mix is None  # trained without hours


def test_the_crowd_out_of_calls_can_be_judged_on_randomised_points_only() -> None:
    """A robot call's promise is an extra route to payment (crowd-out κ ≈ 1 on the randomised points). The plan's
    own calls went to accounts that then did not pay; counted in (the default, which measured better in the
    simulator), they drag κ towards 0 and the robot's uplift with it. With `crowd_on_randomised`, plan-chosen
    calls still teach the contact funnel but not κ."""
    from dataclasses import replace

    rng = np.random.default_rng(12)
    n = 12_000
    x = rng.normal(size=n)
    dpd = rng.integers(1, 30, size=n).astype(np.float64)
    chosen = rng.random(n) < 0.4
    robot = T_INDEX["robot_call"]
    treatment = np.where(chosen | (rng.random(n) < 0.5), robot, NO_ACTION).astype(np.int64)
    rpc = (treatment == robot) & (rng.random(n) < 0.5)
    promise = rpc & (rng.random(n) < 0.5)
    result = np.where(promise, 3, np.where(rpc, 2, 0)).astype(np.int64)
    anyway = rng.random(n) < 1 / (1 + np.exp(-(-1.0 + x)))
    induced = promise & (rng.random(n) < 0.8)
    paid = np.where(chosen, False, anyway | induced)
    frame = FeatureFrame(numeric=np.column_stack([x, dpd]), numeric_names=("x", "dpd"),
                         categorical=np.zeros((n, 0), dtype=np.int64), categorical_names=(), levels=())
    data = TrainingSet(frame=frame, treatment=treatment, result=result, paid_7d=paid, paid_30d=paid,
                       amount_30d=np.where(paid, 50_000, 0).astype(np.int64), groups=np.arange(n, dtype=np.int64),
                       day=np.zeros(n, dtype=np.int64), randomised=~chosen)
    honest = fit_propensity(data, options=SecondStage(crowd_on_randomised=True)).funnel.crowd["p30"][robot]
    fooled = fit_propensity(replace(data, randomised=None)).funnel.crowd["p30"][robot]
    counted_in = fit_propensity(data).funnel.crowd["p30"][robot]
    assert honest > 0.7 and fooled < honest - 0.3 and counted_in < honest - 0.3
