"""Ledger benchmarks: the nightly step and payment posting, each against a bare-SQL floor.

    python bench/ledger.py [--sizes 100000,1000000] [--payments 2000] [--db sqlite,postgres] [--json]

For each database and portfolio size it builds a synthetic but internally consistent book
(loans on 64 schedule shapes computed by the real schedule maths; ~15% delinquent with DPD from a
few days to several months), then times:
- the nightly ledger step (`ledger_day`: interest recognition, credit, penalty accrual, ageing,
  snapshots) over every loan, and a bare set-based `UPDATE loans SET accrued_through = …` over the
  same rows in the same run: `eod_floor_ratio` = step seconds / bare UPDATE seconds;
- payment postings through the real service (`post_payment`, one transaction each, as the API
  does) against a bare one-row INSERT per transaction: `payment_ratio` = postings/s ÷ inserts/s;
  and the same count posted as repayment files of 500 per transaction (`post_payments`, the
  partner-platform batch path): `batch_payments_per_s`, against a bare executemany INSERT of the
  same rows in the same batches (`batch_ratio_to_bare_batch_insert`).
The setup writes schedule rows directly in SQL (not through origination, which would take hours
at a million loans); paid history is written to the sub-ledger only, so `ledger check` is not
meaningful on this throwaway database.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from buyu.db import make_engine, unit_of_work
from buyu.ledger import service as svc
from buyu.ledger.batch import PaymentRequest, post_payments
from buyu.ledger.eod import ledger_day
from buyu.ledger.schedule import Method, build_schedule
from buyu.ledger.schemas import PaymentIn
from buyu.migrate import upgrade

AS_OF = date(2026, 11, 27)
SHAPES = 64
PG_URL = os.environ.get("BUYU_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def database(kind: str) -> str:
    """A fresh, migrated database of the given kind; returns its URL."""
    if kind == "sqlite":
        path = Path("/tmp/buyu_bench.db")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        admin = make_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS buyu_bench CASCADE"))
            conn.execute(text("CREATE SCHEMA buyu_bench"))
        admin.dispose()
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3Dbuyu_bench"
    upgrade(url)
    return url


def shapes() -> list[dict[str, Any]]:
    """64 loan shapes: method, term, principal and disbursement date, with their schedules."""
    rng = random.Random(11)
    methods = list(Method)
    out = []
    for k in range(SHAPES):
        method = methods[k % 4]
        term = [6, 12, 12, 24][(k // 4) % 4]
        disbursed = AS_OF - timedelta(days=rng.randint(40, min(term * 30, 420)))
        principal = rng.choice([500_000, 1_000_000, 3_000_000, 8_000_000, 15_000_000])
        rows = build_schedule(principal=principal, annual_rate_micro=144_000, term_months=term, method=method,
                              start_date=disbursed)
        out.append({"k": k, "method": method.value, "term": term, "disbursed": disbursed, "principal": principal,
                    "rows": rows, "due_count": sum(1 for r in rows if r.due_date < AS_OF)})
    return out


def build_book(engine: Engine, n: int) -> float:
    """Insert `n` loans and their instalments set-based; returns seconds taken."""
    t0 = time.perf_counter()
    shp = shapes()
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_shape (k INTEGER PRIMARY KEY, method VARCHAR(20), term INTEGER, "
                          "disbursed DATE, principal BIGINT, due_count INTEGER)"))
        conn.execute(text("CREATE TABLE bench_tpl (k INTEGER, seq INTEGER, due_date DATE, penalty_from DATE, "
                          "principal BIGINT, interest BIGINT)"))
        conn.execute(text("INSERT INTO bench_shape VALUES (:k, :method, :term, :disbursed, :principal, :due_count)"),
                     [{kk: s[kk] for kk in ("k", "method", "term", "disbursed", "principal", "due_count")}
                      for s in shp])
        conn.execute(text("INSERT INTO bench_tpl VALUES (:k, :seq, :due, :pf, :p, :i)"),
                     [{"k": s["k"], "seq": r.seq, "due": r.due_date, "pf": r.due_date + timedelta(days=1),
                       "p": r.principal, "i": r.interest} for s in shp for r in s["rows"]])
        conn.execute(text("INSERT INTO borrowers (id, external_ref, name, phone, segment, region, language, timezone) "
                          "VALUES (1, 'BENCH', 'bench', '0', 'consumer', '', 'zh-CN', 'Asia/Shanghai')"))
        conn.execute(text("INSERT INTO products (id, code, name, annual_rate_micro, term_months, method, "
                          "penalty_rate_micro, grace_days, waterfall, waterfall_mode, day_count_basis, currency, "
                          "prepayment_mode) VALUES (1, 'BENCH', 'bench', 144000, 12, 'equal_instalment', 216000, 0, "
                          "'penalty,interest,principal', 'instalment_first', 360, 'CNY', 'reamortise')"))
        # Loan i takes shape i % 64; about 15% have stopped paying 1 to 4 instalments before the end.
        conn.execute(text(
            "INSERT INTO loans (id, external_ref, borrower_id, product_id, currency, principal_fen, annual_rate_micro, "
            "penalty_rate_micro, term_months, method, grace_days, day_count_basis, waterfall, waterfall_mode, "
            "prepayment_mode, disbursed_on, anchor_day, schedule_start, status, schedule_version, accrued_through, "
            "credit_fen, dpd, bucket, written_off_fen, recovered_fen, restructure_count) "
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n) "
            "SELECT i, 'BL' || i, 1, 1, 'CNY', s.principal, 144000, 216000, s.term, s.method, 0, 360, "
            "'penalty,interest,principal', 'instalment_first', 'reamortise', s.disbursed, 1, s.disbursed, 'active', "
            "1, :prev, 0, 0, 'M0', 0, 0, 0 FROM n JOIN bench_shape s ON s.k = i % 64"),
            {"n": n, "prev": AS_OF - timedelta(days=1)})
        paid = ("CASE WHEN ((l.id % 100003) * 7919) % 100 < 85 THEN s.due_count ELSE s.due_count - 1 - (l.id % 4) END")
        conn.execute(text(
            "INSERT INTO instalments (loan_id, schedule_version, seq, due_date, penalty_from, principal_fen, "
            "interest_fen, interest_booked_fen, penalty_fen, principal_paid_fen, interest_paid_fen, penalty_paid_fen, "
            "principal_waived_fen, interest_waived_fen, penalty_waived_fen, principal_open_fen, valid_from, "
            "cleared_on) "
            f"SELECT l.id, 1, t.seq, t.due_date, t.penalty_from, t.principal, t.interest, "
            f"CASE WHEN t.due_date < :d THEN t.interest ELSE 0 END, 0, "
            f"CASE WHEN t.seq <= {paid} THEN t.principal ELSE 0 END, "
            f"CASE WHEN t.seq <= {paid} THEN t.interest ELSE 0 END, 0, 0, 0, 0, "
            f"CASE WHEN t.seq <= {paid} THEN 0 ELSE t.principal END, s.disbursed, "
            f"CASE WHEN t.seq <= {paid} THEN t.due_date END "
            "FROM loans l JOIN bench_shape s ON s.k = l.id % 64 JOIN bench_tpl t ON t.k = s.k"), {"d": AS_OF})
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - t0


def time_eod(engine: Engine) -> dict[str, float]:
    """The nightly step over every loan vs a bare set-based UPDATE of the same rows."""
    t0 = time.perf_counter()
    with unit_of_work(engine) as session:
        stats = ledger_day(session=session, day=AS_OF)
    eod = time.perf_counter() - t0
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("UPDATE loans SET accrued_through = accrued_through WHERE status = 'active'"))
    floor = time.perf_counter() - t0
    return {"eod_seconds": round(eod, 3), "bare_update_seconds": round(floor, 3),
            "eod_floor_ratio": round(eod / floor, 2), "delinquent_loans": stats.delinquent_loans,
            "penalty_postings": stats.penalty_postings}


def time_payments(engine: Engine, n_loans: int, count: int) -> dict[str, float]:
    """Real payment postings (one transaction each) vs a bare one-row INSERT per transaction."""
    rng = random.Random(5)
    with engine.connect() as conn:
        delinquent = [r[0] for r in conn.execute(text("SELECT id FROM loans WHERE dpd > 0 ORDER BY id"))]
    targets = [rng.choice(delinquent) if rng.random() < 0.7 else rng.randint(1, n_loans) for _ in range(count)]
    t0 = time.perf_counter()
    for i, loan_id in enumerate(targets):
        with unit_of_work(engine) as session:
            svc.post_payment(session=session, loan_id=loan_id, idempotency_key=f"bench-{i}", data=PaymentIn(
                amount=Decimal(rng.randint(5_000, 300_000)).scaleb(-2), paid_on=AS_OF + timedelta(days=1)))
    pay = time.perf_counter() - t0
    # The same number of payments again as repayment files of 500 (a partner platform's daily batch).
    batch_targets = [rng.choice(delinquent) for _ in range(count)]
    t0 = time.perf_counter()
    for start in range(0, count, 500):
        with unit_of_work(engine) as session:
            post_payments(session=session, requests=[
                PaymentRequest(loan_id=loan_id, idempotency_key=f"bench-b{start + i}", data=PaymentIn(
                    amount=Decimal(rng.randint(5_000, 300_000)).scaleb(-2), paid_on=AS_OF + timedelta(days=1)))
                for i, loan_id in enumerate(batch_targets[start:start + 500])])
    batch = time.perf_counter() - t0
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_baseline (id INTEGER PRIMARY KEY, loan_id INTEGER, amount BIGINT)"))
    t0 = time.perf_counter()
    for i, loan_id in enumerate(targets):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO bench_baseline VALUES (:i, :l, :a)"), {"i": i, "l": loan_id, "a": 100})
    base = time.perf_counter() - t0
    t0 = time.perf_counter()
    for start in range(0, count, 500):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO bench_baseline VALUES (:i, :l, :a)"),
                         [{"i": count + start + i, "l": loan_id, "a": 100}
                          for i, loan_id in enumerate(batch_targets[start:start + 500])])
    base_batch = time.perf_counter() - t0
    return {"payments": count, "payments_per_s": round(count / pay, 1), "bare_inserts_per_s": round(count / base, 1),
            "payment_ratio": round((count / pay) / (count / base), 3),
            "batch_payments_per_s": round(count / batch, 1),
            "bare_batch_inserts_per_s": round(count / base_batch, 1),
            "batch_ratio_to_bare_batch_insert": round(base_batch / batch, 3)}


def main() -> None:
    """Run the matrix and print one row per database and size."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--db", default="sqlite,postgres")
    ap.add_argument("--payments", type=int, default=2000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = []
    for kind in args.db.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            engine = make_engine(database(kind))
            row: dict[str, object] = {"db": kind, "loans": size, "setup_seconds": round(build_book(engine, size), 1)}
            row |= time_eod(engine)
            row["eod_loans_per_s"] = round(size / float(row["eod_seconds"]))  # type: ignore[arg-type]
            if args.payments:
                row |= time_payments(engine, size, args.payments)
            engine.dispose()
            results.append(row)
            print(json.dumps(row) if args.json else row, flush=True)


if __name__ == "__main__":
    main()
