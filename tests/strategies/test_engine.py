"""Segmentation (first match wins), treatment masks, and seeded stable champion/challenger arms."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from strategies.engine import AccountFacts, arm_uniform, assign_arms, treatments_for
from strategies.schema import TREATMENTS, Strategy, parse_strategy
from tests.strategies.helpers import default_doc


def _strategy(**over: Any) -> Strategy:
    doc = default_doc("p")
    doc.update(over)
    return parse_strategy(doc)


SEGMENTS = [
    {"name": "vip_low_risk", "when": {"buckets": ["M1"], "balance_min_fen": 1_000_000, "score_min": 0.6},
     "allow": ["agent_call", "sms"], "require": ["agent_call"]},
    {"name": "korean", "when": {"languages": ["ko-KR"], "regions": ["northeast"]},
     "allow": ["agent_call", "no_action"]},
    {"name": "m1_band", "when": {"buckets": ["M1"], "balance_min_fen": 100_000, "balance_max_fen": 500_000},
     "allow": ["robot_call", "sms", "no_action"]},
    {"name": "merchant_late", "when": {"buckets": ["M3", "M4+"], "products": ["MM-EI-12"]},
     "allow": ["field_visit", "legal", "agency"], "require": ["field_visit", "legal"]},
]


def _facts() -> AccountFacts:
    # loan, bucket, balance, score, product, region, language → expected segment
    rows = [
        (1, "M1", 2_000_000, 0.70, "CL-EI-24", "east", "zh-CN"),     # vip_low_risk (first match, though M1)
        (2, "M1", 2_000_000, 0.50, "CL-EI-24", "east", "zh-CN"),     # score too low, balance ≥ band max → none
        (3, "M1", 2_000_000, 0.80, "CL-EI-24", "northeast", "ko-KR"),  # vip before korean: order decides
        (4, "M2", 300_000, 0.10, "CL-EI-24", "northeast", "ko-KR"),  # korean
        (5, "M1", 100_000, 0.10, "CL-EI-6", "south", "zh-CN"),       # m1_band, min inclusive
        (6, "M1", 500_000, 0.10, "CL-EI-6", "south", "zh-CN"),       # max exclusive → none
        (7, "M4+", 9_000_000, np.nan, "MM-EI-12", "west", "zh-CN"),  # merchant_late
        (8, "M1", 2_000_000, np.nan, "CL-EI-24", "east", "zh-CN"),   # NaN score never in a score band → none
    ]
    cols = list(zip(*rows, strict=True))
    return AccountFacts.of(loan_id=cols[0], bucket=cols[1], balance_fen=cols[2], score=cols[3], product=cols[4],
                           region=cols[5], language=cols[6])


def test_first_matching_segment_wins() -> None:
    """Worked example: order decides overlaps, bands are [min, max), NaN scores match no score band,
    and unmatched accounts get segment "" with only no_action allowed."""
    strategy = _strategy(segments=SEGMENTS, challengers=[])
    out = treatments_for(strategy, _facts())
    assert out.segment.tolist() == ["vip_low_risk", "", "vip_low_risk", "korean", "m1_band", "", "merchant_late", ""]
    assert out.arm.tolist() == ["champion"] * 8
    no_action = np.zeros(len(TREATMENTS), dtype=bool)
    no_action[TREATMENTS.index("no_action")] = True
    for i in np.flatnonzero(out.unmatched):
        assert (out.allowed[i] == no_action).all() and not out.required[i].any()


def test_masks_are_the_segments_lists() -> None:
    """Each account's allowed and required rows are exactly its segment's allow and require lists."""
    strategy = _strategy(segments=SEGMENTS, challengers=[])
    out = treatments_for(strategy, _facts())
    by_name = {s.name: s for s in strategy.segments}
    for i, name in enumerate(out.segment.tolist()):
        if name:
            assert [t for t, a in zip(TREATMENTS, out.allowed[i], strict=True) if a] == sorted(
                by_name[name].allow, key=TREATMENTS.index)
            assert {t for t, r in zip(TREATMENTS, out.required[i], strict=True) if r} == set(by_name[name].require)
    assert (out.required <= out.allowed).all()


def test_challenger_arm_uses_its_own_segments() -> None:
    """Accounts in a challenger with segments are segmented by them; one with only optimizer settings
    keeps the champion's segments."""
    challengers = [
        {"name": "all_sms", "share": "0.3", "seed": 11,
         "segments": [{"name": "sms_only", "allow": ["sms"]}]},
        {"name": "tuned", "share": "0.3", "seed": 12,
         "optimizer": {"top_k": 2, "workload_band": "0.5", "continuity_threshold_fen": 0, "time_limit_s": 1,
                       "horizon_days": 7}},
    ]
    strategy = _strategy(segments=SEGMENTS, challengers=challengers)
    n = 3000
    facts = AccountFacts.of(loan_id=np.arange(n), bucket=["M1"] * n, balance_fen=[200_000] * n, score=[0.1] * n,
                            product=["CL-EI-6"] * n, region=["east"] * n, language=["zh-CN"] * n)
    out = treatments_for(strategy, facts)
    assert set(out.arm.tolist()) == {"champion", "all_sms", "tuned"}
    assert set(out.segment[out.arm == "all_sms"].tolist()) == {"sms_only"}
    assert set(out.segment[out.arm != "all_sms"].tolist()) == {"m1_band"}
    assert out.allowed[out.arm == "all_sms"].sum(axis=1).tolist() == [1] * int((out.arm == "all_sms").sum())


def test_arms_honour_shares_on_100k_loans() -> None:
    """With shares 10%, 5% and 25%, each arm's share of 100,000 loans is within one percentage point."""
    challengers = [{"name": f"c{i}", "share": share, "seed": 1000 + i, "optimizer": {
        "top_k": 3, "workload_band": "0.2", "continuity_threshold_fen": 0, "time_limit_s": 1, "horizon_days": 7}}
        for i, share in enumerate(["0.10", "0.05", "0.25"])]
    strategy = _strategy(challengers=challengers)
    arms = assign_arms(strategy, np.arange(1, 100_001))
    shares = {name: float((arms == name).mean()) for name in ("champion", "c0", "c1", "c2")}
    expected = {"champion": 0.60, "c0": 0.10, "c1": 0.05, "c2": 0.25}
    for name, want in expected.items():
        assert shares[name] == pytest.approx(want, abs=0.01), shares


def test_a_loan_stays_in_its_arm() -> None:
    """A loan's arm depends only on its id and the challengers: the same on another night, whatever other
    loans are in the book; appending a challenger moves only champion loans; another seed reshuffles."""
    strategy = _strategy()
    ids = np.arange(1, 100_001)
    first = assign_arms(strategy, ids)
    rng = np.random.default_rng(3)
    tonight = rng.choice(ids, size=40_000, replace=False)
    assert (assign_arms(strategy, tonight) == first[tonight - 1]).all()
    assert (assign_arms(strategy, ids) == first).all()

    doc = default_doc("p")
    doc["challengers"].append({"name": "extra", "share": "0.2", "seed": 5, "optimizer": doc["optimizer"]})
    moved = assign_arms(parse_strategy(doc), ids)
    changed = moved != first
    assert changed.any() and (first[changed] == "champion").all() and (moved[changed] == "extra").all()

    doc = default_doc("p")
    doc["challengers"][0]["seed"] = 999
    reseeded = assign_arms(parse_strategy(doc), ids)
    in_both = ((reseeded == "robot_first") & (first == "robot_first")).mean()
    assert in_both == pytest.approx(0.10 * 0.10, abs=0.005)  # independent draws, not the same loans


def test_arm_uniform_is_uniform_and_seeded() -> None:
    """The per-loan hash spreads consecutive ids evenly over [0, 1) (deciles within 1%) and depends on the seed."""
    u = arm_uniform(42, np.arange(100_000))
    assert ((u >= 0) & (u < 1)).all()
    deciles = np.histogram(u, bins=10, range=(0, 1))[0] / u.size
    assert np.abs(deciles - 0.1).max() < 0.01
    assert not np.array_equal(u, arm_uniform(43, np.arange(100_000)))
    assert np.array_equal(u, arm_uniform(42, np.arange(100_000)))


def test_empty_book_and_ragged_facts() -> None:
    """No accounts → empty outputs of the right shape; arrays of different lengths are refused."""
    strategy = _strategy()
    empty = AccountFacts.of(loan_id=[], bucket=[], balance_fen=[], score=[], product=[], region=[], language=[])
    out = treatments_for(strategy, empty)
    assert out.allowed.shape == (0, len(TREATMENTS)) and out.arm.size == 0 and out.segment.size == 0
    with pytest.raises(ValueError, match="differ in length"):
        AccountFacts.of(loan_id=[1, 2], bucket=["M1"], balance_fen=[1], score=[0.1], product=["x"], region=["y"],
                        language=["z"])
