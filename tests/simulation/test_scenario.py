"""Scenario files: validation names the offending field; the shipped scenarios load and differ."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from buyu.simulation.scenario import (
    SCENARIO_DIR,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
    shipped_scenario,
)
from buyu.simulation.world import GroundTruth

from .conftest import BASE, start_arrays


def _error(data: object) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, source="test.yaml")
    return info.value


def test_unknown_top_level_key_is_named():
    """A misspelt knob is refused, and the message names it (no silent fallback to a default)."""
    err = _error({**BASE, "colectors": 5})
    assert "colectors" in str(err)
    assert "Extra inputs are not permitted" in str(err)
    assert {"field": "colectors", "message": "Extra inputs are not permitted"} in err.details


def test_unknown_nested_key_is_named_with_its_path():
    """An unknown key inside a section is reported with its dotted path."""
    err = _error({**BASE, "treatments": {"agent_call": {"cost": 500}}})
    assert "treatments.agent_call.cost" in str(err)


def test_out_of_range_willingness_shift_is_named():
    """willingness_shift = 2 is outside −1…1 and the error says which field."""
    err = _error({**BASE, "willingness_shift": 2})
    assert "willingness_shift" in str(err)
    assert "less than or equal to 1" in str(err)


def test_missing_required_knob_and_bad_section_values_are_named():
    """A missing required knob and a bad value deep in a section are both reported by name."""
    data = {k: v for k, v in BASE.items() if k != "seed"}
    data["borrowers"] = {"bucket_mix": {"M1": 1.0}}
    message = str(_error(data))
    assert "seed" in message
    assert "borrowers.bucket_mix" in message


def test_scenario_error_is_a_value_error_and_a_domain_error():
    """ScenarioError is a ValueError (as promised) and carries the domain error code."""
    err = _error([1, 2])
    assert isinstance(err, ValueError)
    assert err.code == "invalid_scenario"


def test_load_scenario_reports_unreadable_and_invalid_yaml(tmp_path: Path):
    """Missing files and broken YAML become ScenarioErrors naming the file."""
    with pytest.raises(ScenarioError, match=r"nope\.yaml"):
        load_scenario(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [unclosed\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(bad)


def test_nested_overrides_keep_the_other_defaults():
    """Overriding one field of a section keeps every other documented default of that section."""
    s = parse_scenario({**BASE, "treatments": {"agent_call": {"cost_fen": 999}}})
    assert s.treatments.agent_call.cost_fen == 999
    assert s.treatments.agent_call.minutes_per_call == 6
    assert s.treatments.robot_call.cost_fen == 30


def test_shipped_scenarios_load():
    """default, late_bucket and capacity_starved ship in scenarios/ and validate."""
    names = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
    assert {"default", "late_bucket", "capacity_starved"} <= set(names)
    for name in names:
        assert shipped_scenario(name).name == name


def test_shipped_scenarios_differ_materially():
    """late_bucket holds far more M3/M4+ accounts with lower true self-cure; capacity_starved has far
    less capacity per account than the default."""
    default, late, starved = (shipped_scenario(n) for n in ("default", "late_bucket", "capacity_starved"))
    small = {"accounts": 500}
    worlds = {n: GroundTruth.from_scenario(s.model_copy(update=small))
              for n, s in (("default", default), ("late", late))}
    late_share = {n: float((w.portfolio.start_dpd > 60).mean()) for n, w in worlds.items()}
    assert late_share["default"] < 0.3 < 0.6 < late_share["late"]
    cure = {n: float(w.self_cure_30d(accounts=start_arrays(w)).mean()) for n, w in worlds.items()}
    assert cure["late"] < 0.6 * cure["default"]

    def calls_per_account(s: Scenario) -> float:
        w = GroundTruth.from_scenario(s)
        cap = w.capacity()
        hours = cap.call_hours[1] - cap.call_hours[0] + 1
        agents = sum(c.minutes_per_day for c in w.collectors) / cap.agent_minutes_per_call
        return (cap.robot_calls_per_hour * hours + agents) / w.scenario.accounts

    assert calls_per_account(starved) < 0.25 * calls_per_account(default)
    assert np.isclose(default.willingness_shift, 0.0)


def test_readme_lists_the_current_defaults():
    """scenarios/README.md shows every section's defaults exactly as the code has them."""
    import json
    import re

    import yaml

    from buyu.simulation.scenario import Scenario

    text = (SCENARIO_DIR / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block is not None
    documented = yaml.safe_load(block.group(1))
    defaults = json.loads(parse_scenario(BASE).model_dump_json())
    assert documented == {k: defaults[k] for k in documented}
    assert set(documented) == set(Scenario.model_fields) - {"name", "description", *BASE}
