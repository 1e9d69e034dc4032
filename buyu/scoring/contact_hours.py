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

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from buyu.collections.models import ContactAttempt
from buyu.ledger.models import Borrower
from buyu.scoring.metrics import auc

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

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


def attempts_from(*, person: IntArray, hour: IntArray, day: IntArray, channel: Sequence[str],
                  result: Sequence[str]) -> Attempts:
    """The phone attempts that say something about the hour, from contact-log columns."""
    channels = np.asarray(list(channel), dtype=object)
    results = np.asarray(list(result), dtype=object)
    keep = np.isin(channels, PHONE) & ~np.isin(results, list(NOT_TIMING)) & (results != "blocked")
    reached = np.isin(results, list(RIGHT_PARTY))
    return Attempts(person=np.asarray(person, dtype=np.int64)[keep], hour=np.asarray(hour, dtype=np.int64)[keep],
                    day=np.asarray(day, dtype=np.int64)[keep], reached=reached[keep])


def load_curves(*, session: Session, borrower_ids: Sequence[int], as_of: date,
                lookback_days: int = LOOKBACK_DAYS) -> HourCurves:
    """Curves for the given borrowers (rows in that order) from the phone attempts of the lookback window.

    The book and group levels learn from every borrower's attempts in the window, not only these.
    """
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
    for b, seg in session.execute(select(Borrower.id, Borrower.segment).where(
            Borrower.id.in_([int(x) for x in wanted]))) if wanted.size else ():
        segment_of[int(b)] = str(seg or "")
    names = sorted(set(segment_of.values()) | {""})
    group_of = np.asarray([names.index(segment_of.get(int(b), "")) for b in everyone], dtype=np.int64)
    attempts = attempts_from(person=np.asarray([where[int(r[0])] for r in rows], dtype=np.int64),
                             hour=np.asarray([int(r[1]) for r in rows], dtype=np.int64),
                             day=np.asarray([r[2].toordinal() for r in rows], dtype=np.int64),
                             channel=[str(r[3]) for r in rows], result=[str(r[4]) for r in rows])
    curves = hour_curves(attempts=attempts, group_of=group_of, last_day=as_of.toordinal())
    return HourCurves(rate=curves.rate[: wanted.size], strength=curves.strength, width=curves.width,
                      validation_auc=curves.validation_auc, attempts=curves.attempts)
