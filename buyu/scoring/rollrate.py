"""Roll rates: next-month bucket transitions by segment, and the 30-day periods behind them (pure).

A *period* follows one account for 30 days from a start day u: its state at the end of u − 1
(M0 current … M4+, closed, sold), the cash it paid in u … u + 29, and its state at the end of
u + 29. Only periods that ended by the history's last day are used: an account still being worked
contributes the periods it completed and no more (right censoring), so no unfinished month is
read as "nothing happened".

The roll-rate matrix of a segment is the share of its accounts moving from each state to each
state in a period, shrunk towards the whole book's matrix (a Dirichlet prior of `prior_strength`
pseudo-accounts per row), so a thin segment shows the book's pattern rather than noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from buyu.scoring.features import DAY_BITS, SALE, History, bucket_code

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

STATES: tuple[str, ...] = ("M0", "M1", "M2", "M3", "M4+", "closed", "sold")
LIVE = 5  # states 0..4 are still owed
CLOSED, SOLD = 5, 6
PERIOD_DAYS = 30


def state_at(*, history: History, loan: IntArray, day: IntArray) -> IntArray:
    """Each loan's state at the end of `day`."""
    loans = history.loans
    pos = loans.position(loan)
    snaps = history.snapshots
    idx = snaps.exact(loan, day)
    dpd = np.where(idx >= 0, np.asarray(snaps["dpd"], dtype=np.int64)[np.maximum(idx, 0)], 0) if snaps.size \
        else np.zeros(loan.size, dtype=np.int64)
    live = np.where(idx >= 0, 1 + bucket_code(np.maximum(dpd, 1)), 0)
    sold = _sold_by(history=history, loan=loan, day=day) | ((loans.written_off_on[pos] > 0)
                                                           & (loans.written_off_on[pos] <= day))
    closed = (loans.closed_on[pos] > 0) & (loans.closed_on[pos] <= day)
    return np.select([sold, closed], [SOLD, CLOSED], live).astype(np.int64)


def _sold_by(*, history: History, loan: IntArray, day: IntArray) -> npt.NDArray[np.bool_]:
    """Whether a sale was booked on or before `day`."""
    plc = history.placements
    keys = plc.key[np.asarray(plc["kind"], dtype=np.int64) == SALE] if plc.size else plc.key
    if not keys.size:
        return np.zeros(loan.size, dtype=bool)
    idx = np.searchsorted(keys, (loan << DAY_BITS) | (day + 1), side="left") - 1
    safe = np.maximum(idx, 0)
    return np.asarray((idx >= 0) & ((keys[safe] >> DAY_BITS) == loan), dtype=bool)


def balance_at(*, history: History, loan: IntArray, day: IntArray) -> FloatArray:
    """Outstanding fen at the end of `day`: the last snapshot on or before it, less payments since (≥ 0)."""
    snaps, pay = history.snapshots, history.payments
    idx = snaps.last_before(loan, day + 1)
    safe = np.maximum(idx, 0)
    if not snaps.size:
        return np.zeros(loan.size)
    seen = np.asarray(snaps["outstanding"], dtype=np.float64)[safe]
    since = snaps.day[safe] + 1
    lo, hi = pay.span(loan, since, day + 1)
    paid = pay.total("amount", lo, hi) if pay.size else np.zeros(loan.size)
    return np.where(idx >= 0, np.maximum(seen - paid, 0.0), 0.0)


@dataclass(frozen=True)
class Periods:
    """30-day periods: loan, start day, states before and after, cash paid (fen), balance at the start."""

    loan: IntArray
    start: IntArray
    state0: IntArray
    state1: IntArray
    cash: FloatArray
    balance0: FloatArray

    @property
    def size(self) -> int:
        """Number of periods."""
        return int(self.loan.size)

    def take(self, idx: npt.ArrayLike) -> Periods:
        """A subset."""
        i = np.asarray(idx)
        return Periods(self.loan[i], self.start[i], self.state0[i], self.state1[i], self.cash[i], self.balance0[i])


def periods(*, history: History, starts: npt.ArrayLike, loans: npt.ArrayLike | None = None) -> Periods:
    """Completed periods from each start day for loans already seen delinquent and still owed at the start."""
    ids = history.loans.loan_id if loans is None else np.asarray(loans, dtype=np.int64)
    first_seen = _first_snapshot(history=history, loan=ids)
    rows_loan, rows_start = [], []
    for u in np.asarray(starts, dtype=np.int64):
        if u + PERIOD_DAYS - 1 > history.last_day:
            continue  # censored: the period has not ended yet
        take = (first_seen > 0) & (first_seen <= u - 1)
        rows_loan.append(ids[take])
        rows_start.append(np.full(int(take.sum()), u, dtype=np.int64))
    loan = np.concatenate(rows_loan) if rows_loan else np.zeros(0, dtype=np.int64)
    start = np.concatenate(rows_start) if rows_start else np.zeros(0, dtype=np.int64)
    s0 = state_at(history=history, loan=loan, day=start - 1)
    live = s0 < LIVE
    loan, start, s0 = loan[live], start[live], s0[live]
    s1 = state_at(history=history, loan=loan, day=start + PERIOD_DAYS - 1)
    lo, hi = history.payments.span(loan, start, start + PERIOD_DAYS)
    cash = history.payments.total("amount", lo, hi) if history.payments.size else np.zeros(loan.size)
    return Periods(loan=loan, start=start, state0=s0, state1=s1, cash=cash,
                   balance0=balance_at(history=history, loan=loan, day=start - 1))


def _first_snapshot(*, history: History, loan: IntArray) -> IntArray:
    snaps = history.snapshots
    if not snaps.size:
        return np.zeros(loan.size, dtype=np.int64)
    lo = np.searchsorted(snaps.key, loan << DAY_BITS, side="left")
    safe = np.minimum(lo, snaps.size - 1)
    return np.where(snaps.loan[safe] == loan, snaps.day[safe], 0).astype(np.int64)


@dataclass(frozen=True)
class RollRates:
    """Transition matrices: the book's and each segment's (shrunk), from live states to every state."""

    dimension: str
    segments: tuple[str, ...]
    book: FloatArray  # (LIVE, states)
    by_segment: FloatArray  # (segments, LIVE, states)
    counts: IntArray  # (segments, LIVE)
    prior_strength: float

    def to_dict(self) -> dict[str, object]:
        """JSON for the console: {segment: {from: {to: share}}} plus the book and the counts."""
        def matrix(m: FloatArray) -> dict[str, dict[str, float]]:
            return {STATES[i]: {STATES[j]: round(float(m[i, j]), 4) for j in range(len(STATES))} for i in range(LIVE)}

        return {"dimension": self.dimension, "period_days": PERIOD_DAYS, "book": matrix(self.book),
                "segments": {s: {"accounts_by_state": {STATES[i]: int(self.counts[k, i]) for i in range(LIVE)},
                                 "matrix": matrix(self.by_segment[k])} for k, s in enumerate(self.segments)},
                "prior_strength": self.prior_strength}

    def roll_rate(self, segment: int | None = None) -> FloatArray:
        """Share of each delinquent bucket M1..M3 rolling to the next bucket (book or one segment)."""
        m = self.book if segment is None else self.by_segment[segment]
        return np.asarray([m[i, i + 1] for i in range(1, LIVE - 1)], dtype=np.float64)


def transition_counts(state0: IntArray, state1: IntArray, *, groups: IntArray | None = None,
                      n_groups: int = 1) -> IntArray:
    """(groups, LIVE, states) counts of period transitions."""
    g = np.zeros_like(state0) if groups is None else groups
    counts = np.zeros((n_groups, LIVE, len(STATES)), dtype=np.int64)
    np.add.at(counts, (g, state0, state1), 1)
    return counts


def shrink(counts: IntArray, prior: FloatArray, strength: float) -> FloatArray:
    """Row shares with a Dirichlet prior: (counts + strength × prior) / (n + strength)."""
    n = counts.sum(axis=-1, keepdims=True)
    return np.asarray((counts + strength * prior) / (n + strength), dtype=np.float64)


def fit_roll_rates(*, data: Periods, segment: IntArray, levels: tuple[str, ...], dimension: str,
                   prior_strength: float = 20.0) -> RollRates:
    """Book matrix from every period, segment matrices shrunk towards it."""
    book_counts = transition_counts(data.state0, data.state1)[0]
    uniform = np.full(len(STATES), 1.0 / len(STATES))
    book = shrink(book_counts, uniform[None, :], 1.0)
    seg = transition_counts(data.state0, data.state1, groups=segment, n_groups=len(levels))
    return RollRates(dimension=dimension, segments=levels, book=book, counts=seg.sum(axis=-1),
                     by_segment=shrink(seg, book[None], prior_strength), prior_strength=prior_strength)


def placement_age(*, history: History, loan: IntArray, day: IntArray, kind: int) -> FloatArray:
    """Days from each loan's latest placement of `kind` (agency, legal) dated before `day` to `day`; NaN if none."""
    plc = history.placements
    keys = plc.key[np.asarray(plc["kind"], dtype=np.int64) == kind] if plc.size else plc.key
    if not keys.size:
        return np.full(np.asarray(loan).size, np.nan)
    idx = np.searchsorted(keys, (loan << DAY_BITS) | day, side="left") - 1
    safe = np.maximum(idx, 0)
    ok = (idx >= 0) & ((keys[safe] >> DAY_BITS) == loan)
    return np.where(ok, day - (keys[safe] & ((1 << DAY_BITS) - 1)), np.nan).astype(np.float64)
