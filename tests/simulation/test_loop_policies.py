"""The yardstick, the baseline and the floor, measured on the real loop over five seeds."""

from __future__ import annotations

from decimal import Decimal

from buyu.simulation.compare import compare
from buyu.simulation.scenario import parse_scenario, shipped_scenario

#: The default scenario shrunk in proportion (accounts, staff, robot lines) and in time: 20 days, with
#: the court's delay and the agency's placement shortened so that, as in 90 default days, filings and
#: placements pay back inside the window.
REDUCED = {"accounts": 200, "collectors": 2, "robot_lines": 1,
           "treatments": {"legal": {"delay_days": 12}, "agency": {"placement_days": 7}}}


def test_oracle_beats_champion_beats_random_on_net_over_five_seeds() -> None:
    """On a reduced default scenario, over five seeds shared by the three policies, the mean net
    (collected − cost, read from the tables) is oracle ≥ champion ≥ random, and no run broke the
    contact rules."""
    scenario = parse_scenario({**shipped_scenario("default").model_dump(exclude_unset=True), **REDUCED})
    out = compare(scenario=scenario, policies=["champion", "oracle", "random"], seeds=5, days=20)
    net = {name: Decimal(out["policies"][name]["net"]["mean"]) for name in ("oracle", "champion", "random")}
    assert net["oracle"] >= net["champion"] >= net["random"], net
    assert all(run["compliance_violations"] == 0 for run in out["runs"]) and len(out["runs"]) == 15
    assert out["ratios"]["oracle"]["net"] >= 1.0 >= out["ratios"]["random"]["net"]
