"""Best time to call: each borrower's chance of a right-party conversation by local hour.

The propensity model values a call as calls were made in the past, at whatever hours they were
made; the hour is the dialer's choice, and it decides whether anybody answers (an office worker
called at nine is rarely free, a shopkeeper at nine usually is). This model ranks the hours of the
day for each borrower from the contact log alone, so the plan can say when, not only who and what.

Empirical Bayes in three levels, from phone attempts with a known outcome:

* the book's rate by hour, shrunk towards its overall rate;
* each borrower group's (segment: consumer, micro-merchant …) rate by hour, shrunk towards the book's;
* each borrower's rate by hour: the group's curve scaled by the borrower's own contact level (a
  Gamma–Poisson ratio of their reached calls to the calls their group curve expected), then updated
  with their own attempts, each spread over the nearby hours by a Gaussian kernel (a dozen calls
  cannot estimate 24 hourly rates, but they can tell a morning person from an evening one); the
  weight of that prior (`strength`, in pseudo-attempts) and the kernel's width are chosen on the
  latest week's attempts from a fit on the weeks before it, by how well each borrower's curve
  *relative to their own mean* ranks those attempts (an AUC: the level is not the dialer's choice,
  the hour is; log-likelihood rewards getting levels right and chose curves too flat to rank).

Tried and left out: a mixture of two to four daily rhythms fitted by EM (a borrower's curve = their
posterior mix): on a simulated quarter it captured 0.73 of the best hour's gain at best, against
0.72 for this model, and 0.51 on a longer history (EM's local optima).

A borrower with no history gets the group curve; one with a long history, their own.
Pure arrays in and out; `load_attempts` is the database adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Select, case, select
from sqlalchemy.orm import Session

from buyu.collections.models import RESULTS, ContactAttempt
from buyu.db import day_ordinal, driver_rows, id_chunks, int_rows
from buyu.ledger.models import Borrower
from buyu.scoring.features import lookup, member
from buyu.scoring.metrics import auc

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]

HOURS = 24
#: Phone channels whose outcome says whether the borrower could talk at that hour.
PHONE: tuple[str, ...] = ("robot_call", "agent_call")
#: Outcomes of a call that reached the borrower (a conversation happened).
RIGHT_PARTY: frozenset[str] = frozenset({"rpc", "ptp", "refused", "dispute", "callback", "transferred", "ceased"})
#: Outcomes that say nothing about the hour: the number itself is wrong.
NOT_TIMING: frozenset[str] = frozenset({"wrong_party"})
#: Weight of an attempt at the hours next to the one it was made in.
NEIGHBOUR = 0.5
#: Pseudo-attempts of the book-level and group-level priors, and of the borrower's level prior.
BOOK_PRIOR, GROUP_PRIOR, LEVEL_PRIOR = 10.0, 20.0, 3.0
#: Candidate weights of the group curve against a borrower's own hourly attempts (1e9: the group's only).
STRENGTHS: tuple[float, ...] = (1.0, 4.0, 16.0, 1e9)
#: Candidate widths (hours, standard deviation) of the kernel spreading a borrower's own attempts.
WIDTHS: tuple[float, ...] = (1.0, 2.0, 4.0)
DEFAULT_STRENGTH, DEFAULT_WIDTH = 4.0, 2.0
VALIDATION_DAYS = 7
LOOKBACK_DAYS = 120
EPS = 1e-4


@dataclass(frozen=True)
class Attempts:
    """Phone attempts: who (index into the people), their group, local hour, day ordinal, reached or not."""

    person: IntArray
    hour: IntArray
    day: IntArray
    reached: BoolArray

    def take(self, rows: BoolArray) -> Attempts:
        """A subset of the attempts."""
        return Attempts(person=self.person[rows], hour=self.hour[rows], day=self.day[rows], reached=self.reached[rows])


@dataclass(frozen=True)
class HourCurves:
    """P(right-party conversation | call at local hour h) per person, and how the prior weight was chosen."""

    rate: FloatArray  # (people, 24)
    strength: float  # the chosen weight of the group curve, in pseudo-attempts
    width: float  # the chosen kernel width, hours
    validation_auc: dict[str, float]
    attempts: int

    def ranked(self, *, hours: Sequence[int]) -> IntArray:
        """Per person, `hours` from best to worst (ties keep the given order, earlier first)."""
        allowed = np.asarray(list(hours), dtype=np.int64)
        if allowed.size == 0:
            return np.zeros((self.rate.shape[0], 0), dtype=np.int64)
        order = np.argsort(-self.rate[:, allowed], axis=1, kind="stable")
        return np.asarray(allowed[order], dtype=np.int64)


def _smooth(counts: FloatArray) -> FloatArray:
    """Counts at each hour plus NEIGHBOUR × the counts of the hours either side (no wrap past midnight)."""
    out = counts.copy()
    out[..., 1:] += NEIGHBOUR * counts[..., :-1]
    out[..., :-1] += NEIGHBOUR * counts[..., 1:]
    return out


def _kernel(width: float) -> FloatArray:
    d = np.arange(HOURS, dtype=np.float64)
    return np.asarray(np.exp(-0.5 * ((d[:, None] - d[None, :]) / width) ** 2), dtype=np.float64)


def _counts(index: IntArray, hour: IntArray, weight: FloatArray, rows: int) -> FloatArray:
    out = np.zeros(rows * HOURS, dtype=np.float64)
    np.add.at(out, index * HOURS + hour, weight)
    return out.reshape(rows, HOURS)


def fit_curves(*, attempts: Attempts, group_of: IntArray, strength: float, width: float = DEFAULT_WIDTH) -> FloatArray:
    """Each person's hourly right-party rate (people × 24), see the module docstring."""
    people = int(group_of.size)
    groups = int(group_of.max()) + 1 if people else 0
    reached = attempts.reached.astype(np.float64)
    ones = np.ones(attempts.person.size, dtype=np.float64)
    overall = (reached.sum() + 1.0) / (reached.size + 2.0)
    book_s = np.bincount(attempts.hour, weights=reached, minlength=HOURS)[:HOURS].astype(np.float64)
    book_n = np.bincount(attempts.hour, minlength=HOURS)[:HOURS].astype(np.float64)
    book = (_smooth(book_s) + BOOK_PRIOR * overall) / (_smooth(book_n) + BOOK_PRIOR)
    person_group = group_of[attempts.person]
    group_s = _smooth(_counts(person_group, attempts.hour, reached, groups))
    group_n = _smooth(_counts(person_group, attempts.hour, ones, groups))
    group = (group_s + GROUP_PRIOR * book[None, :]) / (group_n + GROUP_PRIOR)
    expected = np.bincount(attempts.person, weights=group[person_group, attempts.hour], minlength=people)
    got = np.bincount(attempts.person, weights=reached, minlength=people)
    level = (got + LEVEL_PRIOR) / (expected + LEVEL_PRIOR)
    prior = np.clip(level[:, None] * group[group_of], EPS, 1 - EPS)
    kernel = _kernel(width)
    own_s = _counts(attempts.person, attempts.hour, reached, people) @ kernel
    own_n = _counts(attempts.person, attempts.hour, ones, people) @ kernel
    return np.asarray(np.clip((own_s + strength * prior) / (own_n + strength), EPS, 1 - EPS), dtype=np.float64)


def hour_auc(*, rate: FloatArray, attempts: Attempts, hours: Sequence[int] = tuple(range(HOURS))) -> float:
    """AUC of each attempt's hour preference (its person's rate there over their mean rate) for being reached."""
    y = attempts.reached
    if y.all() or not y.any():
        return 0.5
    allowed = np.asarray(list(hours), dtype=np.int64)
    score = rate[attempts.person, attempts.hour] / rate[attempts.person][:, allowed].mean(axis=1)
    return auc(y=y, score=score)


def hour_curves(*, attempts: Attempts, group_of: IntArray, last_day: int,
                validation_days: int = VALIDATION_DAYS) -> HourCurves:
    """Choose prior weight and kernel width on the latest `validation_days` (fit before them), then fit on all."""
    recent = attempts.day > last_day - validation_days
    scores: dict[str, float] = {}
    strength, width = DEFAULT_STRENGTH, DEFAULT_WIDTH
    if recent.any() and (~recent).any():
        past, check = attempts.take(~recent), attempts.take(recent)
        tried = {}
        for m in STRENGTHS:
            for w in WIDTHS if m < 1e9 else WIDTHS[:1]:
                rate = fit_curves(attempts=past, group_of=group_of, strength=m, width=w)
                tried[(m, w)] = score = round(hour_auc(rate=rate, attempts=check), 6)
                scores[f"strength {m:g}, width {w:g}"] = score
        strength, width = max(tried, key=lambda key: (tried[key], key))
    return HourCurves(rate=fit_curves(attempts=attempts, group_of=group_of, strength=strength, width=width),
                      strength=strength, width=width, validation_auc=scores,
                      attempts=int(attempts.person.size))


def attempts_from(*, person: IntArray, hour: IntArray, day: IntArray, channel: Sequence[str] | StrArray,
                  result: Sequence[str] | StrArray) -> Attempts:
    """The phone attempts that say something about the hour, from contact-log columns."""
    keep, reached = _timing(np.asarray(channel, dtype=str), np.asarray(result, dtype=str))
    return Attempts(person=np.asarray(person, dtype=np.int64)[keep], hour=np.asarray(hour, dtype=np.int64)[keep],
                    day=np.asarray(day, dtype=np.int64)[keep], reached=reached[keep])


def _timing(channel: StrArray, result: StrArray) -> tuple[BoolArray, BoolArray]:
    """Per attempt, whether it says something about the hour, and whether it reached the borrower."""
    keep = np.isin(channel, PHONE) & ~np.isin(result, list(NOT_TIMING)) & (result != "blocked")
    return keep, np.isin(result, list(RIGHT_PARTY))


@dataclass(frozen=True)
class CurveInputs:
    """What the curves are fitted on: the people (the borrowers asked for, in that order, then the others
    with attempts, by id), each one's group (an index into `groups`, the sorted segment names with "") and
    their phone attempts; `wanted` is how many of the people were asked for."""

    borrower: IntArray
    group_of: IntArray
    groups: tuple[str, ...]
    attempts: Attempts
    wanted: int


def load_curves(*, session: Session, borrower_ids: Sequence[int], as_of: date,
                lookback_days: int = LOOKBACK_DAYS) -> HourCurves:
    """Curves for the given borrowers (rows in that order) from the phone attempts of the lookback window.

    The book and group levels learn from every borrower's attempts in the window, not only these.
    """
    inputs = load_attempts(session=session, borrower_ids=borrower_ids, as_of=as_of, lookback_days=lookback_days)
    curves = hour_curves(attempts=inputs.attempts, group_of=inputs.group_of, last_day=as_of.toordinal())
    return HourCurves(rate=curves.rate[: inputs.wanted], strength=curves.strength, width=curves.width,
                      validation_auc=curves.validation_auc, attempts=curves.attempts)


def load_attempts(*, session: Session, borrower_ids: Sequence[int], as_of: date,
                  lookback_days: int = LOOKBACK_DAYS) -> CurveInputs:
    """The phone attempts with an outcome in the lookback window, their people and the people's groups.

    A bank's window holds millions of attempts: the database codes each one as integers (borrower, hour,
    day ordinal, channel, result) that come back as one array, and the segments are read once per borrower,
    not joined onto every attempt. An attempt counts only if its borrower is on file (the foreign key
    guarantees it). A borrower asked for more than once is the last of those rows; the earlier ones get
    no attempts of their own.
    """
    wanted = np.asarray(list(borrower_ids), dtype=np.int64)
    rows = int_rows(session=session, statement=_attempt_codes(as_of=as_of, lookback_days=lookback_days), width=5)
    known, segment = _segments(session=session, ids=_distinct(np.concatenate([wanted, rows[:, 0]])))
    rows = rows[member(known, rows[:, 0])]
    seen = _distinct(rows[:, 0])
    everyone = np.concatenate([wanted, seen[~member(_distinct(wanted), seen)]])  # then the others seen, by id
    at = np.where(member(known, everyone), lookup(known, everyone), known.size)  # past the end: the "" appended
    names, group_of = np.unique(np.append(np.append(segment, "")[at], ""), return_inverse=True)
    keep, reached = _timing(_PHONE_CODES[rows[:, 3]], _RESULT_CODES[rows[:, 4]])
    order = np.argsort(everyone, kind="stable")
    person = order[lookup(everyone[order], rows[:, 0], side="right") - 1]  # a repeated id: its last row
    attempts = Attempts(person=np.asarray(person[keep], dtype=np.int64), hour=rows[keep, 1], day=rows[keep, 2],
                        reached=reached[keep])
    return CurveInputs(borrower=everyone, group_of=np.asarray(group_of[:-1], dtype=np.int64),
                       groups=tuple(str(n) for n in names), attempts=attempts, wanted=int(wanted.size))


#: Codes the database gives an attempt's channel and result (by position; the last: any other value).
_PHONE_CODES: StrArray = np.asarray([*PHONE, ""], dtype=str)
_RESULT_CODES: StrArray = np.asarray([*RESULTS, ""], dtype=str)
#: From this many borrowers on, every borrower's segment is read once rather than asked for by lists.
WHOLE_TABLE = 300_000


def _attempt_codes(*, as_of: date, lookback_days: int) -> Select[Any]:
    """(borrower, local hour, day ordinal, channel code, result code) of the phone attempts with an outcome."""
    a = ContactAttempt.__table__.c  # Core columns: the session hands back the driver's cursor
    return (select(a.borrower_id, a.local_hour, day_ordinal(a.as_of),
                   case({v: i for i, v in enumerate(PHONE)}, value=a.channel, else_=len(PHONE)),
                   case({v: i for i, v in enumerate(RESULTS)}, value=a.result, else_=len(RESULTS)))
            .where(a.as_of > as_of - timedelta(days=lookback_days), a.as_of <= as_of, a.channel.in_(PHONE),
                   a.result.is_not(None)))


def _segments(*, session: Session, ids: IntArray) -> tuple[IntArray, StrArray]:
    """The borrowers on file among `ids` (distinct), sorted, and their segments ("" for none)."""
    b = Borrower.__table__.c
    if ids.size >= WHOLE_TABLE:  # cheaper than asking for that many by lists
        rows = list(driver_rows(session=session, statement=select(b.id, b.segment)))
    else:
        rows = [r for part in id_chunks(ids)
                for r in driver_rows(session=session, statement=select(b.id, b.segment).where(b.id.in_(part)))]
    known = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    order = np.argsort(known)
    return known[order], np.asarray([r[1] or "" for r in rows], dtype=str)[order]


def _distinct(values: IntArray) -> IntArray:
    """The sorted distinct values (np.unique, by a plain sort: numpy's hashing unique is slower on millions)."""
    ordered = np.sort(values)
    return ordered[np.concatenate([ordered[:1] == ordered[:1], ordered[1:] != ordered[:-1]])]
