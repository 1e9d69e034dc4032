"""Best time to call: the hour curves against a generator that knows each person's true rhythm."""

from __future__ import annotations

import numpy as np

from buyu.scoring.contact_hours import STRENGTHS, WIDTHS, Attempts, attempts_from, fit_curves, hour_curves

DAY = list(range(8, 22))
MORNING = np.asarray([0.05] * 8 + [0.8] * 3 + [0.6] * 3 + [0.5] * 4 + [0.3] * 4 + [0.05] * 2)
EVENING = np.asarray([0.05] * 8 + [0.3] * 3 + [0.5] * 3 + [0.4] * 4 + [0.95] * 4 + [0.05] * 2)


def _world(*, people: int, calls: int, seed: int) -> tuple[Attempts, np.ndarray, np.ndarray]:
    """Two groups; 80% of group 0 are morning people and 80% of group 1 evening people; levels vary."""
    rng = np.random.default_rng(seed)
    group = (np.arange(people) % 2).astype(np.int64)
    evening = rng.random(people) < np.where(group == 1, 0.8, 0.2)
    level = rng.beta(6, 4, size=people)
    true = np.where(evening[:, None], EVENING[None, :], MORNING[None, :]) * level[:, None]
    person = np.repeat(np.arange(people), calls)
    hour = rng.choice(DAY, size=person.size)
    day = rng.integers(0, 35, size=person.size)
    reached = rng.random(person.size) < true[person, hour]
    return Attempts(person=person, hour=hour.astype(np.int64), day=day.astype(np.int64), reached=reached), group, true


def _capture(rate: np.ndarray, true: np.ndarray) -> float:
    """Share of the best hour's gain over the average day hour that the hour ranked first gets."""
    sub = true[:, DAY]
    chosen = sub[np.arange(sub.shape[0]), np.argmax(rate[:, DAY], axis=1)]
    return float((chosen - sub.mean(axis=1)).sum() / (sub.max(axis=1) - sub.mean(axis=1)).sum())


def test_the_chosen_hours_capture_most_of_the_best_hours_gain() -> None:
    """With a dozen calls each, the ranked-first hour gets most of what the truly best hour would over an
    average hour, and more than the group curve alone (which cannot tell a group's minority apart)."""
    attempts, group, true = _world(people=3000, calls=12, seed=1)
    curves = hour_curves(attempts=attempts, group_of=group, last_day=34)
    group_only = fit_curves(attempts=attempts, group_of=group, strength=1e9)
    assert _capture(curves.rate, true) > 0.7
    assert _capture(curves.rate, true) > _capture(group_only, true)
    assert curves.validation_auc and curves.strength in STRENGTHS and curves.width in WIDTHS


def test_a_long_history_outweighs_the_group() -> None:
    """An evening person in a morning group: with many calls of their own, the evening ranks first."""
    attempts, group, _ = _world(people=400, calls=12, seed=2)
    rng = np.random.default_rng(3)
    hours = rng.choice(DAY, size=300)
    own = Attempts(person=np.zeros(300, dtype=np.int64), hour=hours.astype(np.int64),
                   day=rng.integers(0, 35, size=300).astype(np.int64), reached=rng.random(300) < EVENING[hours])
    others = attempts.take(attempts.person != 0)
    both = Attempts(*(np.concatenate([getattr(others, f), getattr(own, f)])
                      for f in ("person", "hour", "day", "reached")))
    newcomer = np.append(group, 0)  # one more group-0 person, never called
    curves = hour_curves(attempts=both, group_of=newcomer, last_day=34)
    assert group[0] == 0
    assert curves.ranked(hours=DAY)[0, 0] in range(18, 22)
    assert curves.ranked(hours=DAY)[-1, 0] in range(8, 11)  # no calls of their own: the group's morning


def test_no_history_gives_a_valid_ranking() -> None:
    """No attempts at all: every hour ranks, the earliest first (ties keep the window's order)."""
    empty = Attempts(person=np.zeros(0, dtype=np.int64), hour=np.zeros(0, dtype=np.int64),
                     day=np.zeros(0, dtype=np.int64), reached=np.zeros(0, dtype=bool))
    curves = hour_curves(attempts=empty, group_of=np.zeros(3, dtype=np.int64), last_day=10)
    assert curves.ranked(hours=DAY).tolist() == [DAY] * 3
    assert np.all((curves.rate > 0) & (curves.rate < 1))


def test_only_phone_attempts_with_a_timing_outcome_count() -> None:
    """SMS, blocked requests and wrong-party answers say nothing about when the borrower is free."""
    got = attempts_from(person=np.arange(6), hour=np.full(6, 9), day=np.zeros(6, dtype=np.int64),
                        channel=["robot_call", "agent_call", "sms", "robot_call", "agent_call", "field_visit"],
                        result=["rpc", "no_answer", "sms_sent", "wrong_party", "blocked", "visit_met"])
    assert got.person.tolist() == [0, 1] and got.reached.tolist() == [True, False]
