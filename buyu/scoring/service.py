"""Scoring services: train and register every model from the database, score accounts (logged and
monitored), look one account up, value a pool, roll rates, the governance report.

Keyword-only, typed; services never commit (the caller's unit of work does). Training reads only
the product's tables (`scoring.data`), with an explicit as-of date: nothing after it is seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import BigInteger, Date, String, column, insert, inspect, select, table
from sqlalchemy.orm import Session

from buyu.db import day_ordinal, int_rows
from buyu.errors import InvalidInput, NotFound
from buyu.scoring import monitoring, registry
from buyu.scoring.collector_fit import collector_segments, train_collector_fit
from buyu.scoring.data import load_history
from buyu.scoring.features import (
    NO_ACTION,
    TREATMENTS,
    FeatureFrame,
    History,
    Points,
    account_facts,
    build_features,
    decision_points,
    member,
    outcomes,
)
from buyu.scoring.learner import sigmoid
from buyu.scoring.metrics import auc, ece
from buyu.scoring.models import ModelVersion, ScoreLog, ScoreRun
from buyu.scoring.propensity import PropensityModel, Scores, TrainingSet, fit_propensity
from buyu.scoring.rollrate import LIVE, RollRates, balance_at, fit_roll_rates, periods, state_at
from buyu.scoring.valuation import ValuationModel, case_ages, discount_factors, fit_valuation, value_pool

TRAIN_WINDOW_DAYS = 180
LOOKBACK_DAYS = 180
MIN_POINTS = 200
HORIZON = 30
ROLL_DIMENSIONS: tuple[str, ...] = ("segment", "region", "language", "income_band")


# --------------------------------------------------------------------------- training


def train_models(*, session: Session, as_of: date, window_days: int = TRAIN_WINDOW_DAYS) -> dict[str, Any]:
    """Train propensity, collector fit, valuation and roll rates on history up to `as_of`; register all."""
    first = as_of - timedelta(days=window_days)
    history = load_history(session=session, first=first, last=as_of)
    points = decision_points(history=history, first=first + timedelta(days=1), last=as_of - timedelta(days=HORIZON - 1))
    if points.size < MIN_POINTS:
        raise InvalidInput(f"only {points.size} decision points with a matured 30-day outcome between {first} and "
                           f"{as_of}; at least {MIN_POINTS} are needed", code="not_enough_history",
                           details={"points": points.size})
    frame = build_features(history=history, points=points)
    outs = outcomes(history=history, points=points)
    window = (first, as_of)
    prop_row, model = _train_propensity(session=session, frame=frame, points=points, outs=outs, window=window)
    fit_row = _train_collector_fit(session=session, model=model, frame=frame, points=points, window=window)
    val_row = _train_valuation(session=session, history=history, window=window)
    roll_row = _train_rollrates(session=session, history=history, window=window)
    return {"as_of": as_of.isoformat(), "window": [first.isoformat(), as_of.isoformat()],
            "models": [_summary(r) for r in (prop_row, fit_row, val_row, roll_row) if r is not None]}


def _summary(row: ModelVersion) -> dict[str, Any]:
    return {"name": row.name, "version": row.version, "rows": row.rows, "data_hash": row.data_hash,
            "metrics": row.metrics}


def _train_propensity(*, session: Session, frame: FeatureFrame, points: Points, outs: Any,
                      window: tuple[date, date]) -> tuple[ModelVersion, PropensityModel]:
    randomised = randomised_points(session=session, points=points)
    data = TrainingSet(frame=frame, treatment=points.treatment, result=points.result, paid_7d=outs.paid_7d,
                       paid_30d=outs.paid_30d, amount_30d=outs.amount_30d, groups=points.loan, day=points.day,
                       randomised=randomised, hour=points.hour)
    model = fit_propensity(data)
    a = np.hstack([model.base.oof, model.inputs(frame)[:, 2:]])
    scores = model.score_inputs(a, bucket=frame.cat("bucket")[0])
    p7, p30, _ = scores.taken(points.treatment)
    metrics = {"auc": round(auc(y=outs.paid_30d, score=p30), 4), "ece": round(ece(y=outs.paid_30d, p=p30), 4),
               "auc_7d": round(auc(y=outs.paid_7d, score=p7), 4), "ece_7d": round(ece(y=outs.paid_7d, p=p7), 4),
               "evaluation": "out-of-fold first stage, in-sample treatment heads",
               "randomised_points": int(randomised.sum()),
               "points_by_treatment": {t: int(n) for t, n in zip(TREATMENTS, model.support.sum(axis=1), strict=True)},
               "crowd_out": {h: [round(float(x), 3) for x in v] for h, v in model.funnel.crowd.items()},
               "uplift_loading": {t: round(float(x), 3) for t, x in
                                  zip(TREATMENTS, model.uplift_loading if model.uplift_loading is not None
                                      else np.ones(len(TREATMENTS)), strict=True)}}
    reference = monitoring.references(frame=frame, scores=_monitored_scores(scores))
    row = registry.register(session=session, artifact=model, registration=registry.Registration(
        name="propensity", as_of=window[1], window_start=window[0], window_end=window[1], rows=points.size,
        data_hash=registry.data_hash(points.loan, points.day, points.treatment, outs.amount_30d, frame.numeric),
        features=list(frame.names), params={"k_folds": 3, "head_c": 0.5, "min_support": model.min_support,
                                            "tree": model.base.tree.kind, "horizons_days": [7, 30],
                                            "treatments": list(TREATMENTS)},
        metrics=metrics, reference=reference))
    return row, model


def randomised_points(*, session: Session, points: Points) -> npt.NDArray[np.bool_]:
    """Per point, whether its treatment was not chosen by a plan from the scores.

    A day an account had a plan item (of a solved plan, in any arm but `explore`) was the optimizer's choice;
    explore-arm items were drawn at random (buyu.plans.service.explore), and days no plan covered are the
    lender's own past, taken as its test-and-learn history.
    """
    out = np.ones(points.size, dtype=bool)
    if points.size == 0 or not inspect(session.connection()).has_table("plan_items"):
        return out
    first, last = date.fromordinal(int(points.day.min())), date.fromordinal(int(points.day.max()))
    # A training window holds millions of plan items: the database makes each one a single (loan, day) key
    # and the keys come back as one int64 array.
    item, run = _PLAN_ITEMS.c, _PLAN_RUNS.c
    stmt = (select(item.loan_id * _KEY_SCALE + day_ordinal(item.work_date))
            .select_from(_PLAN_ITEMS.join(_PLAN_RUNS, run.id == item.run_id))
            .where(run.status == "done", item.arm != "explore", item.work_date.between(first, last),
                   item.loan_id.between(int(points.loan.min()), int(points.loan.max()))))
    chosen = np.sort(int_rows(session=session, statement=stmt, width=1)[:, 0])
    out[member(chosen, points.loan.astype(np.int64) * _KEY_SCALE + points.day.astype(np.int64))] = False
    return out


# The plans package's tables, named here rather than imported (plans build on scoring, not the reverse).
_PLAN_ITEMS = table("plan_items", column("run_id", BigInteger), column("loan_id", BigInteger),
                    column("work_date", Date), column("arm", String))
_PLAN_RUNS = table("plan_runs", column("id", BigInteger), column("status", String))
_KEY_SCALE = 10_000_000  # (loan, day) → loan × scale + day ordinal: day ordinals stay below it until the year 27,000


def _monitored_scores(scores: Scores) -> dict[str, npt.ArrayLike]:
    return {"p30_no_action": scores.p30[:, NO_ACTION], "p7_no_action": scores.p7[:, NO_ACTION],
            "uplift7_agent_call": scores.uplift7[:, TREATMENTS.index("agent_call")]}


def _train_collector_fit(*, session: Session, model: PropensityModel, frame: FeatureFrame, points: Points,
                         window: tuple[date, date]) -> ModelVersion | None:
    talked = (points.collector > 0) & (points.result >= 2)
    if talked.sum() < 20:
        return None
    fit = train_collector_fit(model=model, frame=frame, points=points)
    return registry.register(session=session, artifact=fit, registration=registry.Registration(
        name="collector_fit", as_of=window[1], window_start=window[0], window_end=window[1], rows=int(talked.sum()),
        data_hash=registry.data_hash(points.loan[talked], points.day[talked], points.collector[talked],
                                     points.result[talked]),
        features=["bucket", "balance_band", "language", "region"],
        params={"outcome": "promise given right-party contact", "shrinkage": "empirical Bayes, normal prior"},
        metrics={"collectors": int(fit.collector_ids.size),
                 "tau2": {k: round(float(v), 5) for k, v in fit.tau2.items()}},
        reference={}))


def _valuation_rows(*, history: History, window: tuple[date, date]) -> tuple[Any, FeatureFrame]:
    starts = np.arange(window[0].toordinal() + 1, window[1].toordinal() - HORIZON + 2, 7)
    data = periods(history=history, starts=starts)
    facts = account_facts(history=history, loan=data.loan, day=data.start, balance_fen=data.balance0)
    return data, facts


def _train_valuation(*, session: Session, history: History, window: tuple[date, date]) -> ModelVersion | None:
    data, facts = _valuation_rows(history=history, window=window)
    if data.size < MIN_POINTS:
        return None
    cases = case_ages(history=history, loan=data.loan, day=data.start, period_days=HORIZON)
    model = fit_valuation(frame=facts, data=data, cases=cases)
    first_month = model.curves(frame=facts, state=data.state0, balance_fen=data.balance0, cases=cases)[:, 0]
    metrics = {"periods": data.size, "accounts": int(np.unique(data.loan).size),
               # how far back the outcomes it learnt from reach (the window may be longer than the book)
               "observed_days": int(window[1].toordinal() - int(data.start.min()) + 1),
               "first_month_predicted_over_realised": round(float(first_month.sum() / max(data.cash.sum(), 1.0)), 4),
               "payment_rate": round(float((data.cash > 0).mean()), 4), "bootstrap_replicates": len(model.replicates)}
    return registry.register(session=session, artifact=model, registration=registry.Registration(
        name="valuation", as_of=window[1], window_start=window[0], window_end=window[1], rows=data.size,
        data_hash=registry.data_hash(data.loan, data.start, data.state0, data.state1, data.cash),
        features=list(facts.names), params={"months": 12, "period_days": HORIZON, "states": list(range(LIVE))},
        metrics=metrics, reference=monitoring.references(frame=facts, scores={})))


def _train_rollrates(*, session: Session, history: History, window: tuple[date, date]) -> ModelVersion | None:
    data, facts = _valuation_rows(history=history, window=window)
    if data.size == 0:
        return None
    tables = {}
    for dim in ROLL_DIMENSIONS:
        codes, levels = facts.cat(dim)
        tables[dim] = fit_roll_rates(data=data, segment=codes, levels=levels, dimension=dim)
    book = tables[ROLL_DIMENSIONS[0]]
    return registry.register(session=session, artifact=tables, registration=registry.Registration(
        name="rollrate", as_of=window[1], window_start=window[0], window_end=window[1], rows=data.size,
        data_hash=registry.data_hash(data.loan, data.start, data.state0, data.state1),
        features=list(ROLL_DIMENSIONS), params={"period_days": HORIZON, "prior_strength": book.prior_strength},
        metrics={"roll_M1_M2": round(float(book.roll_rate()[0]), 4), "roll_M2_M3": round(float(book.roll_rate()[1]), 4),
                 "roll_M3_M4": round(float(book.roll_rate()[2]), 4), "periods": data.size},
        reference={}))


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class ScoringRun:
    """A logged scoring run: the points scored, their scores, and the run's monitors."""

    run_id: int
    model_version: int
    as_of: date
    points: Points
    frame: FeatureFrame
    scores: Scores
    monitors: dict[str, Any]
    alarms: int
    history: History | None = None  # what the scores were computed from (the plan values holding the accounts on it)


def score_accounts(*, session: Session, as_of: date, loan_ids: list[int] | None = None, sample_rate: float = 0.01,
                   seed: int = 0) -> ScoringRun:
    """Score every actionable delinquent account (or the given ones) for every treatment; log and monitor."""
    row, model = registry.load(session=session, name="propensity")
    history = load_history(session=session, first=as_of - timedelta(days=LOOKBACK_DAYS),
                           last=as_of - timedelta(days=1), loan_ids=loan_ids)
    points = decision_points(history=history, first=as_of, last=as_of)
    frame = build_features(history=history, points=points)
    scores = model.score(frame, cap_fen=np.expm1(frame.num("log_outstanding")) * 100)
    psis = monitoring.stability(reference=row.reference, frame=frame, scores=_monitored_scores(scores))
    single = loan_ids is not None and len(loan_ids) == 1
    take = np.ones(points.size, dtype=bool) if single else \
        np.random.default_rng(seed + as_of.toordinal()).random(points.size) < sample_rate
    run = ScoreRun(model_version_id=row.id, as_of=as_of, kind="single" if single else "batch", accounts=points.size,
                   logged=int(take.sum()), sample_ppm=1_000_000 if single else round(sample_rate * 1_000_000),
                   summary=_summary_stats(scores), monitors=psis)
    session.add(run)
    session.flush()
    _log(session=session, run=run, model=model, points=points, frame=frame, scores=scores, rows=np.flatnonzero(take))
    alarms = monitoring.raise_alarms(session=session, version=row, as_of=as_of, run_id=run.id,
                                     alarms=monitoring.stability_alarms(psis=psis))
    return ScoringRun(run_id=run.id, model_version=row.version, as_of=as_of, points=points, frame=frame,
                      scores=scores, monitors=psis, alarms=len(alarms), history=history)


def valuation_observed_days(*, session: Session) -> int | None:
    """Days of outcomes behind the active valuation model (0 for a model registered before it was recorded);
    None when there is no valuation model."""
    row = registry.active(session=session, name="valuation")
    return None if row is None else int((row.metrics or {}).get("observed_days", 0))


def hold_values(*, session: Session, run: ScoringRun, annual_rate: float) -> npt.NDArray[np.float64] | None:
    """Per scored account, the present value (fen) of what keeping it is expected to recover over the next
    12 months under the current strategy (the registered valuation model's curve, discounted at
    `annual_rate`); None when no valuation model is registered or the run kept no history."""
    if run.history is None:
        return None
    try:
        _, model = registry.load(session=session, name="valuation")
    except NotFound:
        return None
    loans = run.points.loan.astype(np.int64)
    if not loans.size:
        return np.zeros(0)
    night = np.full(loans.size, run.as_of.toordinal() - 1)
    state = state_at(history=run.history, loan=loans, day=night)
    balance = balance_at(history=run.history, loan=loans, day=night)
    frame = account_facts(history=run.history, loan=loans, day=night + 1, balance_fen=balance)
    cases = case_ages(history=run.history, loan=loans, day=night + 1)
    curves = _as_valuation(model).curves(frame=frame, state=np.clip(state, 1, LIVE - 1), balance_fen=balance,
                                         cases=cases)
    return np.asarray(curves @ discount_factors(annual_rate), dtype=np.float64)


def _summary_stats(scores: Scores) -> dict[str, Any]:
    return {"accounts": int(scores.p30.shape[0]),
            "mean_p30": {t: round(float(scores.p30[:, k].mean()), 4) if scores.p30.size else None
                         for k, t in enumerate(TREATMENTS)},
            "expected_amount_fen": {t: int(scores.amount_fen[:, k].sum()) for k, t in enumerate(TREATMENTS)}}


def account_output(*, scores: Scores, i: int, reasons: list[dict[str, object]] | None = None) -> dict[str, Any]:
    """One account's scores as JSON (probabilities rounded, money in integer fen)."""
    def per(values: npt.NDArray[Any], digits: int | None = 4) -> dict[str, Any]:
        return {t: (round(float(values[i, k]), digits) if digits is not None else int(values[i, k]))
                for k, t in enumerate(TREATMENTS)}

    out: dict[str, Any] = {"p7": per(scores.p7), "p30": per(scores.p30), "expected_amount_fen": per(scores.amount_fen,
                                                                                                     None),
                           "uplift7": per(scores.uplift7), "uplift7_fen": per(scores.uplift7_fen, None),
                           "supported": {t: bool(scores.supported[i, k]) for k, t in enumerate(TREATMENTS)}}
    if reasons is not None:
        out["reasons"] = reasons
    return out


def _inputs(frame: FeatureFrame, i: int) -> dict[str, Any]:
    values: dict[str, Any] = {n: (None if not np.isfinite(v) else round(float(v), 6))
                              for n, v in zip(frame.numeric_names, frame.numeric[i], strict=True)}
    for j, n in enumerate(frame.categorical_names):
        values[n] = frame.levels[j][int(frame.categorical[i, j])]
    return values


def _log(*, session: Session, run: ScoreRun, model: PropensityModel, points: Points, frame: FeatureFrame,
         scores: Scores, rows: npt.NDArray[np.int64]) -> None:
    if not rows.size:
        return
    reasons = model.reasons(frame.take(rows))
    session.execute(insert(ScoreLog), [
        {"run_id": run.id, "loan_id": int(points.loan[i]), "inputs": _inputs(frame, int(i)),
         "outputs": account_output(scores=scores, i=int(i), reasons=reasons[k])} for k, i in enumerate(rows)])


def lookup(*, session: Session, loan_id: int, as_of: date) -> dict[str, Any]:
    """Score one account on `as_of` (logged in full) with its reason codes and collector fit."""
    run = score_accounts(session=session, as_of=as_of, loan_ids=[loan_id])
    if run.points.size == 0:
        raise NotFound(f"loan {loan_id} is not an actionable delinquent account on {as_of} (not delinquent the night "
                       "before, placed, disputed, or unknown)", code="not_scorable", details={"loan_id": loan_id})
    log = session.scalar(select(ScoreLog).where(ScoreLog.run_id == run.run_id, ScoreLog.loan_id == loan_id))
    assert log is not None
    out: dict[str, Any] = {"loan_id": loan_id, "as_of": as_of.isoformat(), "model_version": run.model_version,
                           "run_id": run.run_id, "inputs": log.inputs, **log.outputs}
    out["collectors"] = _collector_fit_for(session=session, run=run)
    return out


def _collector_fit_for(*, session: Session, run: ScoringRun) -> list[dict[str, Any]]:
    """P(collect) of the account by each known collector under an agent call (top 5)."""
    try:
        _, fit = registry.load(session=session, name="collector_fit")
        _, model = registry.load(session=session, name="propensity")
    except NotFound:
        return []
    segments, _ = collector_segments(run.frame)
    a = model.inputs(run.frame)
    agent = np.full(run.points.size, TREATMENTS.index("agent_call"))
    rows = []
    for cid in fit.collector_ids:
        effect = fit.effect(collector_id=np.full(run.points.size, cid), segments=segments)
        p = model.collect_probability(a, agent, effect)
        rows.append({"collector_id": int(cid), "p_collect_7d": round(float(p[0]), 4),
                     "promise_effect": round(float(effect[0]), 4)})
    return sorted(rows, key=lambda r: -float(r["p_collect_7d"]))[:5]


def collector_pair_scores(*, session: Session, run: ScoringRun, collector_ids: npt.ArrayLike,
                          treatment: str = "agent_call") -> npt.NDArray[np.float64]:
    """(accounts, collectors) P(collect within 7 days | debtor, collector) for the optimizer."""
    _, fit = registry.load(session=session, name="collector_fit")
    _, model = registry.load(session=session, name="propensity")
    segments, _ = collector_segments(run.frame)
    a = model.inputs(run.frame)
    t = np.full(run.points.size, TREATMENTS.index(treatment))
    ids = np.asarray(collector_ids, dtype=np.int64)
    out = np.empty((run.points.size, ids.size))
    for j, cid in enumerate(ids):
        out[:, j] = model.collect_probability(a, t, fit.effect(collector_id=np.full(run.points.size, cid),
                                                                segments=segments))
    return out


# --------------------------------------------------------------------------- valuation and roll rates


FILTER_KEYS = ("bucket", "segment", "region", "language", "income_band")


def parse_pool(text: str) -> list[tuple[str, str, list[str]]]:
    """`all`, or comma-separated conditions: key=v1|v2 (bucket, segment, region, language, income_band),
    dpd>=N, dpd<=N, balance>=YUAN, balance<=YUAN."""
    if text.strip().lower() in ("", "all", "*"):
        return []
    out = []
    for part in text.split(","):
        part = part.strip()
        for op in (">=", "<=", "="):
            if op in part:
                key, value = (s.strip() for s in part.split(op, 1))
                break
        else:
            raise InvalidInput(f"cannot read pool condition {part!r}", code="invalid_pool")
        if (op == "=" and key not in FILTER_KEYS) or (op != "=" and key not in ("dpd", "balance")):
            raise InvalidInput(f"unknown pool condition {part!r}; use {', '.join(FILTER_KEYS)} with =, or dpd/balance "
                               "with >= or <=", code="invalid_pool")
        out.append((key, op, value.split("|")))
    return out


def _pool_mask(*, conditions: list[tuple[str, str, list[str]]], frame: FeatureFrame, state: npt.NDArray[np.int64],
               dpd: npt.NDArray[np.int64], balance: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    mask = np.ones(state.size, dtype=bool)
    bucket_names = np.asarray(["M0", "M1", "M2", "M3", "M4+"])[np.clip(state, 0, LIVE - 1)]
    for key, op, values in conditions:
        if key == "bucket":
            mask &= np.isin(bucket_names, values)
        elif op == "=":
            mask &= np.isin(frame.cat_labels(key), values)
        else:
            try:
                limit = float(values[0]) * (100 if key == "balance" else 1)
            except ValueError as exc:
                raise InvalidInput(f"{key}{op}{values[0]}: not a number", code="invalid_pool") from exc
            x = dpd if key == "dpd" else balance
            mask &= (x >= limit) if op == ">=" else (x <= limit)
    return mask


def value_book(*, session: Session, as_of: date, pool: str = "all", bid: float | None = None,
               annual_rate: float = 0.10) -> dict[str, Any]:
    """Value the accounts in collections matching `pool` on `as_of` (state of the night before)."""
    if bid is not None and not 0 <= bid <= 1:
        raise InvalidInput("bid is a share of the pool's balance, between 0 and 1", code="invalid_bid")
    if not -0.5 < annual_rate < 5:
        raise InvalidInput("rate is an annual discount rate such as 0.10", code="invalid_rate")
    row, model = registry.load(session=session, name="valuation")
    history = load_history(session=session, first=as_of - timedelta(days=LOOKBACK_DAYS), last=as_of - timedelta(days=1))
    loans = history.loans.loan_id
    day = np.full(loans.size, as_of.toordinal() - 1)
    state = state_at(history=history, loan=loans, day=day)
    seen = _ever_delinquent(history=history, loan=loans)
    owed = seen & (state < LIVE)
    loans, state = loans[owed], state[owed]
    balance = balance_at(history=history, loan=loans, day=np.full(loans.size, as_of.toordinal() - 1))
    frame = account_facts(history=history, loan=loans, day=np.full(loans.size, as_of.toordinal()), balance_fen=balance)
    dpd = _dpd_at(history=history, loan=loans, day=as_of.toordinal() - 1)
    mask = _pool_mask(conditions=parse_pool(pool), frame=frame, state=state, dpd=dpd, balance=balance) & (balance > 0)
    if not mask.any():
        raise NotFound(f"no account in collections matches pool {pool!r} on {as_of}", code="empty_pool")
    cases = case_ages(history=history, loan=loans[mask], day=np.full(int(mask.sum()), as_of.toordinal()))
    result = value_pool(model=_as_valuation(model), frame=frame.take(np.flatnonzero(mask)), state=state[mask],
                        balance_fen=balance[mask], annual_rate=annual_rate, cases=cases, bid_share=bid)
    return {"as_of": as_of.isoformat(), "pool": pool, "annual_rate": annual_rate, "model_version": row.version,
            **result.to_dict()}


def _as_valuation(model: object) -> ValuationModel:
    assert isinstance(model, ValuationModel)
    return model


def _ever_delinquent(*, history: History, loan: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    snaps = history.snapshots
    lo, hi = snaps.span(loan, np.zeros_like(loan), np.full(loan.size, history.last_day + 1))
    return hi > lo


def _dpd_at(*, history: History, loan: npt.NDArray[np.int64], day: int) -> npt.NDArray[np.int64]:
    snaps = history.snapshots
    idx = snaps.exact(loan, np.full(loan.size, day))
    if not snaps.size:
        return np.zeros(loan.size, dtype=np.int64)
    return np.where(idx >= 0, np.asarray(snaps["dpd"], dtype=np.int64)[np.maximum(idx, 0)], 0)


def roll_rates(*, session: Session, dimension: str = "segment") -> dict[str, Any]:
    """The active roll-rate model's matrices for one segment dimension."""
    row, tables = registry.load(session=session, name="rollrate")
    if dimension not in tables:
        raise InvalidInput(f"no roll rates by {dimension!r}; choose one of {sorted(tables)}", code="invalid_dimension")
    table: RollRates = tables[dimension]
    return {"model_version": row.version, "trained_as_of": row.as_of.isoformat(), **table.to_dict()}


# --------------------------------------------------------------------------- governance report


def report(*, session: Session, as_of: date, path: Path | None = None) -> dict[str, Any]:
    """Stability and effectiveness per active model; raise age and effectiveness alarms; write the file."""
    models = []
    for name in ("propensity", "collector_fit", "valuation", "rollrate"):
        row = registry.active(session=session, name=name)
        if row is None:
            continue
        entry = monitoring.model_report(session=session, version=row, as_of=as_of)
        _record_report_alarms(session=session, version=row, as_of=as_of, entry=entry)
        models.append(entry)
    out = {"as_of": as_of.isoformat(), "models": models,
           "retrain": [m["name"] for m in models if m["retrain"]]}
    if path is not None:
        out["file"] = str(monitoring.write_report(report=out, path=path))
    return out


def _record_report_alarms(*, session: Session, version: ModelVersion, as_of: date, entry: dict[str, Any]) -> None:
    """One alarm per tripped monitor and as-of date (a re-run of the report adds none)."""
    from buyu.scoring.models import ModelAlarm

    alarms = monitoring.effectiveness_alarms(version=version, measured=entry.get("effectiveness") or {})
    if entry["age_days"] > monitoring.DEFAULT.max_age_days:
        alarms.append({"monitor": "age", "subject": "trained_as_of", "value": float(entry["age_days"]),
                       "threshold": float(monitoring.DEFAULT.max_age_days), "severity": "critical"})
    have = {(m, s) for m, s in session.execute(select(ModelAlarm.monitor, ModelAlarm.subject).where(
        ModelAlarm.model_version_id == version.id, ModelAlarm.as_of == as_of, ModelAlarm.run_id.is_(None)))}
    monitoring.raise_alarms(session=session, version=version, as_of=as_of,
                            alarms=[a for a in alarms if (a["monitor"], a["subject"]) not in have])


__all__ = [
    "collector_pair_scores",
    "lookup",
    "parse_pool",
    "report",
    "roll_rates",
    "score_accounts",
    "sigmoid",
    "train_models",
    "value_book",
]
