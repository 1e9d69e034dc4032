"""Ground truth: each mechanism moves the TRUE quantities the way its parameter says, and the
sampler draws outcomes with exactly the probabilities the truth reports."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from buyu.simulation.rng import stream
from buyu.simulation.views import ALL_CODES, TREATMENTS, AccountArrays, Treatment
from buyu.simulation.world import GroundTruth

from .conftest import scenario, small_default, start_arrays, start_views, with_dpd

CALLS = (Treatment.ROBOT_CALL, Treatment.AGENT_CALL)


def _repeat(arrays: AccountArrays, times: int) -> AccountArrays:
    return AccountArrays(*(np.tile(getattr(arrays, f), times) for f in arrays.__dataclass_fields__))


def test_willingness_shift_raises_true_payment_for_every_account():
    """Raising willingness_shift leaves the book unchanged but raises true P(pay within 30 days) for every
    account under every treatment (and on average), along with promise and keep probabilities."""
    worlds = [GroundTruth.from_scenario(small_default(willingness_shift=x)) for x in (-0.5, 0.0, 0.5)]
    assert all(np.array_equal(w.portfolio.start_dpd, worlds[0].portfolio.start_dpd) for w in worlds)
    arrays = start_arrays(worlds[0])
    for t in TREATMENTS:
        low, mid, high = (w.responses(accounts=arrays, treatment=t, hour=19) for w in worlds)
        assert np.all(mid.p_pay_30d >= low.p_pay_30d - 1e-12) and np.all(high.p_pay_30d >= mid.p_pay_30d - 1e-12)
        if t not in (Treatment.SALE,):
            assert low.p_pay_30d.mean() < mid.p_pay_30d.mean() < high.p_pay_30d.mean()
    low, high = (w.responses(accounts=arrays, treatment=Treatment.AGENT_CALL, hour=19) for w in worlds[::2])
    assert low.p_ptp.mean() < high.p_ptp.mean() and low.p_keep.mean() < high.p_keep.mean()


def test_skill_spread_widens_collector_skill_dispersion():
    """Larger skill_spread widens the hidden skill of collectors in every segment (0 = all alike), and so
    the spread of true promise rates one account gets from different agents."""
    spreads = (0.0, 0.3, 0.9)
    worlds = [GroundTruth.from_scenario(small_default(skill_spread=x, collectors=30)) for x in spreads]
    log_sd = [np.log(w.staff.skill).std(axis=0) for w in worlds]
    assert np.allclose(log_sd[0], 0.0)
    assert np.all(log_sd[1] > 0) and np.all(log_sd[2] > log_sd[1])
    views = start_arrays(worlds[0])
    base = worlds[0].responses(accounts=views, treatment=Treatment.AGENT_CALL, hour=19).p_ptp
    # A Mandarin speaker (language mismatch is observable, not skill) whom a call can reach.
    pick = int(np.argmax(np.where(worlds[0].portfolio.korean[views.account_id - 1], 0.0, base)))
    one = AccountArrays(*(getattr(views, f)[pick:pick + 1].repeat(30) for f in views.__dataclass_fields__))
    ids = np.arange(1, 31)
    agents = np.array([c.kind == "agent" for c in worlds[0].collectors])
    spread = [w.responses(accounts=one, treatment=Treatment.AGENT_CALL, collector_ids=ids, hour=19).p_ptp[agents].std()
              for w in worlds]
    assert spread[0] < spread[1] < spread[2]


def test_fatigue_lowers_response_and_raises_complaints_then_wears_off():
    """Repeated contacts lower true answer, promise and net value and raise complaint and cease risk;
    the load decays with the half-life once contacts stop."""
    truth = GroundTruth.from_scenario(small_default())
    arrays = start_arrays(truth)
    before = truth.responses(accounts=arrays, treatment=Treatment.AGENT_CALL, hour=19)
    for _ in range(5):
        truth.record_contacts(account_ids=arrays.account_id, treatment=Treatment.AGENT_CALL)
    after = truth.responses(accounts=arrays, treatment=Treatment.AGENT_CALL, hour=19)
    reached = before.p_rpc > 0
    assert np.all(after.p_rpc[reached] < before.p_rpc[reached])
    assert np.all(after.p_ptp[reached] < before.p_ptp[reached])
    assert np.all(after.p_complaint > before.p_complaint)
    assert np.all(after.p_cease[reached] > before.p_cease[reached])
    assert after.expected_net_fen.mean() < before.expected_net_fen.mean()
    load = truth.load()
    for _ in range(10):
        truth.advance_day()
    assert np.allclose(truth.load(), load * 0.5 ** (10 / truth.scenario.fatigue.half_life_days))


def test_late_buckets_have_lower_true_recovery(world: GroundTruth):
    """The same accounts, moved to a later bucket, have a lower true chance of paying and a lower expected
    recovery share of what they owe, with or without treatment."""
    arrays = start_arrays(world)
    for t in (Treatment.NO_ACTION, Treatment.SMS, *CALLS):
        rs = [world.responses(accounts=with_dpd(arrays, dpd), treatment=t, hour=19) for dpd in (15, 45, 75, 150)]
        for early, late in itertools.pairwise(rs):
            assert np.all(late.p_pay_30d <= early.p_pay_30d + 1e-12)
            assert late.p_pay_30d.mean() < early.p_pay_30d.mean()
            assert late.expected_amount_fen.sum() < early.expected_amount_fen.sum()


def test_generated_book_recovers_less_in_later_buckets(world: GroundTruth):
    """In the generated book (weaker borrowers sort later), true self-cure falls bucket by bucket."""
    arrays = start_arrays(world)
    cure = world.self_cure_30d(accounts=arrays)
    bucket = np.searchsorted([0, 30, 60, 90], arrays.dpd)
    means = [cure[bucket == b].mean() for b in (1, 2, 3, 4)]
    assert means == sorted(means, reverse=True)


def test_wrong_number_account_never_yields_an_rpc():
    """A wrong-number account has true P(RPC) = 0 on the phone at every hour and no draw ever reaches the
    borrower: unanswered or a wrong party (flagged as a wrong number), never an RPC, promise or payment."""
    truth = GroundTruth.from_scenario(small_default(borrowers={"wrong_number_share": 0.5}))
    arrays = start_arrays(truth)
    wrong = truth.portfolio.latent.wrong_number[arrays.account_id - 1]
    subset = AccountArrays(*(getattr(arrays, f)[wrong] for f in arrays.__dataclass_fields__))
    assert subset.size > 50
    many = _repeat(subset, 40)
    allowed = {"no_answer", "busy", "voicemail", "wrong_party", "sms_sent"}
    for t in (*CALLS, Treatment.SMS):
        for hour in range(24):
            assert np.all(truth.responses(accounts=subset, treatment=t, hour=hour).p_rpc == 0)
        out = truth.draw_contacts(accounts=many, treatment=t, hour=19, rng=np.random.default_rng(3))
        assert not out.rpc.any() and not (out.ptp_fen > 0).any() and not (out.pay_fen > 0).any()
        assert {ALL_CODES[c] for c in out.code} <= allowed
        if t in CALLS:
            assert np.array_equal(out.wrong_number, out.code == ALL_CODES.index("wrong_party"))
            assert out.wrong_number.any()


@pytest.mark.parametrize("treatment", list(Treatment))
def test_draws_match_true_probabilities(world: GroundTruth, treatment: Treatment):
    """Monte-Carlo frequencies of RPC, promise, induced payment, complaint and dispute match the truth's
    probabilities (the sampler and the expectations follow one model)."""
    arrays = start_arrays(world)
    many = _repeat(arrays, 100)
    hours = 8 + np.arange(many.size) % 14
    ids = 1 + np.arange(many.size) % len(world.collectors)
    r = world.responses(accounts=many, treatment=treatment, collector_ids=ids, hour=hours)
    out = world.draw_contacts(accounts=many, treatment=treatment, collector_ids=ids, hour=hours,
                              rng=np.random.default_rng(11))
    n = many.size
    for drawn, p in ((out.rpc, r.p_rpc), (out.ptp_fen > 0, r.p_ptp), (out.pay_fen > 0, r.p_induced),
                     ((out.pay_fen > 0) & (out.pay_offset <= 30), r.p_induced_30d), (out.complaint, r.p_complaint),
                     (out.dispute, r.p_dispute)):
        tolerance = 4 * np.sqrt(max(p.mean() * (1 - p.mean()), 1e-6) / n) + 1e-4
        assert abs(drawn.mean() - p.mean()) < tolerance


def test_self_cure_is_the_no_action_baseline_and_uplift_is_measured_against_it(world: GroundTruth):
    """Spontaneous payments arrive at the daily hazard of the no-action 30-day probability; no_action adds
    nothing, contact treatments only add to it."""
    arrays = start_arrays(world)
    base = world.responses(accounts=arrays, treatment=Treatment.NO_ACTION)
    assert np.all(base.uplift_fen == 0) and np.all(base.expected_cost_fen == 0)
    hazard = 1 - (1 - base.p_pay_30d) ** (1 / 30)
    paid = np.mean([world.draw_self_payments(accounts=arrays, rng=np.random.default_rng(k)) > 0 for k in range(300)])
    assert abs(paid - hazard.mean()) < 4 * np.sqrt(hazard.mean() / (300 * arrays.size)) + 1e-4
    for t in (*CALLS, Treatment.SMS, Treatment.FIELD_VISIT):
        r = world.responses(accounts=arrays, treatment=t, hour=19)
        assert np.all(r.p_pay_30d >= base.p_pay_30d - 1e-12)
        assert np.all(r.uplift_fen >= 0) and r.uplift_fen.sum() > 0


def test_ability_drifts_with_shocks_and_recovers():
    """Ability to pay is a process: without shocks or noise it reverts towards each borrower's long-run
    level; income shocks push the book's ability down."""
    calm = GroundTruth.from_scenario(scenario(dynamics={"shock_rate_per_month": 0.0, "ability_noise_per_day": 0.0}))
    gap0 = np.abs(calm.ability() - calm.portfolio.latent.ability_mean)
    for _ in range(60):
        calm.advance_day()
    gap = np.abs(calm.ability() - calm.portfolio.latent.ability_mean)
    assert np.all(gap <= gap0 + 1e-12) and gap.sum() < 0.6 * gap0.sum()
    shocky = GroundTruth.from_scenario(scenario(dynamics={"shock_rate_per_month": 0.8, "ability_noise_per_day": 0.0}))
    for _ in range(60):
        shocky.advance_day()
    assert shocky.ability().mean() < calm.ability().mean() - 0.2


def test_promises_legal_and_sale_outcomes_follow_their_parameters(world: GroundTruth):
    """Promises never exceed what is owed and fall due within days_max; the court pays after delay_days;
    a sale pays price_share × balance today."""
    arrays = start_arrays(world)
    many = _repeat(arrays, 20)
    rng = np.random.default_rng(5)
    out = world.draw_contacts(accounts=many, treatment=Treatment.AGENT_CALL, collector_ids=1, hour=19, rng=rng)
    promised = out.ptp_fen > 0
    assert promised.any()
    assert np.all(out.ptp_fen[promised] <= many.overdue_fen[promised])
    assert np.all((out.ptp_offset[promised] >= 1) & (out.ptp_offset[promised] <= world.scenario.promises.days_max))
    kept = (out.pay_fen > 0) & promised
    assert np.array_equal(out.pay_offset[kept], out.ptp_offset[kept])
    late = with_dpd(arrays, 120)
    legal = world.draw_contacts(accounts=late, treatment=Treatment.LEGAL, rng=rng)
    assert np.all(legal.pay_offset[legal.pay_fen > 0] == world.scenario.treatments.legal.delay_days)
    sale = world.draw_contacts(accounts=late, treatment=Treatment.SALE, rng=rng)
    price = world.scenario.treatments.sale.price_share["M4+"]
    assert np.all(sale.pay_fen == late.balance_fen * round(price * 10_000) // 10_000)
    first_sale = sale.outcome(0).payment
    assert first_sale is not None and first_sale.source == "sale"
    assert all(isinstance(x, int) for x in (out.outcome(0).duration_s, first_sale.amount_fen))


def test_single_account_api_matches_the_batch(world: GroundTruth):
    """true_response / draw_contact for one account give the batch functions' element."""
    view = start_views(world)[3]
    agent = next(c for c in world.collectors if c.kind == "agent")
    one = world.true_response(view, Treatment.AGENT_CALL, agent, world.day, 19)
    batch = world.responses(accounts=AccountArrays.from_views([view]), treatment=Treatment.AGENT_CALL,
                            collector_ids=np.array([agent.collector_id]), hour=19).at(0)
    assert one == batch
    a = world.draw_contact(view, Treatment.AGENT_CALL, agent, world.day, 19, stream(1, "x"))
    b = world.draw_contact(view, Treatment.AGENT_CALL, agent, world.day, 19, stream(1, "x"))
    assert a == b and a.result_code in ALL_CODES


def test_truth_refuses_questions_about_another_day(world: GroundTruth):
    """Asking about a day the world is not on is a loop bug, reported plainly."""
    from datetime import timedelta

    with pytest.raises(ValueError, match="advance_day"):
        world.responses(accounts=start_arrays(world), treatment=Treatment.SMS, day=world.day + timedelta(days=1))


def test_special_cases_behave_as_their_shares_say():
    """Borrowers who already paid elsewhere never pay again and mostly dispute when reached; disputers
    dispute far more than others; hardship cases keep fewer promises."""
    truth = GroundTruth.from_scenario(small_default(
        borrowers={"paid_elsewhere_share": 0.2, "disputer_share": 0.2, "hardship_share": 0.3}))
    arrays = start_arrays(truth)
    lat = truth.portfolio.latent
    idx = arrays.account_id - 1
    r = truth.responses(accounts=arrays, treatment=Treatment.AGENT_CALL, collector_ids=1, hour=19)
    gone = lat.paid_elsewhere[idx]
    assert np.all(r.p_pay_30d[gone] == 0) and np.all(r.p_induced[gone] == 0)
    reached = r.p_rpc > 0
    dispute_rate = r.p_dispute[reached] / r.p_rpc[reached]
    plain = ~lat.disputer[idx][reached] & ~gone[reached]
    assert dispute_rate[gone[reached]].min() > 0.8
    assert dispute_rate[lat.disputer[idx][reached] & ~gone[reached]].mean() > 10 * dispute_rate[plain].mean()
    hard = lat.hardship[idx] & ~gone
    assert r.p_keep[hard].mean() < r.p_keep[~lat.hardship[idx] & ~gone].mean()


def test_contactability_follows_the_hour_profile(world: GroundTruth):
    """Calls at night reach far fewer borrowers than at each borrower's best hour, as their profile says."""
    arrays = start_arrays(world)
    by_hour = np.stack([world.responses(accounts=arrays, treatment=Treatment.ROBOT_CALL, hour=h).p_rpc
                        for h in range(24)])
    assert by_hour[3].mean() < 0.15 * by_hour.max(axis=0).mean()
    profiles = world.portfolio.latent.profile[arrays.account_id - 1]
    best = by_hour.argmax(axis=0)
    assert len({int(np.bincount(best[profiles == p]).argmax()) for p in np.unique(profiles)}) > 1


def test_language_mismatch_lowers_the_agents_effect():
    """A Korean-speaking borrower responds less to an agent without Korean than to an equally skilled one
    with it (skill spread 0 makes them equal)."""
    truth = GroundTruth.from_scenario(small_default(skill_spread=0.0, collectors=30,
                                                    borrowers={"regions": [{"name": "yanbian", "ko_share": 1.0}]}))
    arrays = start_arrays(truth)
    ko = next(c for c in truth.collectors if "ko-KR" in c.languages and c.kind == "agent")
    zh = next(c for c in truth.collectors if "ko-KR" not in c.languages and c.kind == "agent")
    with_ko, with_zh = (truth.responses(accounts=arrays, treatment=Treatment.AGENT_CALL, collector_ids=c.collector_id,
                                        hour=19) for c in (ko, zh))
    reached = with_ko.p_rpc > 0
    assert np.all(with_zh.p_ptp[reached] < with_ko.p_ptp[reached])


def test_costs_include_fixed_fees_commission_and_complaints(world: GroundTruth):
    """Expected cost is the treatment's fee plus, for agency, its commission on what it collects, plus the
    expected cost of complaints."""
    arrays = with_dpd(start_arrays(world), 120)
    t = world.scenario.treatments
    legal = world.responses(accounts=arrays, treatment=Treatment.LEGAL)
    assert np.all(legal.expected_cost_fen == t.legal.cost_fen)
    agency = world.responses(accounts=arrays, treatment=Treatment.AGENCY)
    expected = np.rint(t.agency.commission_share * agency.expected_amount_fen)
    assert np.all(np.abs(agency.expected_cost_fen - expected) <= 1)
    call = world.responses(accounts=arrays, treatment=Treatment.AGENT_CALL, hour=19)
    complaint = call.p_complaint * world.scenario.fatigue.complaint_cost_fen
    assert np.all(np.abs(call.expected_cost_fen - (t.agent_call.cost_fen + complaint)) <= 1)
    assert np.all(call.expected_net_fen == call.uplift_fen - call.expected_cost_fen)
