"""Concurrent requests on one loan, each thread with its own connection and unit of work (committed data).

On PostgreSQL the loan row lock (SELECT … FOR UPDATE) serialises postings on one loan — the test holds that
lock itself until both payments are seen waiting on it; SQLite serialises writers with BEGIN IMMEDIATE.
Either way two payments racing on one loan must both apply exactly once, the second starting where the
first left off, and two racing retries of one idempotency key must post once.
The PostgreSQL schema is private to the test run; keys and loans are unique, so committed rows never collide.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, func, select, text

from buyu.db import make_engine, unit_of_work
from buyu.ledger import service as svc
from buyu.ledger.check import check_ledger
from buyu.ledger.models import Payment, Posting
from tests.factories import make_loan
from tests.ledger.helpers import lines, pay

FEB_16 = date(2026, 2, 16)
APP = f"buyu-race-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"])
def committing_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An engine whose units of work really commit: the PostgreSQL test schema (its connections named, so the
    test can see them wait on a lock), or a fresh SQLite file."""
    if request.param == "postgres":
        url = f"{request.getfixturevalue('pg_schema_url')}&application_name={APP}"
        engine = make_engine(url, pool_size=4)
        yield engine
        engine.dispose()
    else:
        yield request.getfixturevalue("fresh_engine")


def _wait_until_blocked(engine: Engine, waiting: int) -> None:
    """Return once `waiting` of this test's PostgreSQL connections wait on a lock (fail after 30 s if they never
    do: without the row lock they would not wait at all)."""
    deadline = time.monotonic() + 30
    query = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :app AND wait_event_type = 'Lock'")
    with engine.connect() as conn:
        while conn.execute(query, {"app": APP}).scalar_one() < waiting:
            if time.monotonic() > deadline:
                pytest.fail(f"{waiting} payment(s) never queued behind the loan's row lock")
            time.sleep(0.01)


def _race(*calls: Callable[[], object]) -> list[object]:
    """Run the calls in threads released together; return their results (re-raising any failure)."""
    barrier = threading.Barrier(len(calls))
    out: list[object] = [None] * len(calls)

    def run(i: int, call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            out[i] = call()
        except BaseException as exc:  # handed back to the main thread
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for result in out:
        if isinstance(result, BaseException):
            raise result
    return out


def _queue_behind_lock(engine: Engine, loan_id: int, calls: list[Callable[[], object]]) -> list[object]:
    """PostgreSQL: hold the loan's row lock, start the calls one by one until each waits on it, then release.

    Both payments are then provably in flight at once: the lock, not luck, decides that they run one after the
    other.
    """
    out: list[object] = [None] * len(calls)

    def run(i: int, call: Callable[[], object]) -> None:
        try:
            out[i] = call()
        except BaseException as exc:  # handed back to the main thread
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    holder = make_engine(str(engine.url).replace(APP, f"{APP}-holder"))
    try:
        with holder.connect() as conn, conn.begin():
            conn.execute(text("SELECT id FROM loans WHERE id = :id FOR UPDATE"), {"id": loan_id})
            for n, t in enumerate(threads, start=1):
                t.start()
                _wait_until_blocked(engine, n)
        for t in threads:
            t.join()
    finally:
        holder.dispose()
    for result in out:
        if isinstance(result, BaseException):
            raise result
    return out


def _pay_in_own_unit(engine: Engine, loan_id: int, amount: str, key: str, on: date = FEB_16) -> tuple[int, bool]:
    with unit_of_work(engine) as s:
        posted = pay(s, loan_id, amount, on, idem=key)
        return posted.payment.id, posted.replayed


def test_two_concurrent_payments_both_apply_once_in_order(committing_engine):
    """3,000.00 and 5,000.00 race on instalment 1 (7,107.90 due 15 Feb, 100.00 of its interest already paid, so
    neither payment's catch-up has anything left to write). Whichever locks the loan first takes the 700.00
    interest and 2,300.00 or 4,300.00 principal; the second pays the rest of the principal and leaves the
    remainder as credit: 100.00 + 8,000.00 − 7,107.90 = 992.10 in the end, whatever the order."""
    engine = committing_engine
    run = uuid.uuid4().hex[:8]
    with unit_of_work(engine) as s:
        loan_id = make_loan(s).id
    _pay_in_own_unit(engine, loan_id, "100.00", f"{run}-first")
    amounts = {"A": "3000.00", "B": "5000.00"}
    if engine.dialect.name == "postgresql":
        results = _queue_behind_lock(engine, loan_id, [
            lambda n=n: _pay_in_own_unit(engine, loan_id, amounts[n], f"{run}-{n}") for n in amounts])
    else:
        results = _race(*(lambda n=n: _pay_in_own_unit(engine, loan_id, amounts[n], f"{run}-{n}")
                          for n in amounts))
    (first_id, first_replayed), (second_id, second_replayed) = sorted(results)  # the lower id locked first
    assert not first_replayed and not second_replayed
    with unit_of_work(engine) as s:
        first, second = s.get(Payment, first_id), s.get(Payment, second_id)
        principal_first = first.amount_fen - 70_000
        assert svc.payment_allocations(session=s, payment=first) == [(1, "interest", 70_000),
                                                                     (1, "principal", principal_first)]
        rest = 630_790 - principal_first
        assert svc.payment_allocations(session=s, payment=second) == [(1, "principal", rest),
                                                                      (None, "credit", second.amount_fen - rest)]
        loan = svc.get_loan(session=s, loan_id=loan_id)
        assert loan.credit_fen == 99_210
        assert lines(s, loan)[0].cleared_on == FEB_16
        assert check_ledger(session=s).ok


def test_two_concurrent_retries_of_one_key_post_once(committing_engine):
    """The same request sent twice at once: one call posts, the other replays it; one payment, one entry."""
    engine = committing_engine
    key = f"dup-{uuid.uuid4().hex[:8]}"
    with unit_of_work(engine) as s:
        loan_id = make_loan(s).id
    results = _race(lambda: _pay_in_own_unit(engine, loan_id, "1234.56", key),
                    lambda: _pay_in_own_unit(engine, loan_id, "1234.56", key))
    assert sorted(replayed for _, replayed in results) == [False, True]
    assert results[0][0] == results[1][0]
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.count()).select_from(Payment).where(Payment.idempotency_key == key)) == 1
        cash = s.scalar(select(func.sum(Posting.amount_fen)).where(Posting.payment_id == results[0][0],
                                                                   Posting.debit == "cash"))
        assert cash == 123_456
        assert check_ledger(session=s).ok
