"""Features, treatments and outcomes of decision points, on hand-built histories (pure)."""

from __future__ import annotations

import numpy as np

from buyu.scoring.features import (
    AGENCY,
    FOREVER,
    LEGAL,
    NO_ACTION,
    T_INDEX,
    account_facts,
    build_features,
    decision_points,
    lookup,
    member,
    outcomes,
)
from tests.scoring.helpers import D0, daily_snapshots, history, log, snapshot_log


def _history() -> object:
    snaps = daily_snapshots(1, 0, 40) + daily_snapshots(2, 0, 40) + daily_snapshots(3, 0, 40)
    attempts = log([(1, 5), (1, 5), (1, 9), (2, 5)], channel=["sms", "agent_call", "robot_call", "robot_call"],
                   result=["sms_sent", "ptp", "no_answer", "rpc"], collector=[0, 7, 0, 0], hour=[9, 14, 10, 11])
    payments = log([(1, 7), (1, 20), (2, 40)], amount=[100_000, 50_000, 70_000])
    placements = log([(3, 10)], kind=[AGENCY], until=[D0 + 39])
    return history(3, last=60, snapshots=snapshot_log(snaps), attempts=attempts, payments=payments,
                   placements=placements)


def test_features_use_only_what_happened_before_the_morning() -> None:
    """On day 5 the day's own attempts and payments are not features; on day 6 they are."""
    h = _history()
    pts = decision_points(history=h, first=np.datetime64("2026-03-07").astype(object),
                          last=np.datetime64("2026-03-08").astype(object))
    frame = build_features(history=h, points=pts)
    one = pts.loan == 1
    on5, on6 = one & (pts.day == D0 + 5), one & (pts.day == D0 + 6)
    assert frame.num("attempts_7d")[on5][0] == 0 and frame.num("attempts_7d")[on6][0] == 2
    assert frame.num("rpc_7d")[on6][0] == 1
    # The morning's DPD is one more than the previous night's snapshot.
    assert frame.num("dpd")[on5][0] == 10 + 4 + 1


def test_treatment_of_a_day_is_its_strongest_attempt_and_placements_are_not_points() -> None:
    """An SMS and an agent call on one day count as the agent call (its collector, hour and promise);
    an account placed with an agency is not a decision point while the placement runs."""
    h = _history()
    from datetime import date

    pts = decision_points(history=h, first=date.fromordinal(D0 + 5), last=date.fromordinal(D0 + 45))
    first = (pts.loan == 1) & (pts.day == D0 + 5)
    assert pts.treatment[first][0] == T_INDEX["agent_call"]
    assert pts.collector[first][0] == 7 and pts.hour[first][0] == 14 and pts.result[first][0] == 3
    assert pts.treatment[(pts.loan == 1) & (pts.day == D0 + 6)][0] == NO_ACTION
    placed = pts.day[pts.loan == 3]
    assert not ((placed > D0 + 10) & (placed <= D0 + 39)).any()
    assert (placed == D0 + 10).any() and pts.treatment[(pts.loan == 3) & (pts.day == D0 + 10)][0] == T_INDEX["agency"]
    assert (placed == D0 + 40).any()  # the placement ended


def test_legal_holds_an_account_for_good() -> None:
    """After a legal filing the account never comes back as a decision point."""
    from datetime import date

    h = history(1, snapshots=snapshot_log(daily_snapshots(1, 0, 30)),
                placements=log([(1, 3)], kind=[LEGAL], until=[FOREVER]))
    pts = decision_points(history=h, first=date.fromordinal(D0 + 1), last=date.fromordinal(D0 + 30))
    assert pts.day.max() == D0 + 3


def test_outcomes_count_payments_from_the_day_itself_and_say_when_they_matured() -> None:
    """paid_7d covers day … day + 6, amount_30d sums day … day + 29; late windows are not matured."""
    from datetime import date

    h = _history()
    pts = decision_points(history=h, first=date.fromordinal(D0 + 7), last=date.fromordinal(D0 + 40))
    out = outcomes(history=h, points=pts)
    on7 = (pts.loan == 1) & (pts.day == D0 + 7)
    assert out.paid_7d[on7][0] and out.amount_30d[on7][0] == 150_000
    on8 = (pts.loan == 1) & (pts.day == D0 + 8)
    assert not out.paid_7d[on8][0] and out.amount_30d[on8][0] == 50_000
    assert out.matured_30d[on8][0] and not out.matured_30d[(pts.day == D0 + 40)].any()


def test_account_facts_need_no_snapshot() -> None:
    """Valuation facts exist for an account that is not delinquent (balance given by the caller)."""
    h = _history()
    frame = account_facts(history=h, loan=np.array([1, 2]), day=np.array([D0 + 50, D0 + 50]),
                          balance_fen=np.array([1_000_000.0, 0.0]))
    assert frame.size == 2 and np.isfinite(frame.num("log_balance")).all()
    assert frame.num("payments_30d")[0] == 1  # the payment on day 20 is within 30 days of day 50


def test_lookup_and_member_agree_with_searchsorted_and_isin() -> None:
    """The sorted-probe lookup is np.searchsorted and the membership test np.isin, on shuffled values with
    repeats, on either side, beyond both ends, and against no keys at all."""
    rng = np.random.default_rng(8)
    keys = np.sort(rng.choice(10**12, size=500, replace=False)).astype(np.int64)
    values = rng.permutation(np.concatenate([keys[rng.integers(0, 500, 300)], rng.integers(-5, 10**12 + 5, 300),
                                             [keys[0] - 1, keys[-1] + 1, keys[7], keys[7]]])).astype(np.int64)
    assert lookup(keys, values).tolist() == np.searchsorted(keys, values).tolist()
    assert lookup(keys, values, side="right").tolist() == np.searchsorted(keys, values, side="right").tolist()
    assert member(keys, values).tolist() == np.isin(values, keys).tolist()
    assert member(np.zeros(0, dtype=np.int64), values).tolist() == [False] * values.size
    assert member(keys, np.zeros(0, dtype=np.int64)).size == 0
