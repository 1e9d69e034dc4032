"""Held-out evaluation plumbing: the oracle replay is exact, German credit is read from the package,
and the simulated-history evaluation prints every figure."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, select

from buyu.db import unit_of_work
from buyu.errors import InvalidInput
from buyu.ledger.models import Loan
from buyu.scoring import evaluate, oracle
from buyu.scoring.data import load_history
from buyu.simulation.runner import Simulation
from buyu.simulation.scenario import parse_scenario, shipped_scenario
from buyu.simulation.world import GroundTruth
from tests.scoring.conftest import DAYS, Simulated


def test_replayed_truth_matches_the_world_the_runner_drove(fresh_engine: Engine) -> None:
    """Replaying the ground truth from the contact log reproduces the runner's hidden state (fatigue and
    ability) after twelve days, so oracle probabilities at past points are the ones that held then."""
    data = shipped_scenario("default").model_dump(exclude_unset=True)
    scenario = parse_scenario({**data, "accounts": 60, "collectors": 6, "days": 12})
    sim = Simulation.start(engine=fresh_engine, scenario=scenario, policy=evaluate.ExplorePolicy())
    for number in range(1, 13):
        sim.run_day(number=number, days=12)
    end = scenario.start_date + timedelta(days=11)
    with unit_of_work(fresh_engine) as session:
        history = load_history(session=session, first=scenario.start_date, last=end)
        refs = {int(i): str(r) for i, r in session.execute(select(Loan.id, Loan.external_ref))}
    ids = sorted(refs)
    accounts = oracle.account_ids(external_refs=[refs[i] for i in ids], seed=scenario.seed)
    replayed = GroundTruth.from_scenario(scenario)
    oracle.advance(truth=replayed, history=history, account_of=dict(zip(ids, accounts.tolist(), strict=True)),
                   until=end.toordinal())
    assert replayed.day == sim.truth.day and sim.truth.load().max() > 0
    assert np.allclose(replayed.ability(), sim.truth.ability())
    assert np.allclose(replayed.load(), sim.truth.load())


def test_germancredit_is_read_from_the_package_and_cross_validated() -> None:
    """The shipped CSV has 1,000 rows and 20 features; a 3-fold run on 400 rows prints per-fold AUCs."""
    frame, y = evaluate.germancredit_frame()
    assert frame.size == 1000 and len(frame.names) == 20 and abs(y.mean() - 0.3) < 1e-9
    out = evaluate.evaluate_germancredit(folds=3, rows=400)
    assert len(out["folds"]) == 3 and 0.6 < out["auc"] <= 1


@pytest.mark.slow
def test_simulated_history_evaluation_prints_every_figure(simulated: Simulated) -> None:
    """On a real simulated history the evaluation reports model and oracle AUC, calibration, uplift Qini,
    collector fit and valuation error, each a number in range."""
    with unit_of_work(simulated.engine) as session:
        out = evaluate.evaluate_history(session=session, scenario=simulated.scenario, days=DAYS)
    for key in ("propensity_auc", "oracle_auc", "auc_ratio", "ece", "ece_15_equal_width", "ece_in_time", "qini",
                "valuation_pool_error"):
        assert out[key] is not None, key
    assert 0.5 < out["propensity_auc"] <= 1 and 0.5 < out["oracle_auc"] <= 1 and 0 <= out["ece"] < 0.5
    assert 0 <= out["ece_15_equal_width"] < 0.5 and 0 <= out["ece_in_time"] < 0.5 and out["in_time_points"] > 0
    assert out["valuation_accounts"] > 0


def test_too_short_a_span_is_refused_before_simulating() -> None:
    """Forty simulated days cannot hold a training window and a 30-day held-out window: refused, nothing run."""
    data = shipped_scenario("default").model_dump(exclude_unset=True)
    scenario = parse_scenario({**data, "accounts": 60, "collectors": 6, "days": 40})
    with pytest.raises(InvalidInput) as err:
        evaluate.evaluate_scenario(scenario=scenario)
    assert err.value.code == "too_few_days"


@pytest.mark.slow
def test_a_burn_in_is_part_of_the_evaluated_span() -> None:
    """With `history_days` the lender's past counts towards the span: 40 past + 40 measured days are enough,
    the split falls in the middle of the 80 days, and the output says how long the burn-in was."""
    data = shipped_scenario("default").model_dump(exclude_unset=True)
    scenario = parse_scenario({**data, "accounts": 60, "collectors": 6, "days": 40, "history_days": 40})
    out = evaluate.evaluate_scenario(scenario=scenario)
    assert out["split_day"] == (scenario.start_date + timedelta(days=(80 - evaluate.HORIZON) // 2)).isoformat()
    assert out["simulation"]["history_days"] == 40 and out["simulation"]["days"] == 40
    assert out["train_points"] > 0 and out["test_points"] > 0
