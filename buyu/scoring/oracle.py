"""The simulator's true probabilities at past decision points: evaluation only, never training.

The ground truth is a day-by-day state machine (ability drifts by a seeded stream, fatigue grows
with the contacts made), so its answers about a past day need the world as it was that day. The
replay rebuilds it: start a fresh `GroundTruth` from the scenario, and for each day ask about the
points of that day, add the day's carried-out contacts (read back from the product's contact log)
to fatigue, and advance. Ability never depends on what we did, so the replay is exact.

Loans map to the truth's account ids through their external_ref (`SIM<seed>-<account>`), and
collectors through their code (`SIM-<KIND>-<id>`), as the simulation runner boards them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from buyu.scoring.features import TREATMENTS, History, Points, bucket_code
from buyu.simulation.views import T_INDEX as SIM_T_INDEX
from buyu.simulation.views import AccountArrays, Treatment
from buyu.simulation.world import GroundTruth

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Our treatment index → the simulator's.
TO_SIM = np.asarray([SIM_T_INDEX[Treatment(t)] for t in TREATMENTS], dtype=np.int64)
#: Hours averaged over when a counterfactual treatment has no hour of its own.
TYPICAL_HOURS: tuple[int, ...] = (9, 11, 13, 15, 17, 19)


@dataclass(frozen=True)
class Truth:
    """True probabilities at the points: under the treatment done, and under every treatment."""

    p7: FloatArray  # (points,) treatment done, its collector and hour
    p30: FloatArray
    p30_all: FloatArray  # (points, treatments): median collector, typical hours
    skill: FloatArray  # (points,) collector skill multiplier for the point's segment (1 = none)


def account_ids(*, external_refs: list[str], seed: int) -> IntArray:
    """Truth account id per loan from external refs `SIM<seed>-<account>` (0 when not simulated)."""
    prefix = f"SIM{seed}-"
    return np.asarray([int(r[len(prefix):]) if r.startswith(prefix) else 0 for r in external_refs], dtype=np.int64)


def collector_ids(*, codes: dict[int, str]) -> dict[int, int]:
    """collectors.id → the truth's collector id, from codes `SIM-<KIND>-<id>`."""
    out = {}
    for db_id, code in codes.items():
        tail = code.rsplit("-", 1)[-1]
        if code.startswith("SIM-") and tail.isdigit():
            out[db_id] = int(tail)
    return out


def _attempts_of(history: History, account_of: dict[int, int]) -> tuple[IntArray, IntArray]:
    """Truth account and treatment code of every carried-out attempt in the history."""
    att = history.attempts
    if att.size and "t_code" not in att.columns:
        from buyu.scoring.features import _derive_attempt_flags

        _derive_attempt_flags(att)
    acct = np.asarray([account_of.get(int(x), 0) for x in att.loan], dtype=np.int64)
    codes = TO_SIM[np.asarray(att["t_code"], dtype=np.int64)] if att.size else acct
    return acct, codes


def advance(*, truth: GroundTruth, history: History, account_of: dict[int, int], until: int) -> None:
    """Move a fresh truth through every day up to and including `until` (an ordinal), adding each day's contacts."""
    acct, codes = _attempts_of(history, account_of)
    while truth.day.toordinal() <= until:
        done = (history.attempts.day == truth.day.toordinal()) & (acct > 0)
        if done.any():
            truth.record_contacts(account_ids=acct[done], treatment=codes[done])
        truth.advance_day()


def replay(*, truth: GroundTruth, history: History, points: Points, account_of: dict[int, int],
           collector_of: dict[int, int], overdue: FloatArray, balance: FloatArray, open_ptp: npt.ArrayLike,
           dpd: FloatArray) -> Truth:
    """Ask the truth about every point on its own day (the world replayed from its start date)."""
    n = points.size
    out = Truth(p7=np.zeros(n), p30=np.zeros(n), p30_all=np.zeros((n, len(TREATMENTS))), skill=np.ones(n))
    acct = np.asarray([account_of.get(int(x), 0) for x in points.loan], dtype=np.int64)
    coll = np.asarray([collector_of.get(int(c), 0) for c in points.collector], dtype=np.int64)
    att_acct, att_t = _attempts_of(history, account_of)
    last = int(points.day.max()) if n else truth.day.toordinal() - 1
    while truth.day.toordinal() <= last:
        today = truth.day.toordinal()
        here = np.flatnonzero(points.day == today)
        if here.size:
            _ask(truth, out, here, acct=acct, coll=coll, points=points, overdue=overdue, balance=balance,
                 open_ptp=np.asarray(open_ptp, dtype=bool), dpd=dpd)
        done = (history.attempts.day == today) & (att_acct > 0)
        if done.any():
            truth.record_contacts(account_ids=att_acct[done], treatment=att_t[done])
        truth.advance_day()
    return out


def _ask(truth: GroundTruth, out: Truth, here: IntArray, *, acct: IntArray, coll: IntArray, points: Points,
         overdue: FloatArray, balance: FloatArray, open_ptp: npt.NDArray[np.bool_], dpd: FloatArray) -> None:
    day = truth.day
    arrays = AccountArrays(
        account_id=acct[here], dpd=dpd[here].astype(np.int64), balance_fen=balance[here].astype(np.int64),
        overdue_fen=overdue[here].astype(np.int64), open_ptp=open_ptp[here], cease=np.zeros(here.size, dtype=bool),
        dispute=np.zeros(here.size, dtype=bool), placed=np.zeros(here.size, dtype=bool),
        field_possible=truth.portfolio.field_possible[acct[here] - 1])
    done = truth.responses(accounts=arrays, treatment=TO_SIM[points.treatment[here]], collector_ids=coll[here],
                           hour=points.hour[here], day=day)
    out.p7[here], out.p30[here] = done.p_pay_7d, done.p_pay_30d
    for t in range(len(TREATMENTS)):
        total = np.zeros(here.size)
        for hour in TYPICAL_HOURS:
            total += truth.responses(accounts=arrays, treatment=np.full(here.size, TO_SIM[t]), collector_ids=None,
                                     hour=hour, day=day).p_pay_30d
        out.p30_all[here, t] = total / len(TYPICAL_HOURS)
    staffed = coll[here] > 0
    if staffed.any():
        idx = acct[here][staffed] - 1
        bucket = np.clip(bucket_code(dpd[here][staffed]), 0, 3)
        ko = truth.portfolio.korean[idx]
        c = coll[here][staffed] - 1
        skill = truth.staff.skill[c, bucket, truth.portfolio.size_band[idx], ko.astype(np.int64)]
        mismatch = ko & ~truth.staff.speaks_korean[c]
        factor = truth.scenario.collector_pool.language_mismatch_factor
        out.skill[here[staffed]] = skill * np.where(mismatch, factor, 1.0)
