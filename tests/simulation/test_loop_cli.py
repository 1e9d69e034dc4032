"""`buyu simulate`: the JSON documents, the database it runs on, and clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from buyu.cli import app
from buyu.db import make_engine, unit_of_work
from buyu.ledger.models import Loan
from buyu.migrate import upgrade
from buyu.simulation.runner import run_simulation
from buyu.simulation.scenario import parse_scenario

TINY = """\
seed: 5
accounts: 60
collectors: 4
days: 3
robot_lines: 1
field_share: 0.3
willingness_shift: 0.0
skill_spread: 0.5
start_date: 2026-03-02
"""
KEYS = {"policy", "days", "accounts", "collected", "cost", "net", "recovery_rate", "contacts", "rpc_rate", "ptps",
        "ptp_kept_rate", "complaints", "compliance_blocks", "compliance_violations", "seconds"}
MONEY = re.compile(r"^-?\d+\.\d{2}$")


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A tiny scenario file."""
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner with no BUYU_DATABASE_URL (so runs use a temporary database)."""
    monkeypatch.delenv("BUYU_DATABASE_URL", raising=False)
    return CliRunner()


def test_simulate_prints_the_metrics_document(runner: CliRunner, tiny: Path) -> None:
    """`buyu simulate --scenario F --policy champion --json` prints exactly the metric keys, money as decimal
    strings, no violations, and draws its progress bar on stderr, not in the JSON."""
    result = runner.invoke(app, ["simulate", "--scenario", str(tiny), "--policy", "champion", "--days", "2", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == KEYS
    assert all(MONEY.match(doc[k]) for k in ("collected", "cost", "net"))
    assert (doc["policy"], doc["days"], doc["accounts"], doc["compliance_violations"]) == ("champion", 2, 60, 0)
    assert "day 2/2" in result.stderr


def test_compare_prints_intervals_and_ratios_to_champion(runner: CliRunner, tiny: Path) -> None:
    """`--compare champion,random --seeds 2` runs both policies on the same two seeds and prints, per policy
    and metric, the mean with its 95% interval, and the ratio of each mean to the champion's."""
    result = runner.invoke(app, ["simulate", "--scenario", str(tiny), "--compare", "champion,random", "--seeds", "2",
                                 "--days", "2", "--no-progress", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["baseline"] == "champion" and doc["seeds"] == [5, 6]
    assert set(doc["policies"]) == {"champion", "random"} and len(doc["runs"]) == 4
    net = doc["policies"]["random"]["net"]
    assert float(net["low"]) <= float(net["mean"]) <= float(net["high"])
    assert doc["ratios"]["champion"]["contacts"] == 1.0
    assert set(doc["policies"]["champion"]) == KEYS - {"policy", "days", "accounts"}


@pytest.mark.parametrize(("text", "needle"), [
    ("seed: 1\naccounts: -3\n", "accounts"), ("{{ not yaml", "not valid YAML"),
    (TINY + "robot_line: 2\n", "robot_line"),
])
def test_a_bad_scenario_file_is_a_clear_error(runner: CliRunner, tmp_path: Path, text: str, needle: str) -> None:
    """A scenario with a bad value, broken YAML or an unknown key exits 2 with a message naming the problem."""
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["simulate", "--scenario", str(path), "--policy", "champion"])
    assert result.exit_code == 2
    assert "invalid_scenario" in result.stderr and needle in result.stderr


def test_unknown_policy_missing_file_and_bad_arguments_are_clear_errors(runner: CliRunner, tiny: Path) -> None:
    """An unknown policy (alone or in --compare), a missing file, or neither --policy nor --compare exit 2
    with a message; nothing is simulated."""
    cases = [(["--policy", "greedy"], "unknown policy 'greedy'"), (["--compare", "champion,nope"], "'nope'"),
             ([], "--policy"), (["--policy", "champion", "--compare", "random"], "either")]
    for args, needle in cases:
        result = runner.invoke(app, ["simulate", "--scenario", str(tiny), *args])
        assert result.exit_code == 2 and needle in result.stderr, (args, result.stderr)
    missing = runner.invoke(app, ["simulate", "--scenario", str(tiny.parent / "none.yaml"), "--policy", "random"])
    assert missing.exit_code == 2 and "cannot read scenario" in missing.stderr


def test_simulate_uses_an_empty_buyu_database_url_and_refuses_a_used_one(
        runner: CliRunner, tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With BUYU_DATABASE_URL set, the simulation migrates that database and leaves its history there; a
    second run on the same (now non-empty) database is refused with a clear error."""
    url = f"sqlite:///{tmp_path / 'mine.db'}"
    monkeypatch.setenv("BUYU_DATABASE_URL", url)
    args = ["simulate", "--scenario", str(tiny), "--policy", "random", "--days", "1", "--no-progress", "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    engine = make_engine(url)
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Loan)) == 60
    engine.dispose()
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "database_not_empty" in again.stderr


def test_run_on_a_migrated_empty_database(tmp_path: Path) -> None:
    """The runner accepts an already migrated empty database (migrating again is a no-op)."""
    url = f"sqlite:///{tmp_path / 'ready.db'}"
    upgrade(url)
    scenario = parse_scenario(yaml.safe_load(TINY))
    result = run_simulation(scenario=scenario, policy="oracle", days=1, database_url=url)
    assert result.metrics.days == 1 and result.metrics.compliance_violations == 0
