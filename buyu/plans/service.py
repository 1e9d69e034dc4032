"""The nightly plan: scores → strategy → optimizer → plan rows, stored per night and strategy version.

`plan_night` runs inside the night's unit of work (`buyu eod`), after the ledger and collections
steps, so a crash leaves either the whole night (ledger, cases, plan) or none of it. A night with no
registered propensity model or no active strategy is recorded as `skipped` with the reason, so the
console shows why there is no plan rather than an empty one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import and_, func, insert, select
from sqlalchemy.orm import Session

from buyu.collections.models import ContactAttempt, ContactFlags, Promise
from buyu.collections.policy import get_profile
from buyu.db import id_chunks
from buyu.errors import NotFound
from buyu.ledger.models import Borrower, DelinquencySnapshot, Loan, Product
from buyu.optimizer import solve
from buyu.optimizer.result import Assignment, Result
from buyu.people.models import Collector as CollectorRow
from buyu.plans.build import PLANNED, SCORED, Limits, Night, StaffMember, build_problem, eligibility
from buyu.plans.models import PlanItem, PlanRun
from buyu.scoring import contact_hours, registry
from buyu.scoring.service import (
    ScoringRun,
    collector_pair_scores,
    hold_values,
    score_accounts,
    valuation_observed_days,
)
from strategies.engine import AccountFacts, arm_uniform, treatments_for
from strategies.schema import TREATMENTS as STRATEGY_TREATMENTS
from strategies.schema import Strategy
from strategies.service import active_strategy

DEFAULT_PORTFOLIO = "default"
#: An incumbent is the collector who worked the account by phone or visit within this many days.
INCUMBENT_DAYS = 30
#: Arm name of the test-and-learn accounts, and the seed of their draws.
EXPLORE_ARM = "explore"
EXPLORE_SEED = 7919
#: Calls whose value depends on reaching the borrower at the hour (a visit's much less: people are found at home).
HOUR_VALUED: tuple[str, ...] = ("robot_call", "agent_call")
#: What the explore arm draws from.
EXPLORED: frozenset[str] = frozenset({"robot_call", "sms", "agent_call", "no_action"})
#: Treatments that happen at an hour the borrower must be free in: the plan ranks the hours for them.
TIMED: frozenset[str] = frozenset({"robot_call", "agent_call", "field_visit"})
#: Above this many (account, agent) pairs the per-pair fit matrix is not built (memory), base values only.
FIT_PAIR_LIMIT = 20_000_000
CANDIDATE_FACTOR = 3


@dataclass(frozen=True)
class PlanOutcome:
    """A stored plan run and, when one was solved, the optimizer's result."""

    run: PlanRun
    result: Result | None


def plan_step(*, session: Session, as_of: date) -> dict[str, object]:
    """The nightly pipeline's plan step (see buyu.pipeline.eod.STEPS)."""
    outcome = plan_night(session=session, as_of=as_of)
    return {"plan": run_summary(outcome.run)}


def plan_night(*, session: Session, as_of: date, portfolio: str = DEFAULT_PORTFOLIO) -> PlanOutcome:
    """Make and store the plan made at night `as_of` for the next day (once per night and portfolio)."""
    existing = session.scalar(select(PlanRun).where(PlanRun.as_of == as_of, PlanRun.portfolio == portfolio))
    if existing is not None:
        return PlanOutcome(run=existing, result=None)
    work_date = as_of + timedelta(days=1)
    try:
        model_row, model = registry.load(session=session, name="propensity")
        version, strategy = active_strategy(session=session, portfolio=portfolio, as_of=work_date)
    except NotFound as exc:
        skipped = _skipped(session=session, as_of=as_of, portfolio=portfolio, reason=exc.code)
        return PlanOutcome(run=skipped, result=None)
    scoring = score_accounts(session=session, as_of=work_date)
    timing = _timing(session=session, loans=scoring.points.loan.astype(np.int64), strategy=strategy, as_of=as_of,
                     mix=getattr(model, "call_hour_mix", None))
    night, arms, segments, sale_stats = _night(session=session, scoring=scoring, strategy=strategy,
                                               work_date=work_date, hour_factor=timing.factor)
    night, arms = explore(night=night, arms=arms, share=float(strategy.optimizer.explore_share), work_date=work_date)
    staff = _staff(session=session, strategy=strategy)
    limits = _limits(strategy=strategy, staff=staff)
    if night.agent_fit is None:
        night = _with_fit(session=session, night=night, scoring=scoring, staff=staff)
    built = build_problem(night=night, limits=limits, staff=staff)
    settings = strategy.optimizer
    result = solve(built.problem, time_limit=float(settings.time_limit_s), top_k=int(settings.top_k))
    run = PlanRun(as_of=as_of, work_date=work_date, portfolio=portfolio, status="done",
                  strategy_version_id=version.id, strategy_sha256=version.sha256,
                  model_version_id=model_row.id,
                  score_run_id=scoring.run_id, solver_status=str(result.status), objective_fen=result.objective,
                  value_fen=result.value, bound_fen=result.bound, gap=float(result.gap), seconds=float(result.seconds),
                  accounts=night.loan_id.size, assigned=_assigned(result), unplaced=len(result.unplaced),
                  utilisation=_utilisation(result=result, problem_capacity=_capacities(built.problem)),
                  stats={"arms": _counts(arms), "segments": _counts(segments), "stages": dict(result.stages),
                         "treatments": _treatment_counts(result), "sale": sale_stats})
    hours, hour_model = _call_hours(result=result, timing=timing)
    run.stats = {**run.stats, "contact_hours": hour_model}
    session.add(run)
    session.flush()
    _store_items(session=session, run=run, result=result, arms=arms, segments=segments, hours=hours)
    return PlanOutcome(run=run, result=result)


def _skipped(*, session: Session, as_of: date, portfolio: str, reason: str) -> PlanRun:
    run = PlanRun(as_of=as_of, work_date=as_of + timedelta(days=1), portfolio=portfolio, status="skipped",
                  reason=reason, objective_fen=0, value_fen=0, bound_fen=0, gap=0.0, seconds=0.0, accounts=0,
                  assigned=0, unplaced=0, utilisation={}, stats={})
    session.add(run)
    session.flush()
    return run


# --------------------------------------------------------------------------- inputs


def _night(*, session: Session, scoring: ScoringRun, strategy: Strategy, work_date: date,
           hour_factor: np.ndarray | None = None) -> tuple[Night, np.ndarray, np.ndarray, dict[str, Any]]:
    """Per scored account: facts, the strategy's treatments, today's rules, values (calls valued at their hour,
    a sale at the buyer's price less what holding the account is worth)."""
    loans = scoring.points.loan.astype(np.int64)
    facts = _facts(session=session, loans=loans, as_of=work_date - timedelta(days=1))
    scores = scoring.scores
    p_none = scores.p30[:, SCORED.index("no_action")]
    account_facts = AccountFacts(loan_id=loans, bucket=facts["bucket"], balance_fen=facts["balance"], score=p_none,
                                 product=facts["product"], region=facts["region"], language=facts["language"])
    chosen = treatments_for(strategy, account_facts)
    columns = [STRATEGY_TREATMENTS.index(t) for t in PLANNED]
    sale_value, sale_stats = _sale_values(session=session, scoring=scoring, strategy=strategy,
                                          bucket=facts["bucket"], balance=facts["balance"],
                                          wanted=chosen.allowed[:, STRATEGY_TREATMENTS.index("sale")])
    priced = np.zeros(loans.size, dtype=bool) if sale_value is None else sale_value > np.iinfo(np.int64).min
    supported = np.column_stack([scores.supported, priced])
    allowed = chosen.allowed[:, columns] & supported
    required = chosen.required[:, columns] & allowed
    value = np.zeros((loans.size, len(PLANNED)), dtype=np.int64)
    if strategy.optimizer.horizon_days <= 7:
        value[:, :len(SCORED)] = scores.uplift7_fen.astype(np.int64)
    else:
        value[:, :len(SCORED)] = scores.amount_fen - scores.amount_fen[:, [SCORED.index("no_action")]]
    if sale_value is not None:
        value[:, PLANNED.index("sale")] = np.where(priced, sale_value, 0)
    if hour_factor is not None:
        for t in HOUR_VALUED:
            j = PLANNED.index(t)
            value[:, j] = np.rint(value[:, j] * hour_factor).astype(np.int64)
    night = Night(loan_id=loans, region=facts["region"], language=facts["language"],
                  incumbent=_incumbents(session=session, loans=loans, work_date=work_date),
                  cease=_ceased(session=session, loans=loans, work_date=work_date),
                  promise_pending=_promised(session=session, loans=loans, work_date=work_date),
                  value_fen=value, allowed=allowed, required=required, agent_fit=None)
    return night, np.asarray(chosen.arm), np.asarray(chosen.segment), sale_stats


def _sale_values(*, session: Session, scoring: ScoringRun, strategy: Strategy, bucket: np.ndarray,
                 balance: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray | None, dict[str, Any]]:
    """A sale's value before its cost: the buyer's price (strategy `sale.price_share` of the balance, by bucket)
    less the present value of holding the account (the valuation model's 12-month curve). None — sale not
    planned tonight — without sale terms, sale capacity, an account whose segment allows it, or a valuation
    model that has seen the strategy's `min_valuation_days` of outcomes; the reason is kept in the run's
    stats. Accounts in a bucket the buyer does not price get the int64 minimum (not for sale)."""
    terms = strategy.sale
    if terms is None:
        return None, {"planned": False, "reason": "no_sale_terms"} if wanted.any() else {"planned": False}
    if strategy.capacities.sale_per_day <= 0 or not wanted.any():
        return None, {"planned": False, "reason": "no_sale_capacity" if wanted.any() else "not_allowed"}
    seen = valuation_observed_days(session=session)
    if seen is not None and seen < terms.min_valuation_days:
        return None, {"planned": False, "reason": "valuation_too_young", "observed_days": seen,
                      "min_valuation_days": terms.min_valuation_days}
    hold = hold_values(session=session, run=scoring, annual_rate=float(terms.annual_rate))
    if hold is None:
        return None, {"planned": False, "reason": "no_valuation_model"}
    price = np.zeros(bucket.size, dtype=np.int64)
    bought = np.zeros(bucket.size, dtype=bool)
    for name, share in terms.price_share.items():  # exact: balance × num / den, rounded half to even
        here = (bucket == name) & (share > 0)
        num, den = share.as_integer_ratio()
        q, r = np.divmod(balance[here].astype(np.int64) * num, den)
        price[here] = q + ((2 * r > den) | ((2 * r == den) & (q % 2 == 1)))
        bought |= here
    value = np.where(bought, price - np.rint(hold).astype(np.int64), np.iinfo(np.int64).min)
    offered = wanted & bought
    stats = {"planned": True, "offered": int(offered.sum()),
             "price_beats_hold": int((offered & (value > strategy.costs.per_treatment_fen.get("sale", 0))).sum()),
             "hold_fen": int(np.rint(hold[offered]).sum()), "price_fen": int(price[offered].sum())}
    return value, stats


def explore(*, night: Night, arms: np.ndarray, share: float, work_date: date) -> tuple[Night, np.ndarray]:
    """Test-and-learn: a `share` of tonight's accounts (drawn afresh each night) get one contact treatment
    (robot call, SMS, agent call) or no action, drawn uniformly from those they may receive tonight; their arm
    is `explore`. Visits and placements are not drawn: they are scarce, costly and last for weeks.

    A plan that always picks the best-looking treatment leaves the models nothing to learn uplift from (the
    treatment then follows the scores); these accounts are the randomised data the next training fits the
    treatment effects on (buyu.scoring.service). The drawn treatment is required, so it is placed when it fits.
    """
    if share <= 0 or night.loan_id.size == 0:
        return night, arms
    day = work_date.toordinal()
    chosen = arm_uniform(EXPLORE_SEED * 100_000 + day, night.loan_id) < share
    if not chosen.any():
        return night, arms
    ok = eligibility(night)
    none = PLANNED.index("no_action")
    ok[:, none] = True
    ok[:, [j for j, t in enumerate(PLANNED) if t not in EXPLORED]] = False
    pick = arm_uniform(EXPLORE_SEED * 100_000 + day + 50_000, night.loan_id)
    allowed, required = night.allowed.copy(), night.required.copy()
    for i in np.flatnonzero(chosen):
        options = np.flatnonzero(ok[i])
        t = int(options[min(int(pick[i] * options.size), options.size - 1)])
        allowed[i] = False
        required[i] = False
        if t != none:
            allowed[i, t] = required[i, t] = True
    out = np.asarray(arms, dtype=object).copy()
    out[chosen] = EXPLORE_ARM
    return replace(night, allowed=allowed, required=required), out


def _facts(*, session: Session, loans: np.ndarray, as_of: date) -> dict[str, np.ndarray]:
    """Bucket and balance from the night's snapshot; product, region and language from the contract."""
    n = loans.size
    out: dict[str, np.ndarray] = {"bucket": np.full(n, "M1", dtype=object), "balance": np.zeros(n, dtype=np.int64),
                                  "product": np.full(n, "", dtype=object), "region": np.full(n, "", dtype=object),
                                  "language": np.full(n, "", dtype=object)}
    if not n:
        return {k: v.astype(str) if v.dtype == object else v for k, v in out.items()}
    where = {int(loan): i for i, loan in enumerate(loans)}
    stmt = (select(Loan.id, DelinquencySnapshot.bucket, DelinquencySnapshot.outstanding_fen, Product.code,
                   Borrower.region, Borrower.language)
            .join(Product, Product.id == Loan.product_id).join(Borrower, Borrower.id == Loan.borrower_id)
            .outerjoin(DelinquencySnapshot, and_(DelinquencySnapshot.loan_id == Loan.id,
                                                 DelinquencySnapshot.as_of == as_of)))
    rows = (r for part in id_chunks(loans) for r in session.execute(stmt.where(Loan.id.in_(part))))
    for loan_id, bucket, outstanding, product, region, language in rows:
        i = where[int(loan_id)]
        out["bucket"][i] = bucket or "M1"
        out["balance"][i] = int(outstanding or 0)
        out["product"][i], out["region"][i], out["language"][i] = product, region or "", language or ""
    return {k: v.astype(str) if v.dtype == object else v for k, v in out.items()}


def _incumbents(*, session: Session, loans: np.ndarray, work_date: date) -> np.ndarray:
    """The collector who last called or visited each account in the last INCUMBENT_DAYS days."""
    out = np.zeros(loans.size, dtype=np.int64)
    if not loans.size:
        return out
    where = {int(loan): i for i, loan in enumerate(loans)}
    last = (select(ContactAttempt.loan_id, func.max(ContactAttempt.id).label("last"))
            .where(ContactAttempt.collector_id.is_not(None), ContactAttempt.blocked_rule.is_(None),
                   ContactAttempt.as_of >= work_date - timedelta(days=INCUMBENT_DAYS), ContactAttempt.as_of < work_date)
            .group_by(ContactAttempt.loan_id).subquery())
    for loan_id, collector in session.execute(select(ContactAttempt.loan_id, ContactAttempt.collector_id)
                                              .join(last, ContactAttempt.id == last.c.last)):
        i = where.get(int(loan_id))
        if i is not None and collector is not None:
            out[i] = int(collector)
    return out


def _ceased(*, session: Session, loans: np.ndarray, work_date: date) -> np.ndarray:
    """Accounts whose borrower asked us to stop contacting them (all channels) by the work date."""
    rows = session.execute(select(Loan.id, ContactFlags.cease_channels)
                           .join(ContactFlags, ContactFlags.borrower_id == Loan.borrower_id)
                           .where(ContactFlags.cease_from <= work_date)).all()
    stopped = [int(loan) for loan, channels in rows if not channels]  # listed channels only: the rules judge those
    return np.isin(loans, np.asarray(stopped, dtype=np.int64))


def _promised(*, session: Session, loans: np.ndarray, work_date: date) -> np.ndarray:
    """Accounts with an open promise whose date has not passed: we wait for it rather than call again."""
    pending = session.scalars(select(Promise.loan_id).where(Promise.status == "open", Promise.due_date >= work_date))
    return np.isin(loans, np.asarray([int(x) for x in pending], dtype=np.int64))


def _staff(*, session: Session, strategy: Strategy) -> list[StaffMember]:
    """Active collectors with today's minutes (a field collector's visits turned into minutes)."""
    per_visit = strategy.capacities.field_minutes_per_visit
    rows = session.scalars(select(CollectorRow).where(CollectorRow.active.is_(True),
                                                      CollectorRow.kind.in_(("agent", "field")))
                           .order_by(CollectorRow.id))
    out = []
    for c in rows:
        minutes = int(c.minutes_per_day)
        if c.kind == "field" and c.visits_per_day:  # a field day is counted in visits; minutes follow from them
            minutes = int(c.visits_per_day) * per_visit
        out.append(StaffMember(id=c.id, kind=c.kind, minutes=minutes, region=c.region,
                               languages=tuple(c.languages or ())))
    return out


def _limits(*, strategy: Strategy, staff: list[StaffMember]) -> Limits:
    cap, opt = strategy.capacities, strategy.optimizer
    field_by_region = dict(cap.field_visits_by_region)
    for s in staff:  # regions the strategy does not cap are capped by their staff's visits
        if s.kind == "field" and s.region and s.region not in field_by_region:
            field_by_region[s.region] = field_by_region.get(s.region, 0)
    staffed = {r: sum(s.minutes // max(cap.field_minutes_per_visit, 1) for s in staff
                      if s.kind == "field" and s.region == r) for r in field_by_region}
    field_by_region = {r: (v if r in cap.field_visits_by_region else staffed[r]) for r, v in field_by_region.items()}
    return Limits(pooled={"robot_lines": cap.robot_calls_per_day, "sms": cap.sms_per_day,
                          "agency": cap.agency_slots, "legal": cap.legal_per_day, "sale": cap.sale_per_day},
                  field_by_region=field_by_region, cost_fen=dict(strategy.costs.per_treatment_fen),
                  agent_minutes_per_call=cap.agent_minutes_per_call,
                  field_minutes_per_visit=cap.field_minutes_per_visit, workload_band=float(opt.workload_band),
                  continuity_threshold_fen=int(opt.continuity_threshold_fen),
                  candidates=max(1, int(opt.top_k)) * CANDIDATE_FACTOR)


def _with_fit(*, session: Session, night: Night, scoring: ScoringRun, staff: list[StaffMember]) -> Night:
    """Add each agent's expected extra collection over the account's average agent (when a fit model exists)."""
    agents = np.asarray([s.id for s in staff if s.kind == "agent" and s.minutes > 0], dtype=np.int64)
    n = night.loan_id.size
    if not agents.size or not n or n * agents.size > FIT_PAIR_LIMIT:
        return night
    try:
        p = collector_pair_scores(session=session, run=scoring, collector_ids=agents)
    except NotFound:
        return night
    a = SCORED.index("agent_call")
    scores = scoring.scores
    paid_amount = scores.amount_fen[:, a] / np.maximum(scores.p30[:, a], 1e-6)
    shift = (p - p.mean(axis=1, keepdims=True)) * paid_amount[:, None]
    return replace(night, agent_fit=shift)


# --------------------------------------------------------------------------- results


def _capacities(problem: Any) -> dict[str, int]:
    caps = {r.name: r.capacity for r in problem.resources}
    caps |= {c.resource: c.minutes for c in problem.collectors}
    return caps


def _utilisation(*, result: Result, problem_capacity: Mapping[str, int]) -> dict[str, Any]:
    """Used / available per pooled resource, and over all agents and all field collectors."""
    out: dict[str, Any] = {}
    groups: dict[str, list[int]] = {"agents_minutes": [0, 0], "field_slots": [0, 0]}
    for name, cap in problem_capacity.items():
        used = int(result.usage.get(name, 0))
        if name.startswith("collector:"):
            continue
        if name.startswith("field:"):
            groups["field_slots"][0] += used
            groups["field_slots"][1] += cap
            continue
        out[name] = {"used": used, "capacity": cap, "share": round(used / cap, 4) if cap else None}
    for name, cap in problem_capacity.items():
        if name.startswith("collector:"):
            groups["agents_minutes"][0] += int(result.usage.get(name, 0))
            groups["agents_minutes"][1] += cap
    for name, (used, cap) in groups.items():
        out[name] = {"used": used, "capacity": cap, "share": round(used / cap, 4) if cap else None}
    return out


def _assigned(result: Result) -> int:
    return sum(1 for a in result.assignments if a.treatment.value != "no_action")


def _treatment_counts(result: Result) -> dict[str, int]:
    counts: dict[str, int] = {}
    for a in result.assignments:
        counts[a.treatment.value] = counts.get(a.treatment.value, 0) + 1
    return counts


def _counts(values: np.ndarray) -> dict[str, int]:
    if not values.size:
        return {}
    names, counts = np.unique(values.astype(str), return_counts=True)
    return {str(k): int(v) for k, v in zip(names.tolist(), counts.tolist(), strict=True)}


def _explanation(a: Assignment) -> dict[str, Any]:
    alt = a.alternative
    return {"alternative": None if alt is None else {"treatment": alt.treatment.value, "collector": alt.collector,
                                                     "value_fen": alt.value},
            "reason": a.reason.value if a.reason is not None else None, "resource": a.resource, "detail": a.detail}


@dataclass(frozen=True)
class _Timing:
    """Tonight's best-time-to-call curves for the scored accounts (rows in scoring order)."""

    loans: np.ndarray
    ranked: np.ndarray  # (accounts, day hours) best first
    factor: np.ndarray | None  # value multiplier of a call at the best hour vs the hours the model learnt from
    model: dict[str, Any]


def _timing(*, session: Session, loans: np.ndarray, strategy: Strategy, as_of: date,
            mix: np.ndarray | None) -> _Timing:
    """Rank each borrower's day hours (buyu.scoring.contact_hours) and value a call at its best hour.

    The propensity heads learnt what a call is worth at the hours their calls were made (`mix`); a call
    placed at the borrower's best hour reaches them rate(best) / Σ mix·rate times as often, and the value of
    robot and agent calls is scaled by that (bounded to [1/2, 2]: the curves are estimates).
    """
    profile = get_profile(strategy.contact_profile)
    last = profile.day_end.hour - 1 if profile.day_end.minute == 0 else profile.day_end.hour
    day = list(range(profile.day_start.hour, last + 1))
    borrower = {int(loan): int(b) for part in id_chunks(loans)
                for loan, b in session.execute(select(Loan.id, Loan.borrower_id).where(Loan.id.in_(part)))}
    curves = contact_hours.load_curves(session=session, borrower_ids=[int(borrower[int(x)]) for x in loans],
                                       as_of=as_of)
    ranked = curves.ranked(hours=day)
    factor = None
    if mix is not None and loans.size:
        best = curves.rate[np.arange(loans.size), ranked[:, 0]]
        learnt = curves.rate @ np.asarray(mix, dtype=np.float64)
        factor = np.clip(best / np.maximum(learnt, 1e-9), 0.5, 2.0)
    model = {"strength": curves.strength, "width": curves.width, "attempts": curves.attempts,
             "validation_auc": curves.validation_auc,
             "mean_value_factor": None if factor is None else round(float(factor.mean()), 4)}
    return _Timing(loans=loans, ranked=ranked, factor=factor, model=model)


def _call_hours(*, result: Result, timing: _Timing) -> tuple[dict[int, list[int]], dict[str, Any]]:
    """Per planned call or visit (by position in the result), the borrower's day hours, best first."""
    row = {int(loan): i for i, loan in enumerate(timing.loans)}
    out = {k: [int(h) for h in timing.ranked[row[int(a.account)]]] for k, a in enumerate(result.assignments)
           if a.treatment.value in TIMED and int(a.account) in row}
    return out, timing.model


def _store_items(*, session: Session, run: PlanRun, result: Result, arms: np.ndarray, segments: np.ndarray,
                 hours: Mapping[int, list[int]]) -> None:
    """One row per scored account; priority ranks the accounts of a treatment by value (1 = first)."""
    assignments = list(result.assignments)
    order = sorted(range(len(assignments)), key=lambda k: (assignments[k].treatment.value,
                                                           -assignments[k].chosen.value, int(assignments[k].account)))
    rank: dict[int, int] = {}
    seen: dict[str, int] = {}
    for k in order:
        t = assignments[k].treatment.value
        seen[t] = seen.get(t, 0) + 1
        rank[k] = seen[t]
    rows = [{"run_id": run.id, "work_date": run.work_date, "loan_id": int(a.account), "arm": str(arms[k]),
             "segment": str(segments[k]), "treatment": a.treatment.value,
             "collector_id": int(a.collector) if a.collector is not None else None, "priority": rank[k],
             "value_fen": int(a.chosen.value), "explanation": _explanation(a), "call_hours": hours.get(k)}
            for k, a in enumerate(assignments)]
    for start in range(0, len(rows), 5000):
        session.execute(insert(PlanItem), rows[start:start + 5000])


def run_summary(run: PlanRun) -> dict[str, Any]:
    """The run as `buyu assign --json` prints it."""
    return {"as_of": run.as_of.isoformat(), "work_date": run.work_date.isoformat(), "portfolio": run.portfolio,
            "status": run.solver_status if run.status == "done" else "skipped", "reason": run.reason,
            "objective": run.objective_fen, "bound": run.bound_fen, "gap": run.gap, "seconds": round(run.seconds, 3),
            "accounts": run.accounts, "assigned": run.assigned, "unplaced": run.unplaced,
            "utilisation": run.utilisation, "strategy_version_id": run.strategy_version_id,
            "model_version_id": run.model_version_id, "treatments": (run.stats or {}).get("treatments", {})}


def get_run(*, session: Session, as_of: date, portfolio: str = DEFAULT_PORTFOLIO) -> PlanRun:
    """The plan made at night `as_of`."""
    run = session.scalar(select(PlanRun).where(PlanRun.as_of == as_of, PlanRun.portfolio == portfolio))
    if run is None:
        raise NotFound(f"no plan was made at night {as_of} for portfolio {portfolio!r}; run `buyu eod --as-of {as_of}`",
                       code="plan_not_found", details={"as_of": as_of.isoformat(), "portfolio": portfolio})
    return run


def plan_items(*, session: Session, run_id: int, treatment: str | None = None,
               limit: int = 1000, offset: int = 0) -> list[PlanItem]:
    """A run's items, by treatment and priority."""
    q = select(PlanItem).where(PlanItem.run_id == run_id)
    if treatment is not None:
        q = q.where(PlanItem.treatment == treatment)
    return list(session.scalars(q.order_by(PlanItem.treatment, PlanItem.priority).limit(limit).offset(offset)))
