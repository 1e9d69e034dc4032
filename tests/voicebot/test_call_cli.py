"""`buyu voicebot simulate-call`: one whole call from the command line, and a refused one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from buyu.cli import app
from buyu.config import get_settings
from buyu.db import get_engine, make_engine, unit_of_work
from buyu.migrate import upgrade
from tests.calls.helpers import CALL_DAY, delinquent, run_night


@pytest.fixture()
def loan_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, int]]:
    """BUYU_DATABASE_URL pointing at a fresh database with two delinquent loans after the night."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    engine = make_engine(url)
    with unit_of_work(engine) as session:
        first, second = delinquent(session), delinquent(session)
        run_night(session)
        loans = (first.loan.id, second.loan.id)
    engine.dispose()
    monkeypatch.setenv("BUYU_DATABASE_URL", url)
    get_settings.cache_clear()
    yield loans
    get_settings.cache_clear()
    get_engine.cache_clear()


def test_simulate_call_prints_the_call(loan_db: tuple[int, int]) -> None:
    """A wrong-number call through the loopback server: JSON with the prompts heard and the booked record."""
    result = CliRunner().invoke(app, ["voicebot", "simulate-call", "--loan", str(loan_db[0]), "--script",
                                      "잘못 걸린 전화 입니다", "--as-of", CALL_DAY.isoformat(),
                                      "--at", "2026-03-02T10:00:00+08:00", "--speed", "2", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["prompt_keys"] == ["greeting", "wrong_party"]
    assert out["record"]["result"] == "wrong_party" and out["record"]["loan_id"] == loan_db[0]
    assert out["closed_by"] == "robot" and out["audio_seconds"] > 1


def test_simulate_call_in_quiet_hours_is_refused(loan_db: tuple[int, int]) -> None:
    """23:00 borrower-local: the contact rules refuse the call, the CLI says why and exits 2."""
    result = CliRunner().invoke(app, ["voicebot", "simulate-call", "--loan", str(loan_db[1]), "--script", "네",
                                      "--as-of", CALL_DAY.isoformat(), "--at", "2026-03-02T23:00:00+08:00", "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["code"] == "compliance_blocked"
