"""A pure, in-memory stand-in for the ledger, to exercise the core without a database.

The real simulator loop drives the product's ledger and collections tables; this harness keeps
just enough account state in arrays (DPD, balance, overdue, promises, flags, placements, contact
counts) to run policies against the ground truth day by day: for tests, benchmarks and quick
experiments. Its ledger is deliberately simple (payments reduce overdue then balance, an
instalment falls due on the loan's due day each month, no interest or penalty accrues).

The order of one day is the order the loop follows:
views → capacity → plan → check → true expectations → draw outcomes → record fatigue →
book outcomes → planned, spontaneous and scheduled payments → age → advance the world.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from buyu.simulation.policies import Policy, check_plan, policy_rng
from buyu.simulation.rng import stream
from buyu.simulation.views import (
    T_INDEX,
    TREATMENTS,
    AccountArrays,
    AccountView,
    BoolArray,
    ContactCounts,
    IntArray,
    Treatment,
)
from buyu.simulation.world import GroundTruth, Outcomes

AGENCY, LEGAL = 1, 2  # placement codes


@dataclass
class Book:
    """Per-account state arrays (position = account id − 1)."""

    dpd: IntArray
    balance: IntArray
    overdue: IntArray
    remaining: IntArray  # scheduled amount not yet fallen due nor paid
    ptp_fen: IntArray
    ptp_due: IntArray  # ordinal of the promise date, 0 = none
    paid_since_ptp: IntArray
    cease: BoolArray
    dispute: BoolArray
    placement: IntArray  # 0 none, 1 agency, 2 legal
    placed_until: IntArray  # ordinal
    sold: BoolArray
    attempts: IntArray  # (7, n) ring of daily attempts
    rpcs: IntArray
    totals: IntArray  # (n, 5): attempts, rpc, ptp, broken, complaints
    last_contact: IntArray  # ordinal, 0 = never
    planned: dict[int, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))

    @staticmethod
    def start(truth: GroundTruth) -> Book:
        """The book on start_date, from the generated loans."""
        p, n = truth.portfolio, truth.portfolio.size
        zeros = np.zeros(n, dtype=np.int64)
        flags = np.zeros(n, dtype=np.bool_)
        return Book(
            dpd=p.start_dpd.copy(), balance=p.start_balance_fen.copy(), overdue=p.start_overdue_fen.copy(),
            remaining=np.maximum(p.remaining_fen - p.start_overdue_fen, 0), ptp_fen=zeros.copy(),
            ptp_due=zeros.copy(), paid_since_ptp=zeros.copy(), cease=flags.copy(), dispute=flags.copy(),
            placement=zeros.copy(), placed_until=zeros.copy(), sold=flags.copy(),
            attempts=np.zeros((7, n), dtype=np.int64), rpcs=np.zeros((7, n), dtype=np.int64),
            totals=np.zeros((n, 5), dtype=np.int64), last_contact=zeros.copy(),
        )

    def views(self, truth: GroundTruth, day: date) -> list[AccountView]:
        """Today's delinquent, unsold accounts as the product would see them."""
        out = []
        today = day.toordinal()
        for i in np.flatnonzero((self.dpd > 0) & ~self.sold):
            t = self.totals[i]
            history = ContactCounts(
                attempts_7d=int(self.attempts[:, i].sum()), rpc_7d=int(self.rpcs[:, i].sum()),
                attempts_total=int(t[0]), rpc_total=int(t[1]), ptp_total=int(t[2]), ptp_broken=int(t[3]),
                complaints=int(t[4]),
                days_since_contact=today - int(self.last_contact[i]) if self.last_contact[i] else None,
            )
            kind = int(self.placement[i]) if self.placed_until[i] > today else 0
            placed = {AGENCY: "agency", LEGAL: "legal"}.get(kind)
            out.append(AccountView(
                profile=truth.portfolio.profiles[i], dpd=int(self.dpd[i]), balance_fen=int(self.balance[i]),
                overdue_fen=int(self.overdue[i]), history=history, open_ptp_fen=int(self.ptp_fen[i]),
                open_ptp_due=date.fromordinal(int(self.ptp_due[i])) if self.ptp_due[i] else None,
                cease=bool(self.cease[i]), dispute=bool(self.dispute[i]), placement=placed,
            ))
        return out

    def pay(self, idx: IntArray, amount: IntArray) -> IntArray:
        """Apply payments (capped at the balance); overdue first; a cleared overdue cures. Returns fen booked."""
        amount = np.minimum(amount, self.balance[idx])
        np.subtract.at(self.balance, idx, amount)
        to_overdue = np.minimum(amount, self.overdue[idx])
        np.subtract.at(self.overdue, idx, to_overdue)
        np.subtract.at(self.remaining, idx, np.maximum(amount - to_overdue, 0))
        np.maximum(self.remaining, 0, out=self.remaining)
        np.add.at(self.paid_since_ptp, idx, amount)
        self.dpd[idx] = np.where(self.overdue[idx] == 0, 0, self.dpd[idx])
        return amount


@dataclass(frozen=True, slots=True)
class DayResult:
    """One simulated day: the plan's true expected net and cost, and what was actually collected."""

    day: date
    actions: int
    by_treatment: dict[str, int]
    expected_net_fen: int
    expected_cost_fen: int
    collected_fen: int


def run_day(*, truth: GroundTruth, book: Book, policy: Policy) -> DayResult:
    """Plan, check, draw and book one day, then advance the world."""
    day, seed = truth.day, truth.scenario.seed
    views = book.views(truth, day)
    in_agency = int(((book.placement == AGENCY) & (book.placed_until > day.toordinal()) & ~book.sold).sum())
    capacity = truth.capacity(agency_in_use=in_agency)
    actions = policy.plan(day=day, accounts=views, collectors=truth.collectors, capacity=capacity,
                          rng=policy_rng(seed, policy.name, day), truth=truth if policy.uses_truth else None)
    problems = check_plan(actions, accounts=views, collectors=truth.collectors, capacity=capacity)
    if problems:
        raise AssertionError(f"{policy.name} broke the plan contract on {day}: {problems[:5]}")
    by_view = {v.account_id: v for v in views}
    acted = AccountArrays.from_views([by_view[a.account_id] for a in actions])
    t = np.array([T_INDEX[a.treatment] for a in actions], dtype=np.int64)
    cid = np.array([a.collector_id or 0 for a in actions], dtype=np.int64)
    hour = np.array([a.hour for a in actions], dtype=np.int64)
    truths = truth.responses(accounts=acted, treatment=t, collector_ids=cid, hour=hour, day=day)
    outcomes = truth.draw_contacts(accounts=acted, treatment=t, collector_ids=cid, hour=hour,
                                   rng=stream(seed, "contacts", day), day=day)
    truth.record_contacts(account_ids=acted.account_id, treatment=t)
    _book_outcomes(book, outcomes, day, placement_days=truth.scenario.treatments.agency.placement_days)
    collected = _payments(truth=truth, book=book, day=day)
    _age(truth=truth, book=book, day=day)
    truth.advance_day()
    return DayResult(
        day=day, actions=len(actions),
        by_treatment={x.value: int((t == T_INDEX[x]).sum()) for x in TREATMENTS if (t == T_INDEX[x]).any()},
        expected_net_fen=int(truths.expected_net_fen.sum()), expected_cost_fen=int(truths.expected_cost_fen.sum()),
        collected_fen=collected,
    )


def _book_outcomes(book: Book, out: Outcomes, day: date, *, placement_days: int) -> None:
    """Flags, promises, placements, sales and planned payments from today's outcomes."""
    idx = out.account_id - 1
    today = day.toordinal()
    contact = (out.treatment != T_INDEX[Treatment.AGENCY]) & (out.treatment != T_INDEX[Treatment.LEGAL]) & (
        out.treatment != T_INDEX[Treatment.SALE])
    slot = today % 7
    book.attempts[slot] = 0
    book.rpcs[slot] = 0
    np.add.at(book.attempts[slot], idx[contact], 1)
    np.add.at(book.rpcs[slot], idx, out.rpc.astype(np.int64))
    # Column views: add.at on them updates the totals table in place.
    np.add.at(book.totals[:, 0], idx[contact], 1)
    np.add.at(book.totals[:, 1], idx, out.rpc.astype(np.int64))
    np.add.at(book.totals[:, 2], idx, (out.ptp_fen > 0).astype(np.int64))
    np.add.at(book.totals[:, 4], idx, out.complaint.astype(np.int64))
    book.last_contact[idx[contact]] = today
    book.cease[idx[out.cease]] = True
    book.dispute[idx[out.dispute]] = True
    promised = out.ptp_fen > 0
    book.ptp_fen[idx[promised]] = out.ptp_fen[promised]
    book.ptp_due[idx[promised]] = today + out.ptp_offset[promised]
    book.paid_since_ptp[idx[promised]] = 0
    for code, kind in ((T_INDEX[Treatment.AGENCY], AGENCY), (T_INDEX[Treatment.LEGAL], LEGAL)):
        placed = idx[out.treatment == code]
        book.placement[placed] = kind
        book.placed_until[placed] = today + (placement_days if kind == AGENCY else 10**6)
    for i, amount, offset in zip(idx[out.pay_fen > 0], out.pay_fen[out.pay_fen > 0], out.pay_offset[out.pay_fen > 0],
                                 strict=True):
        book.planned[today + int(offset)].append((int(i), int(amount)))
    sold = idx[out.treatment == T_INDEX[Treatment.SALE]]
    book.sold[sold] = True


def _payments(*, truth: GroundTruth, book: Book, day: date) -> int:
    """Planned payments falling due, spontaneous self-cure, then promise bookkeeping; fen collected."""
    today, seed = day.toordinal(), truth.scenario.seed
    due = book.planned.pop(today, [])
    collected = 0
    if due:
        idx = np.array([i for i, _ in due], dtype=np.int64)
        amount = np.array([a for _, a in due], dtype=np.int64)
        # A sale's price always arrives; a borrower's planned payment only while they still owe.
        collected += int(book.pay(idx, np.where(book.sold[idx], amount, np.minimum(amount, book.balance[idx]))).sum())
    live = np.flatnonzero((book.dpd > 0) & ~book.sold & (book.overdue > 0))
    if live.size:
        arrays = AccountArrays(
            account_id=live + 1, dpd=book.dpd[live], balance_fen=book.balance[live], overdue_fen=book.overdue[live],
            open_ptp=book.ptp_fen[live] > 0, cease=book.cease[live], dispute=book.dispute[live],
            placed=book.placement[live] > 0, field_possible=truth.portfolio.field_possible[live])
        amount = truth.draw_self_payments(accounts=arrays, rng=stream(seed, "payments", day))
        paying = amount > 0
        collected += int(book.pay(live[paying], amount[paying]).sum())
    closing = np.flatnonzero((book.ptp_due > 0) & (book.ptp_due <= today))
    broken = closing[book.paid_since_ptp[closing] < book.ptp_fen[closing]]
    book.totals[broken, 3] += 1
    book.ptp_fen[closing] = 0
    book.ptp_due[closing] = 0
    return collected


def _age(*, truth: GroundTruth, book: Book, day: date) -> None:
    """DPD grows for the delinquent; instalments fall due; current borrowers pay theirs or roll."""
    p = truth.portfolio
    book.dpd = np.where((book.dpd > 0) & ~book.sold, book.dpd + 1, book.dpd)
    tomorrow = day + timedelta(days=1)
    falling = np.flatnonzero((p.due_day == tomorrow.day) & (book.remaining > 0) & ~book.sold)
    if not falling.size:
        return
    due = np.minimum(p.instalment_fen[falling], book.remaining[falling])
    current = book.dpd[falling] == 0
    paid = truth.draw_due_payments(account_ids=falling + 1, due_fen=due, rng=stream(truth.scenario.seed, "due", day))
    missed = ~current | (paid == 0)
    book.remaining[falling] -= due
    # No interest accrues here, so overdue can at most reach the balance.
    late = falling[missed]
    book.overdue[late] = np.minimum(book.overdue[late] + due[missed], book.balance[late])
    book.balance[falling[~missed]] -= due[~missed]
    book.dpd[falling[missed & current]] = 1


def run(*, truth: GroundTruth, policy: Policy, days: int) -> list[DayResult]:
    """Run `days` days from the world's current day with a fresh book."""
    book = Book.start(truth)
    return [run_day(truth=truth, book=book, policy=policy) for _ in range(days)]
