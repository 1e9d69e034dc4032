"""`buyu strategy …`: exit codes, the field path in errors, and the lifecycle on a real SQLite database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from buyu import cli
from tests.strategies.helpers import DEFAULT_FILE, US_FILE, as_text, default_doc


@pytest.fixture
def runner(fresh_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner whose commands use a fresh migrated SQLite database."""
    monkeypatch.setattr(cli, "_engine", lambda: fresh_engine)
    return CliRunner()


def _bad_file(tmp_path: Path, name: str, mutate: str) -> Path:
    doc = default_doc("cli")
    if mutate == "treatment":
        doc["segments"][2]["allow"][1] = "fax"
    elif mutate == "missing":
        del doc["capacities"]["sms_per_day"]
    path = tmp_path / name
    path.write_text(as_text(doc) if mutate != "syntax" else "segments: [\n", encoding="utf-8")
    return path


def test_validate_good_files(runner: CliRunner) -> None:
    """Valid files exit 0; --json prints the arms and the sha256."""
    for path in (DEFAULT_FILE, US_FILE):
        res = runner.invoke(cli.app, ["strategy", "validate", str(path)])
        assert res.exit_code == 0 and res.stdout.startswith("valid: "), res.output
    res = runner.invoke(cli.app, ["strategy", "validate", str(DEFAULT_FILE), "--json"])
    body = json.loads(res.stdout)
    assert body["valid"] and [(a["name"], a["share"]) for a in body["arms"]] == [("champion", "0.9"),
                                                                                 ("robot_first", "0.1")]


@pytest.mark.parametrize(("mutate", "prefix"), [
    ("treatment", "error [invalid_strategy]: segments[2].allow[1]: unknown treatment 'fax'"),
    ("missing", "error [invalid_strategy]: capacities.sms_per_day: is required"),
    ("syntax", "error [invalid_strategy]: (document): not valid YAML or JSON"),
])
def test_validate_bad_files_exit_2(runner: CliRunner, tmp_path: Path, mutate: str, prefix: str) -> None:
    """A bad file prints `error [invalid_strategy]: <field path>: …` on stderr and exits 2; --json puts the
    error body on stdout."""
    path = _bad_file(tmp_path, f"{mutate}.yaml", mutate)
    res = runner.invoke(cli.app, ["strategy", "validate", str(path)])
    assert res.exit_code == 2 and res.stderr.startswith(prefix), res.output
    res = runner.invoke(cli.app, ["strategy", "validate", str(path), "--json"])
    assert res.exit_code == 2 and json.loads(res.stdout)["error"]["code"] == "invalid_strategy"


def test_missing_file_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    """A file that cannot be read is a clean error, not a traceback."""
    res = runner.invoke(cli.app, ["strategy", "validate", str(tmp_path / "nope.yaml")])
    assert res.exit_code == 2 and res.stderr.startswith("error [file_unreadable]: "), res.output


def test_lifecycle_commands(runner: CliRunner, tmp_path: Path) -> None:
    """create → approve (own approval refused, exit 2) → activate → list/show; a bad create stores nothing."""
    res = runner.invoke(cli.app, ["strategy", "create", str(DEFAULT_FILE), "--author", "alice", "--json"])
    assert res.exit_code == 0, res.output
    vid = json.loads(res.stdout)["id"]
    res = runner.invoke(cli.app, ["strategy", "approve", str(vid), "--by", "alice"])
    assert res.exit_code == 2 and res.stderr.startswith("error [four_eyes]: "), res.output
    assert runner.invoke(cli.app, ["strategy", "approve", str(vid), "--by", "bob"]).exit_code == 0
    res = runner.invoke(cli.app, ["strategy", "activate", str(vid), "--by", "bob", "--effective", "2026-11-27",
                                  "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["status"] == "active", res.output
    res = runner.invoke(cli.app, ["strategy", "activate", str(vid), "--by", "bob", "--effective", "27/11/2026"])
    assert res.exit_code == 2 and "invalid_date" in res.stderr
    bad = _bad_file(tmp_path, "bad.yaml", "treatment")
    assert runner.invoke(cli.app, ["strategy", "create", str(bad), "--author", "alice"]).exit_code == 2
    listed = json.loads(runner.invoke(cli.app, ["strategy", "list", "--json"]).stdout)["strategies"]
    assert [(r["id"], r["status"], r["effective_from"]) for r in listed] == [(vid, "active", "2026-11-27")]
    shown = runner.invoke(cli.app, ["strategy", "show", str(vid)])
    assert shown.exit_code == 0 and "activated by bob effective 2026-11-27" in shown.stdout
    assert "portfolio: default" in shown.stdout
    missing = runner.invoke(cli.app, ["strategy", "show", "424242"])
    assert missing.exit_code == 2 and missing.stderr.startswith("error [strategy_not_found]")
