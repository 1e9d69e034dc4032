"""Turn a strategy into per-account arms, segments and treatment masks. Pure and vectorised (numpy).

Arms: each challenger hashes (its seed, the loan id) to a uniform number in [0, 1), so a loan's arm
depends only on the strategy's challengers and its own id, never on which other loans are in the
book tonight: the same loan stays in its arm night after night. Challenger i takes a loan the
earlier challengers left when u_i < share_i / (1 − Σ_{j<i} share_j); as the u_i are independent,
each challenger gets exactly its share in expectation, and appending a challenger moves only
champion loans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from strategies.schema import CHAMPION, TREATMENTS, Condition, Segment, Strategy

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.str_]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@dataclass(frozen=True)
class AccountFacts:
    """What segmentation looks at, one entry per account (arrays of equal length)."""

    loan_id: IntArray
    bucket: StrArray
    balance_fen: IntArray
    score: FloatArray
    product: StrArray
    region: StrArray
    language: StrArray

    def __post_init__(self) -> None:
        lengths = {name: len(getattr(self, name)) for name in
                   ("loan_id", "bucket", "balance_fen", "score", "product", "region", "language")}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"AccountFacts arrays differ in length: {lengths}")

    @classmethod
    def of(cls, *, loan_id: Sequence[int] | Any, bucket: Sequence[str] | Any, balance_fen: Sequence[int] | Any,
           score: Sequence[float] | Any, product: Sequence[str] | Any, region: Sequence[str] | Any,
           language: Sequence[str] | Any) -> AccountFacts:
        """Build from lists or arrays, coercing dtypes."""
        return cls(loan_id=np.asarray(loan_id, dtype=np.int64), bucket=np.asarray(bucket, dtype=np.str_),
                   balance_fen=np.asarray(balance_fen, dtype=np.int64), score=np.asarray(score, dtype=np.float64),
                   product=np.asarray(product, dtype=np.str_), region=np.asarray(region, dtype=np.str_),
                   language=np.asarray(language, dtype=np.str_))


@dataclass(frozen=True)
class Treatments:
    """Per account: its arm, its segment ("" when none matched) and the treatment masks (columns = TREATMENTS)."""

    arm: StrArray
    segment: StrArray
    allowed: BoolArray
    required: BoolArray

    @property
    def unmatched(self) -> BoolArray:
        """Accounts no segment took: they get no_action and the plan reports them."""
        return self.segment == ""


def _splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    # splitmix64's finaliser: a bijection on 64-bit words with full avalanche, so neighbouring loan
    # ids land far apart; uint64 arithmetic wraps by design.
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def arm_uniform(seed: int, loan_id: npt.ArrayLike) -> FloatArray:
    """A uniform number in [0, 1) per loan, a pure function of (seed, loan id)."""
    ids = np.asarray(loan_id, dtype=np.int64).astype(np.uint64)
    key = _splitmix64(np.asarray([seed], dtype=np.uint64))[0]
    h = _splitmix64(ids ^ key)
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)


def arm_index(strategy: Strategy, loan_id: npt.ArrayLike) -> IntArray:
    """0 for the champion, i + 1 for challenger i."""
    ids = np.asarray(loan_id, dtype=np.int64)
    out = np.zeros(ids.shape[0], dtype=np.int64)
    free = np.ones(ids.shape[0], dtype=np.bool_)
    left = 1.0
    for i, challenger in enumerate(strategy.challengers):
        take = free & (arm_uniform(challenger.seed, ids) < float(challenger.share) / left)
        out[take] = i + 1
        free &= ~take
        left -= float(challenger.share)
    return out


def arm_names(strategy: Strategy) -> tuple[str, ...]:
    """Arm names by arm index: the champion, then the challengers in file order."""
    return (CHAMPION, *(c.name for c in strategy.challengers))


def assign_arms(strategy: Strategy, loan_id: npt.ArrayLike) -> StrArray:
    """Each loan's arm ("champion" or a challenger's name), stable per loan across nights."""
    return np.asarray(arm_names(strategy), dtype=np.str_)[arm_index(strategy, loan_id)]


def _in(values: StrArray, allowed: tuple[str, ...]) -> BoolArray:
    return np.isin(values, np.asarray(allowed, dtype=np.str_))


def condition_mask(condition: Condition, facts: AccountFacts) -> BoolArray:
    """Accounts meeting every given field of the condition (bands are half-open: min ≤ x < max)."""
    c, mask = condition, np.ones(len(facts.loan_id), dtype=np.bool_)
    if c.buckets is not None:
        mask &= _in(facts.bucket, c.buckets)
    if c.balance_min_fen is not None:
        mask &= facts.balance_fen >= c.balance_min_fen
    if c.balance_max_fen is not None:
        mask &= facts.balance_fen < c.balance_max_fen
    # NaN scores compare False: an unscored account never falls into a score band.
    if c.score_min is not None:
        mask &= facts.score >= c.score_min
    if c.score_max is not None:
        mask &= facts.score < c.score_max
    for values, wanted in ((facts.product, c.products), (facts.region, c.regions), (facts.language, c.languages)):
        if wanted is not None:
            mask &= _in(values, wanted)
    return mask


def _treatment_row(treatments: tuple[str, ...]) -> BoolArray:
    return np.isin(np.asarray(TREATMENTS), np.asarray(treatments, dtype=np.str_))


def segment_index(segments: tuple[Segment, ...], facts: AccountFacts, among: BoolArray) -> IntArray:
    """Index of the first matching segment per account (−1 when none matches or the account is not `among`)."""
    out = np.full(len(facts.loan_id), -1, dtype=np.int64)
    free = among.copy()
    for i, segment in enumerate(segments):
        take = free & condition_mask(segment.when, facts)
        out[take] = i
        free &= ~take
    return out


def _normalised(facts: AccountFacts) -> AccountFacts:
    # Callers build facts from query results (object arrays, None for unknown values); one conversion
    # here keeps every comparison below a plain vectorised one.
    def text(values: Any) -> StrArray:
        return np.asarray(values, dtype=object).astype(np.str_)

    return AccountFacts(loan_id=np.asarray(facts.loan_id, dtype=np.int64), bucket=text(facts.bucket),
                        balance_fen=np.asarray(facts.balance_fen, dtype=np.int64),
                        score=np.asarray(facts.score, dtype=np.float64), product=text(facts.product),
                        region=text(facts.region), language=text(facts.language))


def treatments_for(strategy: Strategy, facts: AccountFacts) -> Treatments:
    """Arm, segment (first match wins, in the arm's segment list) and allowed/required masks per account."""
    facts = _normalised(facts)
    n, k = len(facts.loan_id), len(TREATMENTS)
    arms = arm_index(strategy, facts.loan_id)
    segment = np.full(n, "", dtype=object)
    allowed = np.zeros((n, k), dtype=np.bool_)
    required = np.zeros((n, k), dtype=np.bool_)
    arm_segments = [strategy.segments, *((c.segments or strategy.segments) for c in strategy.challengers)]
    for a, segments in enumerate(arm_segments):
        index = segment_index(segments, facts, arms == a)
        for i, seg in enumerate(segments):
            rows = index == i
            segment[rows] = seg.name
            allowed[rows] = _treatment_row(seg.allow)
            required[rows] = _treatment_row(seg.require)
    allowed[segment == "", TREATMENTS.index("no_action")] = True
    return Treatments(arm=np.asarray(arm_names(strategy), dtype=np.str_)[arms], segment=segment.astype(np.str_),
                      allowed=allowed, required=required)
