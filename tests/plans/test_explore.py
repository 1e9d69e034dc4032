"""The test-and-learn arm: a fresh random share of accounts each night, one allowed treatment drawn for each."""

from __future__ import annotations

from datetime import date

import numpy as np

from buyu.plans.build import PLANNED, Night, eligibility
from buyu.plans.service import EXPLORE_ARM, explore

N = 4000


def _night() -> Night:
    rng = np.random.default_rng(1)
    allowed = rng.random((N, len(PLANNED))) < 0.6
    allowed[:, PLANNED.index("no_action")] = True
    cease = rng.random(N) < 0.1
    return Night(loan_id=np.arange(1, N + 1, dtype=np.int64), region=np.full(N, "east"), language=np.full(N, "zh-CN"),
                 incumbent=np.zeros(N, dtype=np.int64), cease=cease, promise_pending=np.zeros(N, dtype=bool),
                 value_fen=np.full((N, len(PLANNED)), 1_000, dtype=np.int64), allowed=allowed,
                 required=np.zeros((N, len(PLANNED)), dtype=bool), agent_fit=None)


def test_a_share_of_accounts_gets_one_eligible_contact_treatment_drawn_at_random() -> None:
    night = _night()
    arms = np.full(N, "champion", dtype=object)
    out, out_arms = explore(night=night, arms=arms, share=0.1, work_date=date(2026, 5, 1))
    picked = out_arms == EXPLORE_ARM
    assert 0.08 < picked.mean() < 0.12
    before = eligibility(night)
    after = eligibility(out)
    for i in np.flatnonzero(picked):
        chosen = np.flatnonzero(out.required[i])
        assert chosen.size <= 1  # one treatment, or none at all (no action drawn)
        if chosen.size:
            assert before[i, chosen[0]] and after[i].tolist() == out.required[i].tolist()
        else:
            assert not after[i].any()
    assert (out.allowed[~picked] == night.allowed[~picked]).all()
    drawn = [PLANNED[int(np.flatnonzero(out.required[i])[0])] if out.required[i].any() else "no_action"
             for i in np.flatnonzero(picked)]
    assert set(drawn) == {"robot_call", "sms", "agent_call", "no_action"}  # contacts and no action only


def test_the_draw_is_fixed_per_night_and_new_each_night() -> None:
    night, arms = _night(), np.full(N, "champion", dtype=object)
    a = explore(night=night, arms=arms, share=0.1, work_date=date(2026, 5, 1))[1] == EXPLORE_ARM
    again = explore(night=night, arms=arms, share=0.1, work_date=date(2026, 5, 1))[1] == EXPLORE_ARM
    other = explore(night=night, arms=arms, share=0.1, work_date=date(2026, 5, 2))[1] == EXPLORE_ARM
    assert (a == again).all() and 0.0 < (a & other).sum() < 0.5 * a.sum()


def test_no_share_changes_nothing() -> None:
    night, arms = _night(), np.full(N, "champion", dtype=object)
    out, out_arms = explore(night=night, arms=arms, share=0.0, work_date=date(2026, 5, 1))
    assert out is night and (out_arms == arms).all()
