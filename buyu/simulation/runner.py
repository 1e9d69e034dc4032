"""The day-by-day simulator loop: the pure ground truth driving the REAL ledger and collections tables.

A scenario's generated book is boarded into the ledger (`board_loans`, on the day before
start_date, with each loan's paid instalments and DPD), its collectors become real collectors,
and every simulated day follows the order of `harness.run_day`, with the product doing the work:

1. views — the morning's accounts as the product sees them, read set-based from the database:
   ledger position from loans + instalments, open promises, cease/dispute flags, contact counts
   (folded each morning from yesterday's contact log, promises and complaints), placements;
2. capacity → the policy's plan → `check_plan` (the policy contract);
3. every contact is checked by the product's contact-rules engine (`collections.batch.
   request_contacts`, in the order the day would run them); a blocked one is logged and not made;
4. the ground truth draws what happened to the contacts made and to agency/legal/sale actions,
   and records fatigue;
5. outcomes are booked in the product's tables: results on the attempts (cease/dispute flags),
   promises, complaints and case events (agency placement, legal filing, sale) in the audit log,
   case holders for staffed work; a sale writes the loan off and its price arrives as a recovery;
6. the day's payments go through `ledger.batch.post_payments` in one batch: planned payments
   falling due (kept promises, nudges, agency and court recoveries, sale prices), spontaneous
   self-cure, and the instalments current borrowers pay on their due date;
7. the day commits and the real nightly run (`pipeline.eod.run_eod`) ages the book, opens and
   closes cases and judges promises; then the world moves to the next day.

Policies see only AccountViews; the oracle alone is handed the truth. After the last night the
ledger must reconcile (`check_ledger`), and the metrics (`simulation.metrics`) are read back from
the tables, with an audit of the contact log that does not use the rules engine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Engine, and_, case, event, func, insert, or_, select, text
from sqlalchemy.orm import Session

from buyu.collections import batch as contacts
from buyu.collections.models import AuditEntry, ContactAttempt, ContactFlags, ContactPoint, Promise
from buyu.collections.policy import RPC_RESULTS
from buyu.collections.service import collections_day
from buyu.db import make_engine, unit_of_work
from buyu.errors import Conflict, InvalidInput, LedgerError
from buyu.ledger import service as ledger
from buyu.ledger.batch import PaymentRequest, post_payments
from buyu.ledger.boarding import BoardingItem, board_loans
from buyu.ledger.check import check_ledger
from buyu.ledger.models import EodRun, Loan, Product
from buyu.ledger.models import ScheduleLine as Line
from buyu.ledger.schedule import Method, add_months
from buyu.ledger.schemas import BorrowerIn, PaymentIn, ProductIn, WriteOffIn
from buyu.migrate import upgrade
from buyu.money import RATE_SCALE
from buyu.people.models import Collector
from buyu.people.schemas import CollectorIn
from buyu.people.service import create_collector
from buyu.pipeline.eod import run_eod
from buyu.simulation import metrics as m
from buyu.simulation.policies import HistoryPolicy, Policy, check_plan, make_policy, policy_rng
from buyu.simulation.rng import stream
from buyu.simulation.scenario import Scenario
from buyu.simulation.views import (
    ALL_CODES,
    T_INDEX,
    AccountArrays,
    AccountView,
    Action,
    BoolArray,
    ContactCounts,
    IntArray,
    Treatment,
)
from buyu.simulation.world import PAY_SOURCES, GroundTruth, Outcomes

#: Annual penalty (罚息) rate of the simulated products: a common small-loan contract term.
DEFAULT_PENALTY_RATE = Decimal("0.18")
CONTACTS = (Treatment.ROBOT_CALL, Treatment.SMS, Treatment.AGENT_CALL, Treatment.FIELD_VISIT)
EVENTS = (Treatment.AGENCY, Treatment.LEGAL, Treatment.SALE)
AGENCY, LEGAL = 1, 2  # placement codes
FOREVER = date.max.toordinal()
#: Payment channels as a real ledger would see them (the truth's reasons stay hidden).
CHANNEL_OF = {"": "partner_platform", "promise": "partner_platform", "nudge": "partner_platform",
              "due": "partner_platform", "agency": "agency", "legal": "court", "sale": "debt_sale"}


class SimulationError(InvalidInput):
    """The simulation cannot run as asked (a non-empty database, a policy breaking its contract …)."""

    code = "simulation_error"


@dataclass(frozen=True, slots=True)
class DayReport:
    """One simulated day, for progress display."""

    day: date
    number: int
    days: int
    actions: int
    contacts: int
    blocked: int
    collected_fen: int
    cost_fen: int
    seconds: float


@dataclass(frozen=True)
class SimulationResult:
    """The metrics read back from the tables, the loop's own tally, and the per-day reports."""

    metrics: m.Metrics
    reports: list[DayReport]
    tally_collected_fen: int
    tally_cost_fen: int


Progress = Callable[[DayReport], None]


# --------------------------------------------------------------------------- entry points


def run_simulation(*, scenario: Scenario, policy: str | Policy, days: int | None = None,
                   database_url: str | None = None, profile: str = "CN",
                   penalty_rate: Decimal = DEFAULT_PENALTY_RATE, progress: Progress | None = None) -> SimulationResult:
    """Simulate on `database_url` (migrated; it must hold no loans) or on a fresh temporary SQLite file."""
    with simulation_engine(database_url) as engine:
        return simulate(engine=engine, scenario=scenario, policy=policy, days=days, profile=profile,
                        penalty_rate=penalty_rate, progress=progress)


@contextmanager
def simulation_engine(database_url: str | None = None) -> Iterator[Engine]:
    """An engine on a migrated, empty database: the given URL, or a temporary SQLite file removed afterwards."""
    folder = None
    if database_url is None:
        folder = tempfile.mkdtemp(prefix="buyu-sim-")
        database_url = f"sqlite:///{os.path.join(folder, 'sim.db')}"
    try:
        upgrade(database_url)
        engine = make_engine(database_url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_tuning if folder is None else _sqlite_scratch)
        try:
            yield engine
        finally:
            engine.dispose()
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _sqlite_tuning(dbapi_conn: Any, _record: Any) -> None:
    # A simulated book is written and re-read every day: a large page cache keeps it in memory.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA cache_size=-262144")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def _sqlite_scratch(dbapi_conn: Any, record: Any) -> None:
    # A temporary database is thrown away after the run: no need to wait for the disk at checkpoints.
    _sqlite_tuning(dbapi_conn, record)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA synchronous=OFF")
    cur.close()


def simulate(*, engine: Engine, scenario: Scenario, policy: str | Policy, days: int | None = None,
             profile: str = "CN", penalty_rate: Decimal = DEFAULT_PENALTY_RATE,
             progress: Progress | None = None) -> SimulationResult:
    """Board the scenario's book on an empty database, run `days` days (default scenario.days), measure."""
    chosen = _policy(policy)
    days = scenario.days if days is None else days
    if days < 1:
        raise SimulationError("days must be at least 1", code="invalid_days")
    started = time.perf_counter()
    sim = Simulation.start(engine=engine, scenario=scenario, policy=chosen, profile=profile, penalty_rate=penalty_rate)
    sim.play_history(days=scenario.history_days, progress=progress)
    reports = []
    for number in range(1, days + 1):
        reports.append(sim.run_day(number=number, days=days))
        if progress is not None:
            progress(reports[-1])
    metrics = sim.finish(started=started)
    return SimulationResult(metrics=metrics, reports=reports, tally_collected_fen=sim.collected_fen,
                            tally_cost_fen=sim.cost_fen)


def _policy(policy: str | Policy) -> Policy:
    if not isinstance(policy, str):
        return policy
    try:
        return make_policy(policy)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="unknown_policy") from None


# --------------------------------------------------------------------------- the book the loop keeps


@dataclass
class _Tally:
    """Contact history per account, folded from the contact log one day at a time (position = account − 1)."""

    attempts: IntArray  # (7, n) ring by day ordinal
    rpcs: IntArray
    totals: IntArray  # (n, 5): attempts, rpc, ptp, broken, complaints
    last_contact: IntArray  # ordinal, 0 = never

    @staticmethod
    def empty(n: int) -> _Tally:
        """No history yet."""
        return _Tally(attempts=np.zeros((7, n), dtype=np.int64), rpcs=np.zeros((7, n), dtype=np.int64),
                      totals=np.zeros((n, 5), dtype=np.int64), last_contact=np.zeros(n, dtype=np.int64))

    def fold(self, *, session: Session, day: date, position: Callable[[IntArray], IntArray]) -> None:
        """Add one day's attempts, RPCs, promises made, promises judged broken and complaints."""
        slot = day.toordinal() % 7
        self.attempts[slot] = 0
        self.rpcs[slot] = 0
        for loan_ids, values in _day_counts(session=session, day=day):
            pos = position(loan_ids)
            for column, counts in values.items():
                if column == "attempts":
                    self.attempts[slot, pos] += counts
                    self.last_contact[pos[counts > 0]] = day.toordinal()
                if column == "rpcs":
                    self.rpcs[slot, pos] += counts
                self.totals[pos, _TOTALS.index(column)] += counts

    def counts(self, today: date) -> Callable[[int], ContactCounts]:
        """ContactCounts by account position on the morning of `today` (the 7-day sums computed once)."""
        week, rpc_week = self.attempts.sum(axis=0).tolist(), self.rpcs.sum(axis=0).tolist()
        totals = self.totals.tolist()
        last, now = self.last_contact.tolist(), today.toordinal()

        def of(i: int) -> ContactCounts:
            t = totals[i]
            return ContactCounts(attempts_7d=week[i], rpc_7d=rpc_week[i], attempts_total=t[0], rpc_total=t[1],
                                 ptp_total=t[2], ptp_broken=t[3], complaints=t[4],
                                 days_since_contact=now - last[i] if last[i] else None)

        return of


_TOTALS = ("attempts", "rpcs", "ptps", "broken", "complaints")


def _day_counts(*, session: Session, day: date) -> list[tuple[IntArray, dict[str, IntArray]]]:
    """Per loan, for one business day: carried-out attempts and RPCs, promises made and broken, complaints."""
    a = ContactAttempt
    rpc = func.sum(case((a.result.in_(tuple(RPC_RESULTS)), 1), else_=0))
    attempts = session.execute(select(a.loan_id, func.count(), rpc).where(
        a.as_of == day, a.result.is_not(None), a.result != "blocked").group_by(a.loan_id)).all()
    made = session.execute(select(Promise.loan_id, func.count()).where(Promise.made_on == day)
                           .group_by(Promise.loan_id)).all()
    broken = session.execute(select(Promise.loan_id, func.count()).where(
        Promise.judged_on == day, Promise.status == "broken").group_by(Promise.loan_id)).all()
    complaints = session.execute(select(AuditEntry.entity_id, func.count()).where(
        AuditEntry.as_of == day, AuditEntry.action == m.COMPLAINT, AuditEntry.actor == m.ACTOR)
        .group_by(AuditEntry.entity_id)).all()

    def cols(rows: Sequence[Any], k: int) -> IntArray:
        return np.asarray([int(r[k]) for r in rows], dtype=np.int64)

    return [(cols(attempts, 0), {"attempts": cols(attempts, 1), "rpcs": cols(attempts, 2)}),
            (cols(made, 0), {"ptps": cols(made, 1)}), (cols(broken, 0), {"broken": cols(broken, 1)}),
            (cols(complaints, 0), {"complaints": cols(complaints, 1)})]


def recount(*, session: Session, day: date, loan_ids: IntArray) -> IntArray:
    """Totals (attempts, rpc, ptp, broken, complaints) per loan up to the day before `day`, by full GROUP BYs.

    The loop folds them day by day; this recount is how a test proves the fold equals the log.
    """
    tally = _Tally.empty(loan_ids.size)
    first = session.scalar(select(func.min(ContactAttempt.as_of))) or day
    position = _positions(loan_ids)
    d = first
    while d < day:
        tally.fold(session=session, day=d, position=position)
        d += timedelta(days=1)
    return tally.totals


def _positions(loan_ids: IntArray) -> Callable[[IntArray], IntArray]:
    order = np.argsort(loan_ids)
    sorted_ids = loan_ids[order]

    def position(ids: IntArray) -> IntArray:
        return np.asarray(order[np.searchsorted(sorted_ids, ids)], dtype=np.int64)

    return position


@dataclass
class _Morning:
    """The ledger and collections state of every account on one morning (position = account − 1)."""

    active: BoolArray
    dpd: IntArray
    overdue: IntArray
    balance: IntArray
    due_today: IntArray
    ptp_fen: IntArray
    ptp_due: IntArray  # ordinal, 0 = none
    cease: BoolArray
    dispute: BoolArray


@dataclass
class Simulation:
    """A simulation in progress: the world, the policy, and how accounts map to the product's rows.

    `Simulation.start(...)` boards the book; `run_day()` runs the world's current day and its night;
    `views()` shows this morning's accounts as the product sees them; `finish(first_day=…)` checks
    the ledger and measures. `simulate()` does all of it.
    """

    engine: Engine
    truth: GroundTruth
    policy: Policy
    profile: str
    loan_id: IntArray
    borrower_id: IntArray
    point_id: IntArray
    collector_db: dict[int, int]  # truth collector id → collectors.id
    tz: list[ZoneInfo]
    start_balance_fen: int
    tally: _Tally
    position: Callable[[IntArray], IntArray]
    borrower_position: dict[int, int]
    placement: IntArray = field(init=False)
    placed_until: IntArray = field(init=False)
    sold: BoolArray = field(init=False)
    planned: dict[int, list[tuple[int, int, str]]] = field(default_factory=lambda: defaultdict(list))
    collected_fen: int = 0
    cost_fen: int = 0
    measured_from: date | None = None
    retrain_every_days: int = 0  # the chosen policy's, kept through the history days so a model is ready

    def __post_init__(self) -> None:
        self.retrain_every_days = int(getattr(self.policy, "retrain_every_days", 0))
        bind = getattr(self.policy, "bind", None)
        if bind is not None:  # policies that read the product's own plan need the database and id maps
            bind(self)
        n = self.loan_id.size
        self.placement = np.zeros(n, dtype=np.int64)
        self.placed_until = np.zeros(n, dtype=np.int64)
        self.sold = np.zeros(n, dtype=np.bool_)

    @property
    def scenario(self) -> Scenario:
        """The world's scenario."""
        return self.truth.scenario

    # ------------------------------------------------------------------ set-up

    @staticmethod
    def start(*, engine: Engine, scenario: Scenario, policy: str | Policy, profile: str = "CN",
              penalty_rate: Decimal = DEFAULT_PENALTY_RATE) -> Simulation:
        """Generate the world, board its book and staff on an empty database, open the boarded cases."""
        truth = GroundTruth.from_scenario(scenario)
        boarded_on = scenario.start_date - timedelta(days=1)
        with unit_of_work(engine) as session:
            _require_empty(session)
            codes = _products(session=session, truth=truth, penalty_rate=penalty_rate)
            items = [_boarding_item(p, codes) for p in truth.portfolio.profiles]
            loan_ids = np.asarray(board_loans(session=session, items=items, on=boarded_on), dtype=np.int64)
            borrower_ids = _column(session, Loan.borrower_id, loan_ids)
            point_ids = _self_points(session=session, borrower_ids=borrower_ids)
            collectors = _collectors(session=session, truth=truth)
            collections_day(session=session, as_of=boarded_on)  # the boarding night's collections step
            start_balance = _outstanding(session=session)
            _analyze(session)
        return Simulation(
            engine=engine, truth=truth, policy=_policy(policy), profile=profile, loan_id=loan_ids,
            borrower_id=borrower_ids,
            point_id=point_ids, collector_db=collectors, start_balance_fen=start_balance,
            tz=[ZoneInfo(p.timezone) for p in truth.portfolio.profiles], tally=_Tally.empty(loan_ids.size),
            position=_positions(loan_ids),
            borrower_position={int(b): i for i, b in enumerate(borrower_ids)})

    # ------------------------------------------------------------------ what the product sees, and the end

    def views(self) -> list[AccountView]:
        """This morning's delinquent accounts as the policies see them (read from the tables)."""
        with unit_of_work(self.engine) as session:
            return self._views(morning=self._morning(session=session, day=self.truth.day), day=self.truth.day)

    def play_history(self, *, days: int, progress: Progress | None = None) -> None:
        """Play `days` of the lender's past with the exploration policy; the measured window starts after them.

        Every compared policy gets the same past (the policy's random stream is keyed by its name), and
        the start balance is re-read so metrics cover the measured window only.
        """
        if days <= 0:
            return
        chosen = self.policy
        self.policy = HistoryPolicy()
        for number in range(1, days + 1):
            report = self.run_day(number=number, days=days)
            if progress is not None:
                progress(report)
        self.policy = chosen
        self.measured_from = self.truth.day
        with unit_of_work(self.engine) as session:
            self.start_balance_fen = _outstanding(session=session)
        self.collected_fen = self.cost_fen = 0

    def finish(self, *, started: float | None = None) -> m.Metrics:
        """Check that the ledger reconciles and measure the days run so far from the tables."""
        first, last = self.measured_from or self.scenario.start_date, self.truth.day - timedelta(days=1)
        if last < first:
            raise SimulationError("no day has been simulated yet", code="nothing_simulated")
        with unit_of_work(self.engine) as session:
            check = check_ledger(session=session)
            if not check.ok:
                raise LedgerError(f"the ledger does not reconcile after the simulation ({check.mismatch_count} "
                                  "mismatches)", code="ledger_check_failed", details=check.mismatches[:20])
            return m.measure(session=session, scenario=self.scenario, policy=self.policy.name, first=first, last=last,
                             accounts=self.scenario.accounts, start_balance_fen=self.start_balance_fen,
                             profile=self.profile,
                             seconds=time.perf_counter() - started if started is not None else 0.0)

    # ------------------------------------------------------------------ one day

    def run_day(self, *, number: int = 0, days: int = 0) -> DayReport:
        """Plan, check, contact, book and pay one day, run its night, move the world on."""
        t0 = time.perf_counter()
        day, truth = self.truth.day, self.truth
        collected0, cost0 = self.collected_fen, self.cost_fen
        morning = getattr(self.policy, "morning", None)
        if morning is not None:  # a policy that reads last night's plan does so before the day's transaction
            morning(day)
        with unit_of_work(self.engine) as session:
            if day > self.scenario.start_date:
                self.tally.fold(session=session, day=day - timedelta(days=1), position=self.position)
            morning = self._morning(session=session, day=day)
            views = self._views(morning=morning, day=day)
            capacity = truth.capacity(agency_in_use=self._agency_in_use(morning, day))
            actions = self.policy.plan(day=day, accounts=views, collectors=truth.collectors, capacity=capacity,
                                       rng=policy_rng(truth.scenario.seed, self.policy.name, day),
                                       truth=truth if self.policy.uses_truth else None)
            problems = check_plan(actions, accounts=views, collectors=truth.collectors, capacity=capacity)
            if problems:
                raise SimulationError(f"policy {self.policy.name} broke the plan contract on {day}: {problems[:5]}",
                                      code="plan_contract_broken", details=problems[:20])
            carried, attempt_ids, blocked = self._contact(session=session, day=day, actions=actions)
            outcomes = self._draw(views=views, carried=carried, day=day)
            self._book(session=session, day=day, carried=carried, attempt_ids=attempt_ids, outcomes=outcomes)
            self._pay(session=session, day=day, morning=morning)
        run_eod(engine=self.engine, as_of=day, retrain_every_days=self.retrain_every_days)
        truth.advance_day()
        return DayReport(day=day, number=number, days=days, actions=len(actions),
                         contacts=sum(1 for a in carried if a.treatment in CONTACTS), blocked=blocked,
                         collected_fen=self.collected_fen - collected0, cost_fen=self.cost_fen - cost0,
                         seconds=time.perf_counter() - t0)

    def _morning(self, *, session: Session, day: date) -> _Morning:
        """The book as the product sees it this morning, set-based: ledger, promises, flags."""
        n = self.loan_id.size
        z = np.zeros(n, dtype=np.int64)
        state = _Morning(active=np.zeros(n, dtype=np.bool_), dpd=z.copy(), overdue=z.copy(), balance=z.copy(),
                         due_today=z.copy(), ptp_fen=z.copy(), ptp_due=z.copy(), cease=np.zeros(n, dtype=np.bool_),
                         dispute=np.zeros(n, dtype=np.bool_))
        rows = _ledger_rows(session=session, day=day)
        if rows:
            pos = self.position(np.asarray([r[0] for r in rows], dtype=np.int64))
            state.active[pos] = True
            state.dpd[pos] = [(day - r[1]).days if r[1] is not None else 0 for r in rows]
            for k, name in enumerate(("overdue", "balance", "due_today"), start=2):
                getattr(state, name)[pos] = [int(r[k] or 0) for r in rows]
        promises = session.execute(select(Promise.loan_id, Promise.amount_fen, Promise.due_date)
                                   .where(Promise.status == "open")).all()
        if promises:
            pos = self.position(np.asarray([p[0] for p in promises], dtype=np.int64))
            state.ptp_fen[pos] = [int(p[1]) for p in promises]
            state.ptp_due[pos] = [p[2].toordinal() for p in promises]
        for borrower, cease_from, dispute_open in session.execute(select(
                ContactFlags.borrower_id, ContactFlags.cease_from, ContactFlags.dispute_open)):
            i = self.borrower_position.get(int(borrower))
            if i is not None:
                state.cease[i] = cease_from is not None and cease_from <= day
                state.dispute[i] = bool(dispute_open)
        return state

    def _placed(self, day: date) -> BoolArray:
        return (self.placement > 0) & (self.placed_until >= day.toordinal()) & ~self.sold

    def _agency_in_use(self, morning: _Morning, day: date) -> int:
        return int((self._placed(day) & (self.placement == AGENCY) & morning.active).sum())

    def _views(self, *, morning: _Morning, day: date) -> list[AccountView]:
        """Today's delinquent, unsold accounts as AccountViews."""
        profiles = self.truth.portfolio.profiles
        placed = self._placed(day)
        counts = self.tally.counts(day)
        out = []
        for i in np.flatnonzero(morning.active & (morning.dpd > 0) & ~self.sold):
            kind = int(self.placement[i]) if placed[i] else 0
            out.append(AccountView(
                profile=profiles[i], dpd=int(morning.dpd[i]), balance_fen=int(morning.balance[i]),
                overdue_fen=int(morning.overdue[i]), history=counts(int(i)),
                open_ptp_fen=int(morning.ptp_fen[i]),
                open_ptp_due=date.fromordinal(int(morning.ptp_due[i])) if morning.ptp_due[i] else None,
                cease=bool(morning.cease[i]), dispute=bool(morning.dispute[i]),
                placement={AGENCY: "agency", LEGAL: "legal"}.get(kind)))
        return out

    # ------------------------------------------------------------------ contacts and outcomes

    def _contact(self, *, session: Session, day: date,
                 actions: Sequence[Action]) -> tuple[list[Action], list[int | None], int]:
        """Ask the rules about every contact (in the day's time order); returns what is carried out."""
        timed = sorted(((self._at(a, day, k), a) for a, k in _slots(actions)), key=lambda x: (x[0], x[1].account_id))
        asks = [contacts.ContactAsk(
            loan_id=int(self.loan_id[a.account_id - 1]), channel=a.treatment.value,
            contact_point_id=None if a.treatment is Treatment.FIELD_VISIT else int(self.point_id[a.account_id - 1]),
            at=at, collector_id=self.collector_db[a.collector_id] if a.collector_id is not None else None, as_of=day)
            for at, a in timed if a.treatment in CONTACTS]
        decisions = contacts.request_contacts(session=session, requests=asks, profile=self.profile)
        verdict = iter(decisions)
        carried: list[Action] = []
        ids: list[int | None] = []
        for _, a in timed:
            if a.treatment not in CONTACTS:
                carried.append(a)
                ids.append(None)
                continue
            decision = next(verdict)
            if decision.allowed:
                carried.append(a)
                ids.append(decision.attempt_id)
        return carried, ids, sum(1 for d in decisions if not d.allowed)

    def _at(self, action: Action, day: date, slot: tuple[int, int]) -> datetime:
        """When the action starts: its local hour, spread evenly over the hour among the actions sharing it."""
        k, n = slot
        local = datetime(day.year, day.month, day.day, action.hour, tzinfo=self.tz[action.account_id - 1])
        return (local + timedelta(seconds=k * 3600 // n)).astimezone(UTC)

    def _draw(self, *, views: Sequence[AccountView], carried: Sequence[Action], day: date) -> Outcomes:
        """What truly happened to the actions carried out; their contacts add to fatigue."""
        by_id = {v.account_id: v for v in views}
        arrays = AccountArrays.from_views([by_id[a.account_id] for a in carried])
        t = np.asarray([T_INDEX[a.treatment] for a in carried], dtype=np.int64)
        cid = np.asarray([a.collector_id or 0 for a in carried], dtype=np.int64)
        hour = np.asarray([a.hour for a in carried], dtype=np.int64)
        seed = self.scenario.seed
        out = self.truth.draw_contacts(accounts=arrays, treatment=t, collector_ids=cid, hour=hour,
                                       rng=stream(seed, "contacts", day), day=day)
        self.truth.record_contacts(account_ids=arrays.account_id, treatment=t)
        costs = [self._treatment_cost(a.treatment) for a in carried]
        self.cost_fen += sum(costs) + int(out.complaint.sum()) * self.scenario.fatigue.complaint_cost_fen
        return out

    def _treatment_cost(self, treatment: Treatment) -> int:
        t = self.scenario.treatments
        return {Treatment.ROBOT_CALL: t.robot_call.cost_fen, Treatment.SMS: t.sms.cost_fen,
                Treatment.AGENT_CALL: t.agent_call.cost_fen, Treatment.FIELD_VISIT: t.field_visit.cost_fen,
                Treatment.AGENCY: t.agency.cost_fen, Treatment.LEGAL: t.legal.cost_fen,
                Treatment.SALE: t.sale.cost_fen}.get(treatment, 0)

    def _book(self, *, session: Session, day: date, carried: Sequence[Action], attempt_ids: Sequence[int | None],
              outcomes: Outcomes) -> None:
        """Results, promises, complaints, case holders, placements and sales into the product's tables."""
        results, promises, audits = [], [], []
        holders: dict[int, int] = {}
        for k, (action, attempt) in enumerate(zip(carried, attempt_ids, strict=True)):
            i, loan = action.account_id - 1, int(self.loan_id[action.account_id - 1])
            if attempt is not None:
                results.append(contacts.OutcomeIn(attempt_id=attempt, result=ALL_CODES[int(outcomes.code[k])],
                                                  duration_seconds=int(outcomes.duration_s[k])))
                if action.collector_id is not None:
                    holders[loan] = self.collector_db[action.collector_id]
            if outcomes.ptp_fen[k] > 0 and attempt is not None:
                promises.append(contacts.PromiseIn(
                    loan_id=loan, made_on=day, due_date=day + timedelta(days=int(outcomes.ptp_offset[k])),
                    amount_fen=int(outcomes.ptp_fen[k]), attempt_id=attempt,
                    collector_id=holders.get(loan) if action.collector_id is not None else None))
            if outcomes.complaint[k]:
                audits.append(contacts.AuditIn(actor=m.ACTOR, action=m.COMPLAINT, entity="loan", entity_id=loan,
                                               as_of=day, details={"attempt_id": attempt,
                                                                   "treatment": action.treatment.value}))
            if outcomes.pay_fen[k] > 0:
                self.planned[day.toordinal() + int(outcomes.pay_offset[k])].append(
                    (i, int(outcomes.pay_fen[k]), PAY_SOURCES[int(outcomes.pay_source[k])]))
            if action.treatment in EVENTS:
                audits.append(self._event(session=session, action=action, loan=loan, day=day))
        contacts.record_outcomes(session=session, items=results, actor=m.ACTOR)
        contacts.record_promises(session=session, items=promises, actor=m.ACTOR)
        contacts.assign_cases(session=session, holders=holders, on=day, actor=m.ACTOR)
        contacts.record_audits(session=session, entries=audits)

    def _event(self, *, session: Session, action: Action, loan: int, day: date) -> contacts.AuditIn:
        """Agency placement, legal filing or sale: the case event (a sale also writes the loan off)."""
        i = action.account_id - 1
        if action.treatment is Treatment.AGENCY:
            until = day + timedelta(days=self.scenario.treatments.agency.placement_days)
            self.placement[i], self.placed_until[i] = AGENCY, until.toordinal()
            return contacts.AuditIn(actor=m.ACTOR, action=m.AGENCY_PLACED, entity="loan", entity_id=loan, as_of=day,
                                    details={"until": until.isoformat()})
        if action.treatment is Treatment.LEGAL:
            self.placement[i], self.placed_until[i] = LEGAL, FOREVER
            return contacts.AuditIn(actor=m.ACTOR, action=m.LEGAL_FILED, entity="loan", entity_id=loan, as_of=day)
        ledger.write_off(session=session, loan_id=loan, data=WriteOffIn(on=day, reason="sold to a debt buyer"))
        self.sold[i] = True
        return contacts.AuditIn(actor=m.ACTOR, action=m.SOLD, entity="loan", entity_id=loan, as_of=day)

    # ------------------------------------------------------------------ payments

    def _pay(self, *, session: Session, day: date, morning: _Morning) -> None:
        """Planned payments due today, self-cure and on-time instalments: one ledger batch."""
        owed = morning.overdue  # today's instalment included
        paid = np.zeros(self.loan_id.size, dtype=np.int64)
        payments: list[tuple[int, int, str]] = []

        def take(i: int, amount: int, source: str) -> None:
            if source == "sale":  # the buyer pays its price whatever the borrower owes
                payments.append((i, amount, source))
                return
            amount = min(amount, int(owed[i] - paid[i]))
            if amount > 0 and morning.active[i] and not self.sold[i]:
                paid[i] += amount
                payments.append((i, amount, source))

        for i, amount, source in self.planned.pop(day.toordinal(), []):
            take(i, amount, source)
        self._self_cure(morning=morning, paid=paid, day=day, take=take)
        self._instalments(morning=morning, day=day, take=take)
        requests = [PaymentRequest(
            loan_id=int(self.loan_id[i]), idempotency_key=f"sim:{day.isoformat()}:{int(self.loan_id[i])}:{k}",
            data=PaymentIn(amount=Decimal(amount).scaleb(-2), paid_on=day, channel=CHANNEL_OF[source]))
            for k, (i, amount, source) in enumerate(payments)]
        for result in post_payments(session=session, requests=requests):
            if result.error is not None:
                raise SimulationError(f"the ledger refused a simulated payment on {day}: {result.error.message}",
                                      code="payment_refused", details=result.error.to_dict())
        placed = self._placed(day) & (self.placement == AGENCY)
        prices = m.Prices.of(self.scenario)
        self.collected_fen += sum(a for _, a, _ in payments)
        self.cost_fen += sum(prices.commission(a) for i, a, _ in payments if placed[i])

    def _self_cure(self, *, morning: _Morning, paid: IntArray, day: date,
                   take: Callable[[int, int, str], None]) -> None:
        """Spontaneous payments of delinquent borrowers (after today's planned ones)."""
        overdue = np.maximum(morning.overdue - paid, 0)
        live = np.flatnonzero(morning.active & (morning.dpd > 0) & ~self.sold & (overdue > 0))
        if not live.size:
            return
        arrays = AccountArrays(
            account_id=live + 1, dpd=morning.dpd[live], balance_fen=morning.balance[live] - paid[live],
            overdue_fen=overdue[live], open_ptp=morning.ptp_fen[live] > 0, cease=morning.cease[live],
            dispute=morning.dispute[live], placed=self._placed(day)[live],
            field_possible=self.truth.portfolio.field_possible[live])
        amount = self.truth.draw_self_payments(accounts=arrays, rng=stream(self.scenario.seed, "payments", day))
        for i, a in zip(live[amount > 0], amount[amount > 0], strict=True):
            take(int(i), int(a), "")

    def _instalments(self, *, morning: _Morning, day: date, take: Callable[[int, int, str], None]) -> None:
        """Current borrowers pay the instalment due today, or roll into M1 tomorrow."""
        due = np.flatnonzero(morning.active & ~self.sold & (morning.dpd == 0) & (morning.due_today > 0))
        if not due.size:
            return
        amount = self.truth.draw_due_payments(account_ids=due + 1, due_fen=morning.due_today[due],
                                              rng=stream(self.scenario.seed, "due", day))
        for i, a in zip(due[amount > 0], amount[amount > 0], strict=True):
            take(int(i), int(a), "due")


def _slots(actions: Sequence[Action]) -> Iterator[tuple[Action, tuple[int, int]]]:
    """Each action with (its index, the count) among the actions sharing its treatment, collector and hour."""
    groups: dict[tuple[Treatment, int | None, int], list[Action]] = defaultdict(list)
    for a in actions:
        groups[(a.treatment, a.collector_id, a.hour)].append(a)
    for members in groups.values():
        for k, a in enumerate(members):
            yield a, (k, len(members))


def _ledger_rows(*, session: Session, day: date) -> list[Any]:
    """Per active loan: (id, oldest unpaid due date before `day`, overdue, balance, due today).

    As the generator counts them: overdue = principal and interest of the instalments due by `day`
    (today's included) plus all open penalty; balance = open principal, that interest, interest
    already booked on later instalments, and penalty; due today = today's instalment still open.
    """
    due = Line.due_date <= day
    penalty = Line.penalty_fen - Line.penalty_paid_fen - Line.penalty_waived_fen
    owed_interest = Line.interest_fen - Line.interest_paid_fen - Line.interest_waived_fen
    interest = case((due, owed_interest), else_=Line.interest_booked_fen - Line.interest_paid_fen
                    - Line.interest_waived_fen)
    stmt = (select(Loan.id, func.min(case((and_(Line.cleared_on.is_(None), Line.due_date < day), Line.due_date))),
                   func.sum(case((due, Line.principal_open_fen + owed_interest), else_=0) + penalty),
                   func.sum(Line.principal_open_fen + interest + penalty),
                   func.sum(case((Line.due_date == day, Line.principal_open_fen + owed_interest), else_=0)))
            .join(Line, and_(Line.loan_id == Loan.id, Line.superseded_on.is_(None)))
            .where(Loan.status == "active", or_(Line.cleared_on.is_(None), penalty > 0))
            .group_by(Loan.id))
    return list(session.execute(stmt).all())


# --------------------------------------------------------------------------- set-up helpers


def _require_empty(session: Session) -> None:
    if session.scalar(select(func.count()).select_from(Loan)) or session.scalar(
            select(func.count()).select_from(EodRun)) or session.scalar(select(func.count()).select_from(Collector)):
        raise Conflict("the simulation needs an empty database (no loans, collectors or nightly runs)",
                       code="database_not_empty")


def _products(*, session: Session, truth: GroundTruth, penalty_rate: Decimal) -> dict[tuple[str, int, int], str]:
    """One product per (kind, term, rate) in the book; returns their codes."""
    codes = {}
    existing = set(session.scalars(select(Product.code)))
    for kind, term, rate in sorted({(p.product, p.term_months, p.annual_rate_micro) for p in truth.portfolio.profiles}):
        code = f"SIM-{'MM' if kind == 'micro_merchant' else 'CL'}-{term}M-{rate}"
        codes[(kind, term, rate)] = code
        if code not in existing:
            ledger.create_product(session=session, data=ProductIn(
                code=code, name=f"simulated {kind.replace('_', '-')} loan, {term} months", term_months=term,
                annual_rate=Decimal(rate) / RATE_SCALE, method=Method.EQUAL_INSTALMENT, penalty_rate=penalty_rate))
    return codes


def _boarding_item(p: Any, codes: dict[tuple[str, int, int], str]) -> BoardingItem:
    return BoardingItem(
        external_ref=p.external_ref, product_code=codes[(p.product, p.term_months, p.annual_rate_micro)],
        borrower=BorrowerIn(external_ref=f"{p.external_ref}-B", name=f"Borrower {p.account_id}",
                            phone=f"1{p.account_id:010d}", segment=p.product, region=p.region, language=p.language,
                            timezone=p.timezone, income_band=p.income_band),
        principal=Decimal(p.principal_fen).scaleb(-2), disbursed_on=p.disbursed_on,
        paid_instalments=p.paid_instalments)


def _column(session: Session, column: Any, loan_ids: IntArray) -> IntArray:
    # The database held no loans before boarding: every loan is one of ours.
    values: dict[int, int] = dict(session.execute(select(Loan.id, column)).all())
    return np.asarray([values[int(x)] for x in loan_ids], dtype=np.int64)


def _self_points(*, session: Session, borrower_ids: IntArray) -> IntArray:
    """Each borrower's own phone as a 'self' contact point (set-based, as the nightly step adds them)."""
    from buyu.ledger.models import Borrower

    phones = dict(session.execute(select(Borrower.id, Borrower.phone)).all())
    session.connection().execute(insert(ContactPoint), [
        {"borrower_id": int(b), "kind": "self", "phone": phones[int(b)], "contact_name": None,
         "wrong_number": False, "wrong_number_on": None, "active": True} for b in borrower_ids])
    ids = dict(session.execute(select(ContactPoint.borrower_id, ContactPoint.id)
                               .where(ContactPoint.kind == "self")).all())
    return np.asarray([ids[int(b)] for b in borrower_ids], dtype=np.int64)


def _collectors(*, session: Session, truth: GroundTruth) -> dict[int, int]:
    """The scenario's collectors as real collectors; returns truth id → collectors.id."""
    start = truth.scenario.start_date
    out = {}
    for c in truth.collectors:
        row = create_collector(session=session, actor=m.ACTOR, data=CollectorIn(
            code=f"SIM-{c.kind.upper()}-{c.collector_id:04d}", name=f"Simulated {c.kind} {c.collector_id}",
            kind=c.kind,
            languages=list(c.languages), region=c.region or None, skills=["M1", "M2", "M3", "M4+"],
            minutes_per_day=c.minutes_per_day, visits_per_day=c.visits_per_day,
            hired_on=add_months(start, -c.tenure_months)))
        out[c.collector_id] = row.id
    return out


def _outstanding(*, session: Session) -> int:
    """The book's outstanding receivable: open principal, booked interest and penalty."""
    return int(session.scalar(select(func.coalesce(func.sum(
        Line.principal_open_fen + Line.interest_booked_fen - Line.interest_paid_fen - Line.interest_waived_fen
        + Line.penalty_fen - Line.penalty_paid_fen - Line.penalty_waived_fen), 0))
        .where(Line.superseded_on.is_(None))) or 0)


def _analyze(session: Session) -> None:
    # Planner statistics for the freshly boarded book: without them SQLite walks every loan in some nightly steps.
    session.execute(text("ANALYZE"))
