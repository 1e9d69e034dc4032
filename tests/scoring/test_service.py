"""End to end on a real simulated history (each database): train from the tables, score with logs and
monitors, look one account up, value a pool, roll rates, the report, the CLI."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from buyu.db import unit_of_work
from buyu.scoring import service
from buyu.scoring.features import TREATMENTS
from buyu.scoring.models import ModelAlarm, ModelVersion, ScoreLog, ScoreRun
from tests.scoring.conftest import DAYS, Simulated


@pytest.fixture(scope="module")
def trained(simulated: Simulated) -> Simulated:
    """All four models trained on the simulated history as of its last day."""
    end = simulated.scenario.start_date + timedelta(days=DAYS - 1)
    with unit_of_work(simulated.engine) as session:
        out = service.train_models(session=session, as_of=end, window_days=90)
    assert {m["name"] for m in out["models"]} == {"propensity", "collector_fit", "valuation", "rollrate"}
    return simulated


def _end(sim: Simulated) -> object:
    return sim.scenario.start_date + timedelta(days=DAYS - 1)


def test_training_registers_every_model_with_window_hash_and_metrics(trained: Simulated) -> None:
    """Each model is a versioned artifact with its training window (ending on the as-of date), a data hash,
    features, parameters and metrics; the propensity model ranks payers well in the training window."""
    with unit_of_work(trained.engine) as session:
        rows = session.scalars(select(ModelVersion).where(ModelVersion.status == "active")).all()
        by_name = {r.name: r for r in rows}
    prop = by_name["propensity"]
    assert prop.window_end == _end(trained) and len(prop.data_hash) == 64 and "dpd" in prop.features
    assert prop.metrics["auc"] > 0.7 and prop.rows > 1000
    assert "Model card: propensity" in prop.card


def test_batch_scoring_logs_a_sample_and_monitors_stability(trained: Simulated) -> None:
    """Scoring the book the day after training scores every actionable account for all treatments, logs about
    the sampled share with inputs and outputs (integer fen), and computes PSI for inputs and scores."""
    day = _end(trained) + timedelta(days=1)
    with unit_of_work(trained.engine) as session:
        run = service.score_accounts(session=session, as_of=day, sample_rate=0.5)
        assert run.scores.p30.shape == (run.points.size, len(TREATMENTS)) and run.points.size > 20
        bad = np.argwhere(~((run.scores.p7 <= run.scores.p30 + 1e-12) & (run.scores.p30 <= 1)))
        assert bad.size == 0, (bad[:5], run.scores.p7[bad[:5, 0]], run.scores.p30[bad[:5, 0]])
        assert np.allclose(run.scores.uplift7[:, TREATMENTS.index("no_action")], 0)
        logged = session.scalars(select(ScoreLog).where(ScoreLog.run_id == run.run_id)).all()
        stored = session.get(ScoreRun, run.run_id)
    assert stored is not None and stored.logged == len(logged) and 0 < len(logged) < run.points.size
    sample = logged[0]
    assert isinstance(sample.outputs["expected_amount_fen"]["agent_call"], int)
    assert "dpd" in sample.inputs and sample.outputs["reasons"]
    assert "dpd" in run.monitors["inputs"] and "p30_no_action" in run.monitors["scores"]


def test_single_lookup_is_logged_in_full_with_reasons_and_collectors(trained: Simulated) -> None:
    """A one-account lookup logs that account (sample = all) and returns reason codes and collector fit."""
    day = _end(trained) + timedelta(days=1)
    with unit_of_work(trained.engine) as session:
        run = service.score_accounts(session=session, as_of=day, sample_rate=0.0)
        loan_id = int(run.points.loan[0])
        out = service.lookup(session=session, loan_id=loan_id, as_of=day)
        kind = session.get(ScoreRun, out["run_id"])
    assert kind is not None and kind.kind == "single" and kind.logged == 1
    assert len(out["reasons"]) == 3 and set(out["p30"]) == set(TREATMENTS)
    assert out["collectors"] and 0 < out["collectors"][0]["p_collect_7d"] < 1


def test_pool_value_and_hold_or_sell(trained: Simulated) -> None:
    """Valuing the book gives a present value below the undiscounted recovery, inside its 90% interval, and
    the call flips from hold to sell as the bid rises past the value."""
    day = _end(trained) + timedelta(days=1)
    with unit_of_work(trained.engine) as session:
        low = service.value_book(session=session, as_of=day, pool="all", bid=0.0001)
        high = service.value_book(session=session, as_of=day, pool="all", bid=0.99)
        m2 = service.value_book(session=session, as_of=day, pool="bucket=M2|M3,dpd>=31")
    fen = low["fen"]
    assert fen["low"] <= fen["value"] <= fen["high"] and fen["value"] <= fen["expected_recovery_12m"]
    assert len(low["curve"]) == 12 and low["recommendation"] == "hold" and high["recommendation"] == "sell"
    assert 0 < m2["accounts"] < low["accounts"]


def test_hold_values_are_the_pool_valuation_per_scored_account(trained: Simulated) -> None:
    """What the plan weighs a sale against: per scored account, the valuation model's discounted 12-month
    recovery — between nothing and the balance, lower at a higher rate, and summing over the accounts the
    pool valuation also counts to within the accounts it alone holds (scored = actionable, not placed)."""
    day = _end(trained) + timedelta(days=1)
    with unit_of_work(trained.engine) as session:
        run = service.score_accounts(session=session, as_of=day)
        hold = service.hold_values(session=session, run=run, annual_rate=0.10)
        dear = service.hold_values(session=session, run=run, annual_rate=0.60)
        pool = service.value_book(session=session, as_of=day, pool="all", annual_rate=0.10)
    assert hold is not None and dear is not None and hold.shape == (run.points.size,)
    balance = np.expm1(run.frame.num("log_outstanding")) * 100
    assert (hold >= 0).all() and (hold <= balance * 1.01 + 100).all()
    assert (dear <= hold + 1e-6).all() and dear.sum() < hold.sum()
    assert 0 < hold.sum() <= pool["fen"]["value"] * 1.05
    no_history = service.ScoringRun(**{**run.__dict__, "history": None})
    with unit_of_work(trained.engine) as session:
        assert service.hold_values(session=session, run=no_history, annual_rate=0.1) is None


def test_roll_rates_and_the_report_flag_old_models(trained: Simulated) -> None:
    """Roll-rate rows are shares; 100 days after training the report flags every model for retraining and
    records one age alarm per model (re-running the report adds none)."""
    later = _end(trained) + timedelta(days=100)
    with unit_of_work(trained.engine) as session:
        rates = service.roll_rates(session=session, dimension="region")
        for seg in rates["segments"].values():
            for row in seg["matrix"].values():
                assert abs(sum(row.values()) - 1) < 1e-3
        first = service.report(session=session, as_of=later)
        service.report(session=session, as_of=later)
        ages = session.scalar(select(func.count()).select_from(ModelAlarm).where(
            ModelAlarm.monitor == "age", ModelAlarm.as_of == later))
    assert set(first["retrain"]) == {"propensity", "collector_fit", "valuation", "rollrate"}
    assert ages == 4


def test_cli_models_report_and_value(trained: Simulated, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """`buyu models report --json` writes the console's file; `buyu value --pool … --bid … --json` answers."""
    from buyu import cli

    monkeypatch.setattr(cli, "_engine", lambda: trained.engine)
    runner = CliRunner()
    day = _end(trained) + timedelta(days=1)
    out_file = f"{tmp_path}/models.json"
    res = runner.invoke(cli.app, ["models", "report", "--as-of", day.isoformat(), "--out", out_file, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["file"] == out_file
    res = runner.invoke(cli.app, ["value", "--pool", "all", "--bid", "0.18", "--as-of", day.isoformat(), "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["recommendation"] in ("hold", "sell") and body["bid_share"] == 0.18
    bad = runner.invoke(cli.app, ["value", "--pool", "colour=red", "--as-of", day.isoformat(), "--json"])
    assert bad.exit_code == 2 and "invalid_pool" in bad.output


def test_effectiveness_is_measured_on_matured_scores_made_after_training(trained: Simulated) -> None:
    """A model trained 31 days before the report date scores the next two days; the report measures those
    scores' AUC and calibration against the ledger's 30-day outcomes (back-dated runs of rows it trained on do
    not count), and a calibration threshold they miss flags the model for retraining."""
    from buyu.scoring import monitoring

    end = trained.scenario.start_date + timedelta(days=DAYS - 1)
    trained_on = end - timedelta(days=31)
    with unit_of_work(trained.engine) as session:
        service.train_models(session=session, as_of=trained_on, window_days=60)
        service.score_accounts(session=session, as_of=trained_on - timedelta(days=5), sample_rate=1.0)
        for ahead in (1, 2):
            service.score_accounts(session=session, as_of=trained_on + timedelta(days=ahead), sample_rate=1.0)
        row = session.scalars(select(ModelVersion).where(ModelVersion.name == "propensity",
                                                         ModelVersion.status == "active")).one()
        loose = monitoring.Thresholds(min_matured=50)
        measured = monitoring.effectiveness(session=session, version=row, as_of=end, thresholds=loose)
        logged_after = session.scalar(select(func.count()).select_from(ScoreLog).join(ScoreRun).where(
            ScoreRun.model_version_id == row.id, ScoreRun.as_of > trained_on))
        strict = monitoring.Thresholds(min_matured=50, ece=0.0)
        report = monitoring.model_report(session=session, version=row, as_of=end, thresholds=strict)
    assert row.as_of == trained_on and measured["matured"] == logged_after >= 50
    assert 0.5 < measured["auc"] <= 1 and 0 <= measured["ece"] < 1 and 0 < measured["observed_rate"] < 1
    assert report["retrain"] and any(r.startswith("calibration p30") for r in report["retrain_reasons"])
