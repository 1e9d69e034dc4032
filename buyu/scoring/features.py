"""Features, treatments and outcomes of decision points, computed from event history arrays (pure).

A *decision point* is (loan, day): the morning of `day`, when the loan was delinquent at the end of
`day − 1`, not placed with an agency or in court, and without an open dispute. Everything a
feature uses happened strictly before `day` (snapshots of `day − 1`, attempts, payments, promises
and case events dated before `day`), so a point's features are what the product knew that morning;
its treatment is what was done on `day`, and its outcomes are the payments dated `day … day + h − 1`.

`History` holds the product's tables as sorted arrays (`scoring.data` loads them; tests may build
them by hand). Days are date ordinals. Each event table is sorted by (loan, day), so "how many in a
window" and "the last one before" are two binary searches per point for the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: The treatments the propensity model scores, in array order (sale has a price, not a propensity).
TREATMENTS: tuple[str, ...] = ("robot_call", "sms", "agent_call", "field_visit", "agency", "legal", "no_action")
T_INDEX: dict[str, int] = {t: i for i, t in enumerate(TREATMENTS)}
NO_ACTION = T_INDEX["no_action"]
STAFFED: tuple[int, ...] = (T_INDEX["agent_call"], T_INDEX["field_visit"])
#: When one day has several attempts, the day's treatment is the strongest one carried out.
CHANNEL_PRIORITY: dict[str, int] = {"sms": 1, "robot_call": 2, "agent_call": 3, "field_visit": 4}
#: Contact results that mean a conversation with the right party.
RPC_RESULTS = frozenset({"rpc", "ptp", "refused", "dispute", "callback", "transferred", "ceased", "visit_met"})
UNANSWERED = frozenset({"no_answer", "busy", "voicemail"})
#: Result groups used as the "last result" category.
RESULT_GROUP: dict[str, str] = {
    **{r: "unanswered" for r in UNANSWERED}, "wrong_party": "wrong_party", "ptp": "ptp", "refused": "refused",
    "sms_sent": "sms", "sms_failed": "unanswered", "visit_absent": "unanswered",
    **{r: "rpc" for r in ("rpc", "dispute", "callback", "transferred", "ceased", "visit_met")},
}
LAST_RESULT_LEVELS: tuple[str, ...] = ("none", "unanswered", "wrong_party", "sms", "rpc", "refused", "ptp")
BUCKETS: tuple[str, ...] = ("M1", "M2", "M3", "M4+")
#: Placement kinds in the placements log.
AGENCY, LEGAL, SALE = 0, 1, 2
DAY_BITS = 20  # date ordinals stay below 2^20 until the year 2870
FOREVER = (1 << DAY_BITS) - 1


def bucket_code(dpd: npt.ArrayLike) -> IntArray:
    """0..3 for M1..M4+ (DPD ≤ 0 counts as M1: points are delinquent by construction)."""
    return np.searchsorted(np.array([30, 60, 90]), np.asarray(dpd), side="left").astype(np.int64)


def _keys(loan: IntArray, day: IntArray) -> IntArray:
    return (np.asarray(loan, dtype=np.int64) << DAY_BITS) | np.asarray(day, dtype=np.int64)


def lookup(keys: IntArray, values: npt.ArrayLike, side: Literal["left", "right"] = "left") -> IntArray:
    """np.searchsorted(keys, values, side), probing in sorted order: millions of shuffled probes miss the cache
    at every step of the search, sorted ones walk the keys once (several times faster, sort included)."""
    v = np.asarray(values, dtype=np.int64)
    order = np.argsort(v)
    out = np.empty(v.size, dtype=np.int64)
    out[order] = np.searchsorted(keys, v[order], side=side)
    return out


def member(keys: IntArray, values: npt.ArrayLike) -> BoolArray:
    """Whether each value is one of the sorted `keys`: np.isin, without the hashing np.unique it runs on both
    arrays (seconds on millions of wide-ranging keys)."""
    v = np.asarray(values, dtype=np.int64)
    if keys.size == 0:
        return np.zeros(v.size, dtype=bool)
    return np.asarray(keys[np.minimum(lookup(keys, v), keys.size - 1)] == v, dtype=bool)


class EventLog:
    """Events sorted by (loan, day) with named value columns and cached running sums."""

    def __init__(self, *, loan: npt.ArrayLike, day: npt.ArrayLike, **columns: npt.ArrayLike) -> None:
        keys = _keys(np.asarray(loan, dtype=np.int64), np.asarray(day, dtype=np.int64))
        order = np.argsort(keys, kind="stable")
        self.key: IntArray = keys[order]
        self.loan: IntArray = self.key >> DAY_BITS
        self.day: IntArray = self.key & FOREVER
        self.columns: dict[str, npt.NDArray[np.generic]] = {k: np.asarray(v)[order] for k, v in columns.items()}
        self._cum: dict[str, FloatArray] = {}

    @property
    def size(self) -> int:
        """Number of events."""
        return int(self.key.size)

    def __getitem__(self, name: str) -> npt.NDArray[np.generic]:
        return self.columns[name]

    def span(self, loan: IntArray, start: IntArray, end: IntArray) -> tuple[IntArray, IntArray]:
        """Index range [lo, hi) of each loan's events with start ≤ day < end."""
        lo = np.searchsorted(self.key, _keys(loan, start), side="left")
        hi = np.searchsorted(self.key, _keys(loan, np.maximum(end, start)), side="left")
        return lo.astype(np.int64), hi.astype(np.int64)

    def total(self, name: str | None, lo: IntArray, hi: IntArray) -> FloatArray:
        """Sum of a column (count of events when `name` is None) over each index range."""
        key = name or ""
        if key not in self._cum:
            values = np.ones(self.size) if name is None else np.asarray(self.columns[name], dtype=np.float64)
            self._cum[key] = np.concatenate([[0.0], np.cumsum(values)])
        cum = self._cum[key]
        return np.asarray(cum[hi] - cum[lo], dtype=np.float64)

    def last_before(self, loan: IntArray, day: IntArray) -> IntArray:
        """Index of each loan's last event dated before `day`, or −1."""
        if not self.size:
            return np.full(np.asarray(loan).size, -1, dtype=np.int64)
        idx = np.searchsorted(self.key, _keys(loan, day), side="left") - 1
        ok = (idx >= 0) & (self.loan[np.maximum(idx, 0)] == loan)
        return np.where(ok, idx, -1).astype(np.int64)

    def exact(self, loan: IntArray, day: IntArray) -> IntArray:
        """Index of the (first) event of each loan on exactly `day`, or −1."""
        keys = _keys(loan, day)
        idx = np.minimum(np.searchsorted(self.key, keys, side="left"), max(self.size - 1, 0))
        ok = (self.size > 0) & (self.key[idx] == keys) if self.size else np.zeros(keys.size, dtype=bool)
        return np.where(ok, idx, -1).astype(np.int64)


@dataclass(frozen=True)
class Loans:
    """Static facts per loan (sorted by loan id); categorical columns are codes into `levels`."""

    loan_id: IntArray
    borrower_id: IntArray
    principal_fen: IntArray
    term_months: IntArray
    annual_rate_micro: IntArray
    disbursed: IntArray  # ordinal
    birth_year: FloatArray  # NaN when unknown
    contact_points: IntArray
    categorical: dict[str, IntArray]
    levels: dict[str, tuple[str, ...]]
    #: Day a cease-contact request took effect and a dispute was opened (0 = none).
    cease_from: IntArray
    dispute_from: IntArray
    #: Day the loan was closed or settled, and day it was written off (0 = not).
    closed_on: IntArray
    written_off_on: IntArray

    def position(self, loan: npt.ArrayLike) -> IntArray:
        """Row of each loan id (the ids must be present)."""
        pos = np.searchsorted(self.loan_id, np.asarray(loan, dtype=np.int64))
        return np.asarray(pos, dtype=np.int64)


@dataclass(frozen=True)
class History:
    """The product's history as arrays: loans, snapshots, attempts, payments, promises, placements, lines.

    snapshots: dpd, overdue (principal + interest + penalty), outstanding — one per delinquent loan and night.
    attempts (carried out, with a result): channel, result (strings), collector (0 = none), hour.
    payments (posted, not reversed): amount. promises by made day: due, amount, status, judged (0 = open).
    judged: promises by judged day: kept (0/1). placements: kind (AGENCY/LEGAL/SALE), until (ordinal).
    complaints: one event each. paid_lines: instalments by the day they were cleared.
    """

    loans: Loans
    snapshots: EventLog
    attempts: EventLog
    payments: EventLog
    promises: EventLog
    judged: EventLog
    placements: EventLog
    complaints: EventLog
    paid_lines: EventLog
    first_day: int
    last_day: int
    meta: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Points:
    """Decision points (loan, day ordinal) with the treatment done that day, its collector, hour and result.

    `result`: 0 no contact attempt, 1 attempt without a right-party conversation, 2 conversation without a
    promise, 3 promise to pay.
    """

    loan: IntArray
    day: IntArray
    treatment: IntArray
    collector: IntArray  # 0 = none
    hour: IntArray
    result: IntArray

    @property
    def size(self) -> int:
        """Number of points."""
        return int(self.loan.size)

    def take(self, idx: npt.ArrayLike) -> Points:
        """A subset by index or mask."""
        i = np.asarray(idx)
        return Points(loan=self.loan[i], day=self.day[i], treatment=self.treatment[i], collector=self.collector[i],
                      hour=self.hour[i], result=self.result[i])


@dataclass(frozen=True)
class FeatureFrame:
    """A feature matrix: float numeric columns (NaN = missing) and categorical string codes."""

    numeric: FloatArray
    numeric_names: tuple[str, ...]
    categorical: IntArray
    categorical_names: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]

    @property
    def size(self) -> int:
        """Number of rows."""
        return int(self.numeric.shape[0])

    @property
    def names(self) -> tuple[str, ...]:
        """All feature names, numeric first."""
        return self.numeric_names + self.categorical_names

    def take(self, idx: npt.ArrayLike) -> FeatureFrame:
        """A subset of rows."""
        i = np.asarray(idx)
        return FeatureFrame(numeric=self.numeric[i], numeric_names=self.numeric_names,
                            categorical=self.categorical[i], categorical_names=self.categorical_names,
                            levels=self.levels)

    def num(self, name: str) -> FloatArray:
        """One numeric column."""
        return np.asarray(self.numeric[:, self.numeric_names.index(name)], dtype=np.float64)

    def cat(self, name: str) -> tuple[IntArray, tuple[str, ...]]:
        """One categorical column and its levels."""
        j = self.categorical_names.index(name)
        return np.asarray(self.categorical[:, j], dtype=np.int64), self.levels[j]

    def cat_labels(self, name: str) -> npt.NDArray[np.str_]:
        """One categorical column as strings."""
        codes, levels = self.cat(name)
        return np.asarray(levels, dtype=np.str_)[codes]


# --------------------------------------------------------------------------- decision points


def decision_points(*, history: History, first: date, last: date) -> Points:
    """Every actionable (loan, day) with first ≤ day ≤ last, and what was done to it that day."""
    snaps = history.snapshots
    keep = (snaps.day >= first.toordinal() - 1) & (snaps.day <= last.toordinal() - 1)
    loan, day = snaps.loan[keep], snaps.day[keep] + 1
    ok = ~_placed(history=history, loan=loan, day=day) & ~_disputed(history=history, loan=loan, day=day)
    loan, day = loan[ok], day[ok]
    treatment, collector, hour, result = observed_treatment(history=history, loan=loan, day=day)
    keep = treatment >= 0
    return Points(loan=loan[keep], day=day[keep], treatment=treatment[keep], collector=collector[keep],
                  hour=hour[keep], result=result[keep])


def _placed(*, history: History, loan: IntArray, day: IntArray) -> BoolArray:
    """Whether a placement (agency still running, legal filing, sale) made before `day` holds the loan."""
    log = history.placements
    idx = log.last_before(loan, day)
    safe = np.maximum(idx, 0)
    until = np.asarray(log["until"], dtype=np.int64)[safe] if log.size else np.zeros(loan.size, dtype=np.int64)
    return (idx >= 0) & (until >= day)


def _disputed(*, history: History, loan: IntArray, day: IntArray) -> BoolArray:
    pos = history.loans.position(loan)
    since = history.loans.dispute_from[pos]
    return (since > 0) & (since < day)


def observed_treatment(*, history: History, loan: IntArray,
                       day: IntArray) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """(treatment, collector, local hour, result) done on each (loan, day); treatment −1 marks a sale."""
    n = loan.size
    treatment = np.full(n, NO_ACTION, dtype=np.int64)
    collector = np.zeros(n, dtype=np.int64)
    hour = np.full(n, 10, dtype=np.int64)
    result = np.zeros(n, dtype=np.int64)
    att = history.attempts
    if att.size:
        if "t_code" not in att.columns:
            _derive_attempt_flags(att)
        lo, hi = att.span(loan, day, day + 1)
        best = np.zeros(n, dtype=np.int64)
        prio, codes = np.asarray(att["priority"], dtype=np.int64), np.asarray(att["t_code"], dtype=np.int64)
        who, when = np.asarray(att["collector"], dtype=np.int64), np.asarray(att["hour"], dtype=np.int64)
        funnel = np.asarray(att["funnel"], dtype=np.int64)
        for k in range(int((hi - lo).max(initial=0))):
            j = np.where(lo + k < hi, lo + k, 0)
            better = (lo + k < hi) & (prio[j] > best)
            best = np.where(better, prio[j], best)
            treatment = np.where(better, codes[j], treatment)
            collector = np.where(better, who[j], collector)
            hour = np.where(better, when[j], hour)
            result = np.where(better, funnel[j], result)
    plc = history.placements
    if plc.size:
        idx = plc.exact(loan, day)
        kind = np.asarray(plc["kind"], dtype=np.int64)[np.maximum(idx, 0)]
        here = idx >= 0
        treatment = np.select([here & (kind == AGENCY), here & (kind == LEGAL), here & (kind == SALE)],
                              [T_INDEX["agency"], T_INDEX["legal"], -1], treatment)
    return treatment, collector, hour, result


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Outcomes:
    """What each point paid: any payment within 7 and 30 days, and the amount within 30 days (fen)."""

    paid_7d: BoolArray
    paid_30d: BoolArray
    amount_30d: IntArray
    matured_7d: BoolArray
    matured_30d: BoolArray


def outcomes(*, history: History, points: Points, last_day: int | None = None) -> Outcomes:
    """Payments dated day … day + h − 1 (h = 7, 30); matured when that window ends by `last_day`."""
    end = history.last_day if last_day is None else last_day
    pay = history.payments
    lo7, hi7 = pay.span(points.loan, points.day, points.day + 7)
    lo30, hi30 = pay.span(points.loan, points.day, points.day + 30)
    amount = np.rint(pay.total("amount", lo30, hi30)).astype(np.int64)
    return Outcomes(paid_7d=hi7 > lo7, paid_30d=hi30 > lo30, amount_30d=amount,
                    matured_7d=points.day + 6 <= end, matured_30d=points.day + 29 <= end)


# --------------------------------------------------------------------------- features

NUMERIC: tuple[str, ...] = (
    "dpd", "log_overdue", "log_outstanding", "overdue_share", "log_principal", "term_months", "annual_rate",
    "months_on_book", "instalments_paid", "paid_share_of_term", "age", "contact_points", "history_days",
    "attempts_7d", "attempts_30d", "attempts_90d", "calls_90d", "answered_rate", "rpc_7d", "rpc_30d", "rpc_90d",
    "rpc_rate", "wrong_party_90d", "sms_30d", "visits_90d", "agent_calls_30d", "days_since_attempt",
    "days_since_rpc", "ptp_90d", "ptp_kept_90d", "ptp_broken_90d", "keep_rate", "open_ptp", "open_ptp_share",
    "days_to_ptp_due", "payments_30d", "log_paid_30d", "log_paid_90d", "days_since_payment", "last_payment_share",
    "complaints_90d", "agency_before", "cease",
)
#: Behaviour is read over fixed windows (7, 30, 90 days) and recency is capped, so a feature means the same
#: for an account boarded last month and one worked for years.
WINDOW = 90
CATEGORICAL: tuple[str, ...] = ("bucket", "segment", "region", "language", "income_band", "last_result")


def build_features(*, history: History, points: Points) -> FeatureFrame:
    """The feature matrix of decision points (everything known on the morning of each point's day)."""
    cols: dict[str, FloatArray] = {}
    cols |= _account_features(history=history, loan=points.loan, day=points.day)
    cols |= _contact_features(history=history, loan=points.loan, day=points.day)
    cols |= _promise_features(history=history, loan=points.loan, day=points.day, overdue=cols["_overdue"])
    cols |= _payment_features(history=history, loan=points.loan, day=points.day, overdue=cols["_overdue"])
    numeric = np.column_stack([cols[n] for n in NUMERIC]) if points.size else np.zeros((0, len(NUMERIC)))
    cats, levels = _categorical(history=history, loan=points.loan, day=points.day, dpd=cols["dpd"])
    return FeatureFrame(numeric=numeric.astype(np.float64), numeric_names=NUMERIC, categorical=cats,
                        categorical_names=CATEGORICAL, levels=levels)


def _account_features(*, history: History, loan: IntArray, day: IntArray) -> dict[str, FloatArray]:
    loans, snaps = history.loans, history.snapshots
    pos = loans.position(loan)
    idx = snaps.exact(loan, day - 1)
    safe = np.maximum(idx, 0)

    def snap(name: str) -> FloatArray:
        if not snaps.size:
            return np.zeros(loan.size)
        return np.where(idx >= 0, np.asarray(snaps[name], dtype=np.float64)[safe], 0.0)

    overdue, outstanding = snap("overdue"), snap("outstanding")
    lo, hi = history.paid_lines.span(loan, np.zeros_like(day), day)
    paid = history.paid_lines.total("n", lo, hi) if history.paid_lines.size else np.zeros(loan.size)
    term = loans.term_months[pos].astype(np.float64)
    birth = loans.birth_year[pos]
    years = np.asarray([date.fromordinal(int(d)).year for d in day], dtype=np.float64) if loan.size else np.zeros(0)
    return {
        # The morning's DPD is one more than last night's snapshot.
        "dpd": snap("dpd") + 1, "_overdue": overdue, "log_overdue": np.log1p(overdue / 100),
        "log_outstanding": np.log1p(outstanding / 100), "overdue_share": overdue / np.maximum(outstanding, 1.0),
        "log_principal": np.log1p(loans.principal_fen[pos] / 100), "term_months": term,
        "annual_rate": loans.annual_rate_micro[pos] / 1e6, "months_on_book": (day - loans.disbursed[pos]) / 30.4,
        "instalments_paid": paid, "paid_share_of_term": paid / np.maximum(term, 1.0),
        "age": years - birth, "contact_points": loans.contact_points[pos].astype(np.float64),
        "cease": ((loans.cease_from[pos] > 0) & (loans.cease_from[pos] < day)).astype(np.float64),
    }


def _contact_features(*, history: History, loan: IntArray, day: IntArray) -> dict[str, FloatArray]:
    att = history.attempts
    if "is_rpc" not in att.columns:
        _derive_attempt_flags(att)
    lo7, hi = att.span(loan, day - 7, day)
    lo30, _ = att.span(loan, day - 30, day)
    lo, _ = att.span(loan, day - WINDOW, day)
    calls = att.total("is_call", lo, hi)
    answered = att.total("is_answered", lo, hi)
    rpc = att.total("is_rpc", lo, hi)
    talks = calls + att.total("is_visit", lo, hi)
    out: dict[str, FloatArray] = {
        "attempts_7d": att.total(None, lo7, hi), "attempts_30d": att.total(None, lo30, hi),
        "attempts_90d": att.total(None, lo, hi), "calls_90d": calls,
        "answered_rate": np.where(calls > 0, answered / np.maximum(calls, 1), np.nan),
        "rpc_7d": att.total("is_rpc", lo7, hi), "rpc_30d": att.total("is_rpc", lo30, hi), "rpc_90d": rpc,
        "rpc_rate": np.where(talks > 0, rpc / np.maximum(talks, 1), np.nan),
        "wrong_party_90d": att.total("is_wrong", lo, hi), "sms_30d": att.total("is_sms", lo30, hi),
        "visits_90d": att.total("is_visit", lo, hi), "agent_calls_30d": att.total("is_agent", lo30, hi),
    }
    last = att.last_before(loan, day)
    out["days_since_attempt"] = _capped(np.where(last >= 0, day - att.day[np.maximum(last, 0)], np.nan))
    out["days_since_rpc"] = _capped(_days_since_flag(att, "is_rpc", loan=loan, day=day))
    comp = history.complaints
    clo, chi = comp.span(loan, day - WINDOW, day)
    out["complaints_90d"] = comp.total(None, clo, chi)
    plc = history.placements
    plo, phi = plc.span(loan, np.zeros_like(day), day)
    out["agency_before"] = (phi > plo).astype(np.float64)
    out["history_days"] = _history_days(history=history, loan=loan, day=day)
    return out


def _capped(days: FloatArray) -> FloatArray:
    """Days since an event, capped at the window; NaN (never) stays NaN."""
    return np.minimum(days, float(WINDOW))


def _history_days(*, history: History, loan: IntArray, day: IntArray) -> FloatArray:
    """Days of the account's delinquency history seen before `day` (capped at the window)."""
    snaps = history.snapshots
    if not snaps.size:
        return np.zeros(loan.size)
    lo = np.searchsorted(snaps.key, loan << DAY_BITS, side="left")
    safe = np.minimum(lo, snaps.size - 1)
    first = np.where(snaps.loan[safe] == loan, snaps.day[safe], day)
    return np.minimum(np.maximum(day - first, 0), WINDOW).astype(np.float64)


def _derive_attempt_flags(att: EventLog) -> None:
    """0/1 columns from channel and result, computed once per history."""
    chan = np.asarray(att["channel"]).astype(str) if att.size else np.zeros(0, dtype=str)
    res = np.asarray(att["result"]).astype(str) if att.size else np.zeros(0, dtype=str)
    is_call = np.isin(chan, ["robot_call", "agent_call"])
    att.columns["is_call"] = is_call.astype(np.float64)
    att.columns["is_answered"] = (is_call & ~np.isin(res, list(UNANSWERED))).astype(np.float64)
    att.columns["is_rpc"] = np.isin(res, list(RPC_RESULTS)).astype(np.float64)
    att.columns["is_wrong"] = (res == "wrong_party").astype(np.float64)
    att.columns["is_sms"] = (chan == "sms").astype(np.float64)
    att.columns["is_visit"] = (chan == "field_visit").astype(np.float64)
    att.columns["is_agent"] = (chan == "agent_call").astype(np.float64)
    att.columns["priority"] = np.asarray([CHANNEL_PRIORITY.get(c, 0) for c in chan], dtype=np.int64)
    att.columns["t_code"] = np.asarray([T_INDEX.get(c, NO_ACTION) for c in chan], dtype=np.int64)
    att.columns["funnel"] = np.where(res == "ptp", 3, np.where(np.isin(res, list(RPC_RESULTS)), 2, 1)).astype(np.int64)
    group = [RESULT_GROUP.get(str(r), "unanswered") for r in res]
    att.columns["result_group"] = np.asarray([LAST_RESULT_LEVELS.index(g) for g in group], dtype=np.int64)


def _days_since_flag(att: EventLog, name: str, *, loan: IntArray, day: IntArray) -> FloatArray:
    """Days since each loan's last event with a true flag before `day`; NaN when none."""
    keys = att.key[np.asarray(att[name], dtype=np.float64) > 0]
    if not keys.size:
        return np.full(loan.size, np.nan)
    idx = np.searchsorted(keys, _keys(loan, day), side="left") - 1
    safe = np.maximum(idx, 0)
    ok = (idx >= 0) & ((keys[safe] >> DAY_BITS) == loan)
    return np.where(ok, day - (keys[safe] & FOREVER), np.nan).astype(np.float64)


def _promise_features(*, history: History, loan: IntArray, day: IntArray, overdue: FloatArray) -> dict[str, FloatArray]:
    pro, jud = history.promises, history.judged
    zeros = np.zeros_like(day)
    lo, hi = pro.span(loan, day - WINDOW, day)
    made = pro.total(None, lo, hi)
    jlo, jhi = jud.span(loan, day - WINDOW, day)
    kept = jud.total("kept", jlo, jhi)
    broken = jud.total("broken", jlo, jhi)
    last = pro.last_before(loan, day)
    safe = np.maximum(last, 0)
    if pro.size:
        judged = np.asarray(pro["judged"], dtype=np.int64)[safe]
        is_open = (last >= 0) & ((judged == 0) | (judged >= day))
        amount = np.asarray(pro["amount"], dtype=np.float64)[safe]
        due = np.asarray(pro["due"], dtype=np.int64)[safe]
    else:
        is_open, amount, due = np.zeros(loan.size, dtype=bool), np.zeros(loan.size), zeros
    return {
        "ptp_90d": made, "ptp_kept_90d": kept, "ptp_broken_90d": broken,
        "keep_rate": np.where(kept + broken > 0, kept / np.maximum(kept + broken, 1), np.nan),
        "open_ptp": is_open.astype(np.float64),
        "open_ptp_share": np.where(is_open, amount / np.maximum(overdue, 1.0), 0.0),
        "days_to_ptp_due": np.where(is_open, due - day, np.nan),
    }


def _payment_features(*, history: History, loan: IntArray, day: IntArray, overdue: FloatArray) -> dict[str, FloatArray]:
    pay = history.payments
    lo30, hi = pay.span(loan, day - 30, day)
    lo90, _ = pay.span(loan, day - 90, day)
    last = pay.last_before(loan, day)
    safe = np.maximum(last, 0)
    amount = np.asarray(pay["amount"], dtype=np.float64)[safe] if pay.size else np.zeros(loan.size)
    recent = (last >= 0) & (day - (pay.day[safe] if pay.size else day) <= 60)
    return {
        "payments_30d": pay.total(None, lo30, hi), "log_paid_30d": np.log1p(pay.total("amount", lo30, hi) / 100),
        "log_paid_90d": np.log1p(pay.total("amount", lo90, hi) / 100),
        "days_since_payment": _capped(np.where(last >= 0, day - (pay.day[safe] if pay.size else day), np.nan)),
        # A part payment's share of what was due says much about ability to pay.
        "last_payment_share": np.where(recent, amount / np.maximum(amount + overdue, 1.0), np.nan),
    }


def _categorical(*, history: History, loan: IntArray, day: IntArray,
                 dpd: FloatArray) -> tuple[IntArray, tuple[tuple[str, ...], ...]]:
    loans = history.loans
    pos = loans.position(loan)
    att = history.attempts
    if "result_group" not in att.columns:
        _derive_attempt_flags(att)
    last = att.last_before(loan, day)
    last_group = np.where(last >= 0, np.asarray(att["result_group"], dtype=np.int64)[np.maximum(last, 0)], 0) \
        if att.size else np.zeros(loan.size, dtype=np.int64)
    columns = [bucket_code(dpd)]
    levels: list[tuple[str, ...]] = [BUCKETS]
    for name in CATEGORICAL[1:-1]:
        columns.append(loans.categorical[name][pos])
        levels.append(loans.levels[name])
    columns.append(last_group)
    levels.append(LAST_RESULT_LEVELS)
    cats = np.column_stack(columns).astype(np.int64) if loan.size else np.zeros((0, len(CATEGORICAL)), dtype=np.int64)
    return cats, tuple(levels)


#: Account facts the valuation model uses: available for any owed account, delinquent or not.
FACTS_NUMERIC: tuple[str, ...] = (
    "log_balance", "log_principal", "months_on_book", "paid_share_of_term", "log_paid_90d", "payments_30d",
    "ptp_kept_90d", "ptp_broken_90d", "rpc_90d", "attempts_90d", "answered_rate", "days_since_payment",
)
FACTS_CATEGORICAL: tuple[str, ...] = ("segment", "region", "language", "income_band")


def account_facts(*, history: History, loan: IntArray, day: IntArray, balance_fen: FloatArray) -> FeatureFrame:
    """Facts known at the end of `day − 1` about each loan (no snapshot needed), for valuation."""
    loans = history.loans
    pos = loans.position(loan)
    cols: dict[str, FloatArray] = {"log_balance": np.log1p(np.asarray(balance_fen, dtype=np.float64) / 100),
                                   "log_principal": np.log1p(loans.principal_fen[pos] / 100),
                                   "months_on_book": (day - loans.disbursed[pos]) / 30.4}
    lo, hi = history.paid_lines.span(loan, np.zeros_like(day), day)
    paid = history.paid_lines.total("n", lo, hi) if history.paid_lines.size else np.zeros(loan.size)
    cols["paid_share_of_term"] = paid / np.maximum(loans.term_months[pos], 1)
    cols |= _contact_features(history=history, loan=loan, day=day)
    cols |= _promise_features(history=history, loan=loan, day=day, overdue=np.asarray(balance_fen, dtype=np.float64))
    cols |= _payment_features(history=history, loan=loan, day=day, overdue=np.asarray(balance_fen, dtype=np.float64))
    numeric = np.column_stack([cols[n] for n in FACTS_NUMERIC]) if loan.size else np.zeros((0, len(FACTS_NUMERIC)))
    cats = np.column_stack([loans.categorical[n][pos] for n in FACTS_CATEGORICAL]) if loan.size \
        else np.zeros((0, len(FACTS_CATEGORICAL)), dtype=np.int64)
    return FeatureFrame(numeric=numeric.astype(np.float64), numeric_names=FACTS_NUMERIC,
                        categorical=cats.astype(np.int64), categorical_names=FACTS_CATEGORICAL,
                        levels=tuple(loans.levels[n] for n in FACTS_CATEGORICAL))
