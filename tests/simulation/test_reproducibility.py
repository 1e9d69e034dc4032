"""Everything follows from the scenario's seed, through separate streams per mechanism."""

from __future__ import annotations

import numpy as np

from buyu.simulation.harness import run
from buyu.simulation.policies import make_policy
from buyu.simulation.rng import stream
from buyu.simulation.views import Treatment
from buyu.simulation.world import GroundTruth

from .conftest import small_default, start_arrays


def _latent_equal(a: GroundTruth, b: GroundTruth) -> bool:
    la, lb = a.portfolio.latent, b.portfolio.latent
    return all(np.array_equal(getattr(la, f), getattr(lb, f)) for f in la.__dataclass_fields__)


def test_same_seed_gives_identical_borrowers_collectors_and_draws():
    """Two worlds from one scenario have the same borrowers, hidden traits, collectors and skill, and the
    same generator state draws the same outcomes."""
    a, b = (GroundTruth.from_scenario(small_default()) for _ in range(2))
    assert a.portfolio.profiles == b.portfolio.profiles
    assert _latent_equal(a, b)
    assert a.collectors == b.collectors and np.array_equal(a.staff.skill, b.staff.skill)
    arrays = start_arrays(a)
    draws = [w.draw_contacts(accounts=arrays, treatment=Treatment.AGENT_CALL, collector_ids=1, hour=19,
                             rng=stream(1, "contacts", w.day)) for w in (a, b)]
    for field in draws[0].__dataclass_fields__:
        assert np.array_equal(getattr(draws[0], field), getattr(draws[1], field)), field


def test_different_seed_gives_different_borrowers():
    """Another seed is another book."""
    a, b = GroundTruth.from_scenario(small_default()), GroundTruth.from_scenario(small_default(seed=99))
    assert a.portfolio.profiles != b.portfolio.profiles


def test_different_policy_leaves_borrowers_and_their_ability_path_unchanged():
    """Running another policy changes contacts (and so fatigue) but not the borrowers generated nor the
    day-by-day ability process: those streams do not depend on what the policy did."""
    worlds = {name: GroundTruth.from_scenario(small_default()) for name in ("random", "champion")}
    for name, w in worlds.items():
        run(truth=w, policy=make_policy(name), days=4)
    a, b = worlds["random"], worlds["champion"]
    assert a.portfolio.profiles == b.portfolio.profiles and _latent_equal(a, b)
    assert np.array_equal(a.ability(), b.ability())
    assert not np.array_equal(a.load(), b.load())


def test_other_mechanisms_do_not_disturb_the_borrowers():
    """Changing capacity or collector knobs (robot lines, collectors, skill spread) leaves every borrower
    and hidden trait as it was."""
    base = GroundTruth.from_scenario(small_default())
    other = GroundTruth.from_scenario(small_default(robot_lines=9, collectors=3, skill_spread=0.9))
    assert base.portfolio.profiles == other.portfolio.profiles and _latent_equal(base, other)


def test_no_wall_clock_dates_come_from_the_scenario():
    """Dates are explicit: the world starts on start_date and loans are booked relative to it."""
    w = GroundTruth.from_scenario(small_default())
    assert w.day == w.scenario.start_date
    assert all(p.disbursed_on < w.scenario.start_date for p in w.portfolio.profiles)
