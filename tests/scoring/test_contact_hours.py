"""Best time to call: the hour curves against a generator that knows each person's true rhythm, and the
database reader against the row-by-row one it replaced."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session

from bench.plan_inputs import old_load_inputs
from buyu import db
from buyu.collections.models import ContactAttempt
from buyu.ledger.models import Borrower
from buyu.scoring import contact_hours
from buyu.scoring.contact_hours import (
    STRENGTHS,
    WIDTHS,
    Attempts,
    CurveInputs,
    HourCurves,
    attempts_from,
    fit_curves,
    hour_curves,
    load_attempts,
    load_curves,
)
from tests.factories import make_loan, make_product

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


# --------------------------------------------------------------------------- reading the contact log


def _load_curves_row_by_row(*, session: Session, borrower_ids: Sequence[int],
                            as_of: date) -> tuple[CurveInputs, HourCurves]:
    """load_curves before it was set-based (bench/plan_inputs.py keeps it as the bench's baseline), returning what
    it fitted on as well as the curves."""
    everyone, group_of, names, attempts = old_load_inputs(session=session, borrower_ids=borrower_ids, as_of=as_of)
    wanted = len(borrower_ids)
    curves = hour_curves(attempts=attempts, group_of=group_of, last_day=as_of.toordinal())
    inputs = CurveInputs(borrower=everyone, group_of=group_of, groups=names, attempts=attempts, wanted=wanted)
    return inputs, HourCurves(rate=curves.rate[:wanted], strength=curves.strength, width=curves.width,
                              validation_auc=curves.validation_auc, attempts=curves.attempts)


AS_OF = date(2026, 6, 30)
SEGMENTS = ("consumer", "micro_merchant", "", "sme")
CALLS = [("robot_call", r) for r in ("no_answer", "busy", "rpc", "ptp", "wrong_party", "blocked", None)] + [
    ("agent_call", r) for r in ("no_answer", "voicemail", "rpc", "refused", "callback", "dispute", "wrong_party")] + [
    ("sms", "sms_sent"), ("field_visit", "visit_met")]


def _contact_log(session: Session, *, seed: int) -> list[int]:
    """Sixteen borrowers (their own loans) in four segments, ~40 attempts each over 130 days to AS_OF and a few
    after it: every channel and outcome, blocked and in-flight requests; two borrowers never contacted."""
    rng = np.random.default_rng(seed)
    product = make_product(session)
    loans = [make_loan(session, product=product) for _ in range(16)]
    for k, loan in enumerate(loans):
        session.get_one(Borrower, loan.borrower_id).segment = SEGMENTS[int(rng.integers(0, len(SEGMENTS)))] if k else ""
    rows = []
    for loan in loans[2:]:
        for _ in range(int(rng.integers(20, 60))):
            channel, result = CALLS[int(rng.integers(0, len(CALLS)))]
            day = AS_OF - timedelta(days=int(rng.integers(-3, 130)))
            hour = int(rng.integers(0, 24))
            rows.append({"loan_id": loan.id, "borrower_id": loan.borrower_id, "channel": channel, "purpose": "collect",
                         "profile": "CN", "as_of": day, "local_date": day, "local_hour": hour,
                         "started_at": datetime.combine(day, time(hour), tzinfo=UTC), "result": result,
                         "blocked_rule": "quiet_hours" if result == "blocked" else None, "duration_seconds": 0})
    session.execute(insert(ContactAttempt), rows)
    session.flush()
    return [loan.borrower_id for loan in loans]


@pytest.mark.parametrize(("chunk", "whole_table"), [(30_000, 300_000), (3, 10**9), (3, 1)],
                         ids=["defaults", "in-lists", "whole-table"])
def test_reading_the_log_set_based_matches_the_row_by_row_reader(
        session: Session, monkeypatch: pytest.MonkeyPatch, chunk: int, whole_table: int) -> None:
    """On each database (SQLite keeps dates as text), for borrowers asked for in random order with a repeat, an
    unknown id and ones never called: the same people, groups, attempts and curves as the row-by-row reader, however
    the segments are read (in-lists of a few ids, or the whole borrowers table)."""
    monkeypatch.setattr(db, "ID_CHUNK", chunk)
    monkeypatch.setattr(contact_hours, "WHOLE_TABLE", whole_table)
    borrowers = _contact_log(session, seed=11)
    rng = np.random.default_rng(5)
    asks = [[*rng.permutation(borrowers)[:10].tolist(), borrowers[3], 999_999_999, borrowers[0]],
            [int(b) for b in borrowers[::-1]], [borrowers[1]], []]
    for ask in asks:
        ids = [int(b) for b in ask]
        old_inputs, old = _load_curves_row_by_row(session=session, borrower_ids=ids, as_of=AS_OF)
        new_inputs = load_attempts(session=session, borrower_ids=ids, as_of=AS_OF)
        new = load_curves(session=session, borrower_ids=ids, as_of=AS_OF)
        assert new_inputs.borrower.tolist() == old_inputs.borrower.tolist()
        assert new_inputs.group_of.tolist() == old_inputs.group_of.tolist()
        assert new_inputs.groups == old_inputs.groups and new_inputs.wanted == len(ids)
        assert _sorted_attempts(new_inputs.attempts) == _sorted_attempts(old_inputs.attempts)
        # without an ORDER BY the rows' order is the database's; sums over them may differ in the last bit
        assert np.allclose(new.rate, old.rate, rtol=1e-12, atol=0) and new.rate.shape == (len(ids), 24)
        assert (new.strength, new.width, new.attempts) == (old.strength, old.width, old.attempts)
        assert new.validation_auc == pytest.approx(old.validation_auc, rel=1e-9)
    assert old_inputs.attempts.person.size > 200 and len(old_inputs.groups) == len(SEGMENTS)


def _sorted_attempts(a: Attempts) -> list[tuple[int, int, int, bool]]:
    return sorted(zip(a.person.tolist(), a.hour.tolist(), a.day.tolist(), a.reached.tolist(), strict=True))


def test_no_attempts_in_the_window_gives_the_asked_rows(session: Session) -> None:
    """Before any contact: one row per borrower asked for, in their segments' groups, and no attempts."""
    borrowers = _contact_log(session, seed=3)
    inputs = load_attempts(session=session, borrower_ids=borrowers[:4], as_of=AS_OF - timedelta(days=200))
    old, _ = _load_curves_row_by_row(session=session, borrower_ids=borrowers[:4], as_of=AS_OF - timedelta(days=200))
    assert inputs.borrower.tolist() == borrowers[:4] and inputs.attempts.person.size == 0
    assert inputs.groups == old.groups and inputs.group_of.tolist() == old.group_of.tolist()
