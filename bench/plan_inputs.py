"""Plan-input benchmark: the two database readers of training and the nightly plan at a bank's scale.

    python bench/plan_inputs.py [--accounts 1000000] [--attempts 3] [--wanted N] [--plan-loans 100000]
                                [--plan-days 30] [--database-url postgresql://…] [--no-sqlite] [--json]

Builds a fresh migrated SQLite database (and, with `--database-url`, a private schema on that
PostgreSQL server, dropped afterwards) holding `--accounts` borrowers with one loan each,
`--attempts` contact attempts per account on average (robot and agent calls with every kind of
outcome, blocked and in-flight requests, SMS; a fifth of them older than the 120-day lookback), and
`--plan-days` nights of solved plans over `--plan-loans` loans (a tenth in the explore arm, plus a
skipped run whose items must not count). Data go in by bulk inserts (executemany on SQLite, COPY on
PostgreSQL). Then, in the same process and on the same data:

- `randomised_points` (buyu.scoring.service), for decision points covering the planned loans and
  some others over the plan days and the week before them, against its row-by-row original (a
  text() query, one Python date conversion per plan item): `old_seconds`, `new_seconds`, `ratio`;
- the read of `load_curves` (buyu.scoring.contact_hours.load_attempts: attempts, people, groups)
  for `--wanted` borrowers in random order (default: every account), against its original (ORM
  rows with the borrower's segment joined onto every attempt, dicts and lists per row; its IN list
  of wanted borrowers is sent in lists of 30,000, since one list of a million exceeds SQLite's and
  psycopg's bound-parameter limits and the original fails there); then the curve fit both share,
  once, so `total_ratio` says what the whole of `load_curves` gains.

Both pairs are checked to give identical results (`identical`: the same marks; the same people, group
codes and names, and the same attempts — as a multiset, since neither query has an ORDER BY and
PostgreSQL may scan in parallel; `same_order` says whether the order matched too). The run exits
with status 1 if a result differs. No figure is asserted: the seconds depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from buyu.collections.models import ContactAttempt
from buyu.db import make_engine
from buyu.ledger.models import Borrower
from buyu.migrate import upgrade
from buyu.scoring.contact_hours import LOOKBACK_DAYS, PHONE, Attempts, attempts_from, hour_curves, load_attempts
from buyu.scoring.features import Points
from buyu.scoring.service import randomised_points

AS_OF = date(2026, 11, 27)
SCHEMA = "buyu_bench_plan_inputs"
SQLITE_PATH = Path("/tmp/buyu_bench_plan_inputs.db")
BATCH = 200_000
SEGMENTS = ("consumer", "micro_merchant", "sme", "")
SEGMENT_SHARES = (0.6, 0.3, 0.08, 0.02)
#: (channel, result, blocked rule, share of attempts); result None is a call still in flight.
OUTCOMES: tuple[tuple[str, str | None, str | None, float], ...] = (
    ("robot_call", "no_answer", None, 0.22), ("robot_call", "busy", None, 0.03), ("robot_call", "rpc", None, 0.08),
    ("robot_call", "ptp", None, 0.04), ("robot_call", "wrong_party", None, 0.02),
    ("robot_call", "blocked", "quiet_hours", 0.03), ("robot_call", None, None, 0.02),
    ("agent_call", "no_answer", None, 0.12), ("agent_call", "voicemail", None, 0.03), ("agent_call", "rpc", None, 0.07),
    ("agent_call", "ptp", None, 0.05), ("agent_call", "refused", None, 0.02), ("agent_call", "callback", None, 0.02),
    ("agent_call", "dispute", None, 0.01), ("agent_call", "wrong_party", None, 0.02),
    ("sms", "sms_sent", None, 0.2),
)
CHUNK = 30_000
IntArray = npt.NDArray[np.int64]


# ----------------------------------------------------------------------------- database


def database(url: str | None) -> str:
    """A fresh migrated database: the SQLite file when `url` is None, else a private schema on that server."""
    if url is None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
        target = f"sqlite:///{SQLITE_PATH}"
    else:
        _drop_schema(url)
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        admin.dispose()
        target = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{SCHEMA}"
    upgrade(target)
    return target


def _drop_schema(url: str) -> None:
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    admin.dispose()


class Loader:
    """Bulk inserts for the build, on one driver connection committed at the end: executemany on SQLite (with
    the foreign-key checks off, the journal off and a large page cache: the rows are consistent by construction),
    COPY on PostgreSQL (with the foreign-key triggers off when the role may do so)."""

    def __init__(self, engine: Engine) -> None:
        self.sqlite = engine.dialect.name == "sqlite"
        if self.sqlite:
            engine.dispose()
            self.conn: Any = sqlite3.connect(str(engine.url.database), isolation_level=None)
            for pragma in ("foreign_keys=OFF", "journal_mode=OFF", "synchronous=OFF", "cache_size=-500000"):
                self.conn.execute(f"PRAGMA {pragma}")
            self.conn.execute("BEGIN")
        else:
            self.conn = engine.raw_connection().driver_connection
            try:
                self.conn.execute("SET session_replication_role = replica")
            except Exception:  # not a superuser: keep the checks, only slower
                self.conn.rollback()

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Append rows to a table."""
        if self.sqlite:
            marks = ", ".join("?" * len(columns))
            self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            return
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def close(self) -> None:
        """Commit, analyse, put the SQLite file back in WAL mode (as buyu.db runs it)."""
        if self.sqlite:
            self.conn.execute("COMMIT")
            self.conn.execute("ANALYZE")
            self.conn.execute("PRAGMA journal_mode=WAL")
        else:
            self.conn.execute("SET session_replication_role = DEFAULT")
            self.conn.commit()
            self.conn.autocommit = True
            self.conn.execute("ANALYZE")
        self.conn.close()


def _batched(make: Any, n: int) -> Iterator[tuple[Any, ...]]:
    """Rows from `make(start, stop)` (a tuple of equal-length lists), BATCH at a time."""
    for start in range(0, n, BATCH):
        yield from zip(*make(start, min(n, start + BATCH)), strict=True)


def build(engine: Engine, *, accounts: int, attempts: int, plan_loans: int, plan_days: int,
          rng: np.random.Generator) -> dict[str, Any]:
    """Borrowers, loans, contact attempts, plan runs and items; returns row counts and seconds taken."""
    t0 = time.perf_counter()
    load = Loader(engine)
    load.insert("products", ("id", "code", "name", "annual_rate_micro", "term_months", "method", "penalty_rate_micro",
                             "grace_days", "waterfall", "waterfall_mode", "day_count_basis", "currency",
                             "prepayment_mode"),
                [(1, "BENCH", "bench", 144000, 12, "equal_instalment", 216000, 0, "penalty,interest,principal",
                  "instalment_first", 360, "CNY", "reamortise")])
    segment = rng.choice(len(SEGMENTS), size=accounts, p=SEGMENT_SHARES)

    def borrowers(a: int, b: int) -> tuple[list[Any], ...]:
        ids = list(range(a + 1, b + 1))
        return (ids, [f"B{i}" for i in ids], ["bench"] * (b - a), ["0"] * (b - a),
                [SEGMENTS[k] for k in segment[a:b].tolist()], [""] * (b - a), ["zh-CN"] * (b - a),
                ["Asia/Shanghai"] * (b - a))

    load.insert("borrowers", ("id", "external_ref", "name", "phone", "segment", "region", "language", "timezone"),
                _batched(borrowers, accounts))
    disbursed = (AS_OF - timedelta(days=400)).isoformat()
    loan_row = ("CNY", 1_000_000, 144000, 216000, 12, "equal_instalment", 0, 360, "penalty,interest,principal",
                "instalment_first", "reamortise", disbursed, 1, disbursed, "active", 1, AS_OF.isoformat(), 0, 30, "M1",
                0, 0, 0)

    def loans(a: int, b: int) -> tuple[list[Any], ...]:
        ids = list(range(a + 1, b + 1))
        return (ids, [f"L{i}" for i in ids], ids, [1] * (b - a), *([v] * (b - a) for v in loan_row))

    load.insert("loans", ("id", "external_ref", "borrower_id", "product_id", "currency", "principal_fen",
                          "annual_rate_micro", "penalty_rate_micro", "term_months", "method", "grace_days",
                          "day_count_basis", "waterfall", "waterfall_mode", "prepayment_mode", "disbursed_on",
                          "anchor_day", "schedule_start", "status", "schedule_version", "accrued_through", "credit_fen",
                          "dpd", "bucket", "restructure_count", "written_off_fen", "recovered_fen"),
                _batched(loans, accounts))
    n_attempts = accounts * attempts
    span = LOOKBACK_DAYS + LOOKBACK_DAYS // 4  # a fifth of the attempts are older than the lookback
    days = [(AS_OF - timedelta(days=k)).isoformat() for k in range(span)]
    shares = np.asarray([o[3] for o in OUTCOMES])
    ago = np.sort(rng.integers(0, span, size=n_attempts))[::-1]  # appended day by day, as a contact log grows

    def contact_rows(a: int, b: int) -> tuple[list[Any], ...]:
        who = rng.integers(1, accounts + 1, size=b - a).tolist()
        kind = rng.choice(len(OUTCOMES), size=b - a, p=shares / shares.sum()).tolist()
        day = [days[k] for k in ago[a:b].tolist()]
        hour = rng.integers(8, 21, size=b - a).tolist()
        outcome = [OUTCOMES[k] for k in kind]
        return (who, who, [o[0] for o in outcome], ["collect"] * (b - a), ["CN"] * (b - a), day,
                [f"{d} {h:02d}:00:00" for d, h in zip(day, hour, strict=True)], day, hour,
                [o[1] for o in outcome], [o[2] for o in outcome], [0] * (b - a))

    load.insert("contact_attempts", ("loan_id", "borrower_id", "channel", "purpose", "profile", "as_of", "started_at",
                                     "local_date", "local_hour", "result", "blocked_rule", "duration_seconds"),
                _batched(contact_rows, n_attempts))
    nights = [AS_OF - timedelta(days=plan_days - k) for k in range(plan_days)]  # work dates up to AS_OF
    run_cols = ("id", "as_of", "work_date", "portfolio", "status", "objective_fen", "value_fen", "bound_fen", "gap",
                "seconds", "accounts", "assigned", "unplaced", "utilisation", "stats")
    runs = [(k + 1, (d - timedelta(days=1)).isoformat(), d.isoformat(), "default", "done", 0, 0, 0, 0.0, 0.0,
             plan_loans, plan_loans, 0, "{}", "{}") for k, d in enumerate(nights)]
    runs.append((len(nights) + 1, (nights[-1] - timedelta(days=1)).isoformat(), nights[-1].isoformat(), "other",
                 "skipped", 0, 0, 0, 0.0, 0.0, 0, 0, 0, "{}", "{}"))
    load.insert("plan_runs", run_cols, runs)
    planned = np.sort(rng.choice(accounts, size=plan_loans, replace=False) + 1)

    def items(a: int, b: int) -> tuple[list[Any], ...]:
        k = np.arange(a, b)
        night, loan = k // plan_loans, planned[k % plan_loans]
        arm = np.where(rng.random(b - a) < 0.1, "explore", "optimized").tolist()
        return ((night + 1).tolist(), [nights[i].isoformat() for i in night.tolist()], loan.tolist(), arm,
                ["default"] * (b - a), ["robot_call"] * (b - a), [0] * (b - a), [0] * (b - a), ["{}"] * (b - a))

    item_cols = ("run_id", "work_date", "loan_id", "arm", "segment", "treatment", "priority", "value_fen",
                 "explanation")
    load.insert("plan_items", item_cols, _batched(items, plan_loans * plan_days))
    skipped = [(len(nights) + 1, nights[-1].isoformat(), int(loan), "optimized", "default", "robot_call", 0, 0, "{}")
               for loan in planned[: max(1, plan_loans // 100)]]
    load.insert("plan_items", item_cols, skipped)
    load.close()
    return {"accounts": accounts, "contact_attempts": n_attempts, "plan_items": plan_loans * plan_days + len(skipped),
            "setup_seconds": round(time.perf_counter() - t0, 1), "planned": planned}


# ----------------------------------------------------------------------------- baselines (the originals)


def old_randomised_points(*, session: Session, points: Points) -> npt.NDArray[np.bool_]:
    """buyu.scoring.service.randomised_points as it was: every plan item through Python, one date at a time."""
    out = np.ones(points.size, dtype=bool)
    if points.size == 0 or not inspect(session.connection()).has_table("plan_items"):
        return out
    first, last = date.fromordinal(int(points.day.min())), date.fromordinal(int(points.day.max()))
    rows = session.execute(text(
        "SELECT i.loan_id, i.work_date FROM plan_items i JOIN plan_runs r ON r.id = i.run_id "
        "WHERE r.status = 'done' AND i.arm <> 'explore' AND i.work_date BETWEEN :a AND :b"),
        {"a": first, "b": last}).all()
    if not rows:
        return out
    scale = np.int64(10_000_000)
    chosen = np.asarray([int(loan) * scale + _ordinal(day) for loan, day in rows], dtype=np.int64)
    out[np.isin(points.loan.astype(np.int64) * scale + points.day.astype(np.int64), chosen)] = False
    return out


def _ordinal(value: Any) -> int:
    return (value if isinstance(value, date) else date.fromisoformat(str(value)[:10])).toordinal()


def old_load_inputs(*, session: Session, borrower_ids: Sequence[int], as_of: date,
                    lookback_days: int = LOOKBACK_DAYS) -> tuple[IntArray, IntArray, tuple[str, ...], Attempts]:
    """load_curves as it was, up to the fit: (people's borrower ids, their group codes, group names, attempts)."""
    wanted = np.asarray(list(borrower_ids), dtype=np.int64)
    a = ContactAttempt
    rows = session.execute(
        select(a.borrower_id, a.local_hour, a.as_of, a.channel, a.result, Borrower.segment)
        .join(Borrower, Borrower.id == a.borrower_id)
        .where(a.as_of > as_of - timedelta(days=lookback_days), a.as_of <= as_of, a.channel.in_(PHONE),
               a.result.is_not(None))).all()
    seen = np.asarray(sorted({int(r[0]) for r in rows} - set(wanted.tolist())), dtype=np.int64)
    everyone = np.concatenate([wanted, seen])
    where = {int(b): i for i, b in enumerate(everyone)}
    segment_of = {int(r[0]): str(r[5] or "") for r in rows}
    ids = [int(x) for x in wanted]
    for k in range(0, len(ids), CHUNK):  # the original sent one list: too many bound parameters at this scale
        for b, seg in session.execute(select(Borrower.id, Borrower.segment).where(Borrower.id.in_(ids[k:k + CHUNK]))):
            segment_of[int(b)] = str(seg or "")
    names = sorted(set(segment_of.values()) | {""})
    group_of = np.asarray([names.index(segment_of.get(int(b), "")) for b in everyone], dtype=np.int64)
    attempts = attempts_from(person=np.asarray([where[int(r[0])] for r in rows], dtype=np.int64),
                             hour=np.asarray([int(r[1]) for r in rows], dtype=np.int64),
                             day=np.asarray([r[2].toordinal() for r in rows], dtype=np.int64),
                             channel=[str(r[3]) for r in rows], result=[str(r[4]) for r in rows])
    return everyone, group_of, tuple(names), attempts


# ----------------------------------------------------------------------------- timing


def _timed(fn: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(**kwargs)
    return out, time.perf_counter() - t0


def bench_randomised(engine: Engine, *, planned: IntArray, accounts: int, plan_days: int,
                     rng: np.random.Generator) -> dict[str, Any]:
    """Decision points on the planned loans and as many others, over the plan days and the week before."""
    others = rng.choice(accounts, size=planned.size, replace=False) + 1
    loans = np.concatenate([planned, others])
    days = np.arange(AS_OF.toordinal() - plan_days - 6, AS_OF.toordinal() + 1)
    zeros = np.zeros(loans.size * days.size, dtype=np.int64)
    points = Points(loan=np.repeat(loans, days.size), day=np.tile(days, loans.size), treatment=zeros,
                    collector=zeros, hour=zeros, result=zeros)
    with Session(engine) as session:
        rows = int(session.execute(text(
            "SELECT count(*) FROM plan_items i JOIN plan_runs r ON r.id = i.run_id "
            "WHERE r.status = 'done' AND i.arm <> 'explore'")).scalar_one())
        old, old_s = _timed(old_randomised_points, session=session, points=points)
    with Session(engine) as session:
        new, new_s = _timed(randomised_points, session=session, points=points)
    return {"plan_items_read": rows, "points": points.size, "randomised": int(new.sum()),
            "old_seconds": round(old_s, 2), "new_seconds": round(new_s, 2), "ratio": round(old_s / new_s, 1),
            "identical": bool(np.array_equal(old, new))}


FIELDS = ("person", "hour", "day", "reached")


def _same_attempts(a: Attempts, b: Attempts, *, in_order: bool) -> bool:
    """The same attempts, in the same order or as multisets (without an ORDER BY the order is the database's)."""
    if a.person.size != b.person.size:
        return False
    if in_order:
        return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS)
    sa, sb = np.lexsort([getattr(a, f) for f in FIELDS]), np.lexsort([getattr(b, f) for f in FIELDS])
    return all(np.array_equal(getattr(a, f)[sa], getattr(b, f)[sb]) for f in FIELDS)


def bench_curves(engine: Engine, *, accounts: int, wanted: int, rng: np.random.Generator) -> dict[str, Any]:
    """The read of load_curves, old against new, then the fit they share (once)."""
    ids = (rng.permutation(accounts)[:wanted] + 1).tolist()
    with Session(engine) as session:
        (people, group_of, names, attempts), old_s = _timed(old_load_inputs, session=session, borrower_ids=ids,
                                                            as_of=AS_OF)
    with Session(engine) as session:
        new, new_s = _timed(load_attempts, session=session, borrower_ids=ids, as_of=AS_OF)
    identical = (np.array_equal(people, new.borrower) and np.array_equal(group_of, new.group_of)
                 and names == new.groups and _same_attempts(attempts, new.attempts, in_order=False))
    t0 = time.perf_counter()
    curves = hour_curves(attempts=new.attempts, group_of=new.group_of, last_day=AS_OF.toordinal())
    fit_s = time.perf_counter() - t0
    return {"wanted": wanted, "people": int(people.size), "attempts_used": int(attempts.person.size),
            "groups": list(names), "old_load_seconds": round(old_s, 2), "new_load_seconds": round(new_s, 2),
            "load_ratio": round(old_s / new_s, 1), "fit_seconds": round(fit_s, 2),
            "old_total_seconds": round(old_s + fit_s, 2), "new_total_seconds": round(new_s + fit_s, 2),
            "total_ratio": round((old_s + fit_s) / (new_s + fit_s), 2), "strength": curves.strength,
            "identical": bool(identical), "same_order": _same_attempts(attempts, new.attempts, in_order=True)}


def run(*, url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    """Build one database, time both readers on it."""
    rng = np.random.default_rng(args.seed)
    target = database(url)
    engine = make_engine(target)
    try:
        setup = build(engine, accounts=args.accounts, attempts=args.attempts, plan_loans=args.plan_loans,
                      plan_days=args.plan_days, rng=rng)
        planned = setup.pop("planned")
        out: dict[str, Any] = {"db": engine.dialect.name, **setup}
        out["randomised_points"] = bench_randomised(engine, planned=planned, accounts=args.accounts,
                                                    plan_days=args.plan_days, rng=rng)
        out["load_curves"] = bench_curves(engine, accounts=args.accounts, wanted=args.wanted or args.accounts,
                                          rng=rng)
    finally:
        engine.dispose()
        if url is not None:
            _drop_schema(url)
    return out


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--attempts", type=int, default=3, help="contact attempts per account")
    parser.add_argument("--wanted", type=int, default=0, help="borrowers asked for (default: every account)")
    parser.add_argument("--plan-loans", type=int, default=100_000)
    parser.add_argument("--plan-days", type=int, default=30)
    parser.add_argument("--database-url", default=None, help="also run on this PostgreSQL server (own schema)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    urls: list[str | None] = ([] if args.no_sqlite else [None]) + ([args.database_url] if args.database_url else [])
    same = True
    for url in urls:
        row = run(url=url, args=args)
        same &= row["randomised_points"]["identical"] and row["load_curves"]["identical"]
        if args.json:
            print(json.dumps(row, indent=2), flush=True)
        else:
            for key, value in row.items():
                print(f"{key}: {value}", flush=True)
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
