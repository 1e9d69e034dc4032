"""The generated book: loans the real ledger can book to the stated DPD, and observables that look right."""

from __future__ import annotations

from collections import Counter

import numpy as np

from buyu.ledger.schedule import Method, build_schedule
from buyu.simulation.views import bucket_of
from buyu.simulation.world import GroundTruth


def test_loans_age_to_their_start_dpd_under_the_ledger_schedule(world: GroundTruth):
    """Originating each loan on disbursed_on (equal instalments) and paying its first paid_instalments
    instalments leaves it exactly start_dpd days past due on start_date, in the bucket the mix says."""
    start = world.scenario.start_date
    for p in world.portfolio.profiles:
        rows = build_schedule(principal=p.principal_fen, annual_rate_micro=p.annual_rate_micro,
                              term_months=p.term_months, method=Method.EQUAL_INSTALMENT, start_date=p.disbursed_on)
        first_missed = rows[p.paid_instalments]
        assert (start - first_missed.due_date).days == p.start_dpd
        assert all(r.due_date < start for r in rows[: p.paid_instalments])
    buckets = Counter(bucket_of(p.start_dpd) for p in world.portfolio.profiles)
    mix = world.scenario.borrowers.bucket_mix
    for name, share in mix.items():
        assert abs(buckets[name] / world.portfolio.size - share / sum(mix.values())) < 0.01


def test_observables_cover_the_product_fields(world: GroundTruth):
    """Products, languages (mostly zh-CN, a ko-KR minority), regions with time zones, income bands,
    contact points and history fields are all populated and plausible."""
    profiles = world.portfolio.profiles
    assert {p.product for p in profiles} == {"consumer", "micro_merchant"}
    langs = Counter(p.language for p in profiles)
    assert langs["zh-CN"] > 0.85 * len(profiles) and langs["ko-KR"] > 0
    assert {p.timezone for p in profiles} >= {"Asia/Shanghai"}
    assert all(p.contact_points >= 1 and 0 <= p.past_answer_rate <= 1 for p in profiles)
    assert all(p.principal_fen % 100 == 0 and p.principal_fen > 0 for p in profiles)
    assert np.all(world.portfolio.start_overdue_fen > 0)
    assert np.all(world.portfolio.start_overdue_fen <= world.portfolio.start_balance_fen)
    field = np.mean([p.field_possible for p in profiles])
    assert abs(field - world.scenario.field_share) < 0.06


def test_weaker_borrowers_sit_in_later_buckets(world: GroundTruth):
    """Hidden ability and willingness are lower, on average, in later starting buckets (as in real books)."""
    lat = world.portfolio.latent
    score = lat.ability_mean + lat.willingness
    bucket = np.searchsorted([0, 30, 60, 90], world.portfolio.start_dpd)
    means = [score[bucket == b].mean() for b in (1, 2, 3, 4)]
    assert means == sorted(means, reverse=True)
