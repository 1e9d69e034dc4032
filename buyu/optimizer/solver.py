"""solve(problem) → Result: prices, a priced construction, MIP repair of the core, a certificate.

Stages and why:
1. dual (dual.py): prices for every resource and band row, and the upper bound (any plan is
   worth at most D(prices), evaluated over every option, top-k pruned ones included). Up to
   LP_MAX_OPTIONS the prices are the exact LP's duals (HiGHS); above, the smoothed dual,
   vectorised, so 100k accounts cost a few hundred numpy passes rather than an LP solve.
2. construction (primal.py): a small MIP for the lumpy resources (field collectors' days of a
   few long visits, and their region's slots), then exact knapsacks per collector at the
   prices, min-cost flow for the unit channels, greedy fill, band enforcement. Feasible by
   construction.
3. swaps (primal.py): local search in realised values: an account moves onto a full collector
   in place of one whose fallback (often the slot the mover left) costs less than the move gains.
4. repair (mip.py): while the gap is above `gap_limit` and time remains, the accounts whose
   plan disagrees most with their prices (plus the near-ties) are re-solved exactly by SCIP with
   everyone else fixed; a better plan replaces the current one. Small problems are solved whole,
   which makes the answer provably optimal.
5. certificate: capacities, one option per account and the band are checked in exact integers;
   the gap is (bound - objective) / |bound|.
"""

from __future__ import annotations

import time

import numpy as np

from buyu.optimizer.dual import Prices, lp_prices, solve_dual
from buyu.optimizer.explain import explain
from buyu.optimizer.index import BoolArray, FloatArray, IntArray, build_index, gather
from buyu.optimizer.mip import CoreModel
from buyu.optimizer.model import PRUNED, Model, build_model
from buyu.optimizer.primal import (
    Surplus,
    band_caps,
    construct,
    drop_overuse,
    enforce_band,
    surplus,
    swap_moves,
    usage,
)
from buyu.optimizer.problem import Problem
from buyu.optimizer.result import Result, Status

#: problems with at most this many active options are handed to SCIP whole
SMALL_PROBLEM = 3000
#: first repair core: this share of the accounts (at least CORE_MIN); later rounds double it
CORE_SHARE = 0.015
CORE_MIN = 500
#: share of the time limit the dual may use
DUAL_SHARE = 0.3
#: days with at most this many active options get their prices from the exact LP (HiGHS)
LP_MAX_OPTIONS = 60_000


class _Stopwatch:
    """Seconds spent per stage, for Result.stages."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.stages: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """Close the stage `name` at the current time."""
        self.stages[name] = time.perf_counter() - self.start - sum(self.stages.values())


def solve(problem: Problem, *, time_limit: float = 10.0, gap_limit: float = 0.001, top_k: int = 5) -> Result:
    """Assign every account one treatment for the day; never raises on a valid problem.

    time_limit: seconds for the whole call (the dual gets 30% of it). A target, not a hard cap:
    a feasible plan of usable quality needs the construction and two swap rounds, which finish
    even when a slow machine has used the time up; only the MIP repair is dropped. `seconds`
    reports what it took. gap_limit: stop repairing once (bound - objective) / bound is at most
    this; top_k: collectors kept per account (the bound still covers the others).
    """
    watch = _Stopwatch()
    budget = max(time_limit, 0.0)
    model = build_model(index=build_index(problem), bonus=problem.continuity_threshold,
                        band=problem.balance_band, top_k=max(top_k, 1))
    watch.lap("model")
    # the dual's share is counted from its own start: a slow model stage must not starve it
    prices = _prices(model=model, deadline=time.perf_counter() + DUAL_SHARE * budget)
    watch.lap("dual")
    # leave room for the certificate and the explanations after the last repair
    finish = watch.start + budget - 0.15 - 0.5e-6 * model.index.n_options
    choice = construct(model=model, rho=prices.rho, deadline=finish)
    watch.lap("construct")
    choice = swap_moves(model=model, choice=choice, deadline=finish)
    watch.lap("swaps")
    choice, bound = _repair(model=model, prices=prices, choice=choice, deadline=finish, gap_limit=gap_limit)
    choice = _certified(model=model, choice=choice)
    watch.lap("repair")
    return _result(model=model, choice=choice, bound=bound, rho=prices.rho, watch=watch)


def _prices(*, model: Model, deadline: float) -> Prices:
    """The LP's duals when the LP is small enough to solve in the time, else the smoothed dual's."""
    if 0 < model.n_active <= LP_MAX_OPTIONS:
        exact = lp_prices(model=model, seconds=deadline - time.perf_counter())
        if exact is not None:
            return exact
    return solve_dual(model=model, deadline=deadline)


def _result(*, model: Model, choice: IntArray, bound: float, rho: FloatArray, watch: _Stopwatch) -> Result:
    """The certificate in fen (the float bound rounded down, never below the plan) and the
    explained plan."""
    objective = _value(model, choice)
    bound_fen = max(objective, int(np.floor(bound + 1e-9 * abs(bound) + 1e-6)))
    assignments, unplaced, used = explain(model=model, choice=choice, rho=rho)
    watch.lap("explain")
    return Result(
        status=Status.OPTIMAL if bound_fen == objective else Status.FEASIBLE,
        objective=objective,
        value=int(model.index.opt_value[model.opt[choice[choice >= 0]]].sum()),
        bound=bound_fen,
        gap=(bound_fen - objective) / max(abs(bound_fen), 1),
        seconds=time.perf_counter() - watch.start,
        assignments=assignments,
        unplaced=unplaced,
        usage=used,
        stages=watch.stages,
    )


def _gap(*, model: Model, choice: IntArray, bound: float) -> float:
    objective = float(model.val[choice[choice >= 0]].sum())
    return (bound - objective) / max(abs(bound), 1.0)


def _repair(
    *, model: Model, prices: Prices, choice: IntArray, deadline: float, gap_limit: float
) -> tuple[IntArray, float]:
    """MIP rounds on growing cores until the gap or the time is reached; returns plan and bound."""
    bound = prices.bound
    if model.n_active == 0:
        return choice, bound
    whole = model.n_active <= SMALL_PROBLEM
    size = model.n_accounts if whole else max(CORE_MIN, int(CORE_SHARE * model.n_accounts))
    s: Surplus | None = None
    for _ in range(6):
        left = deadline - time.perf_counter()
        if left <= 0.05 or _gap(model=model, choice=choice, bound=bound) <= gap_limit:
            break
        s = s or surplus(model=model, rho=prices.rho)
        core = _core(model=model, s=s, choice=choice, size=size)
        # the core may use a quarter of the day's allowed gap
        slack = 0.25 * gap_limit * abs(bound)
        solution = CoreModel(model=model, choice=choice, core=core).solve(hint=choice, seconds=left, slack=slack)
        better = solution is not None and _value(model, solution.choice) >= _value(model, choice)
        if solution is not None and better and _feasible(model, solution.choice):
            choice = solution.choice
            if whole and not (model.state == PRUNED).any():
                bound = min(bound, solution.bound)
        if whole:
            break
        size *= 2
    return choice, bound


def _value(model: Model, choice: IntArray) -> int:
    return int(model.val[choice[choice >= 0]].sum())


def _core(*, model: Model, s: Surplus, choice: IntArray, size: int) -> BoolArray:
    """Accounts to re-solve: those at band-critical collectors, then the ones whose plan disagrees
    most with the prices (largest regret), then the nearest ties (smallest margin)."""
    current = gather(s.reduced, choice, 0.0)
    regret = s.best - current
    has = np.bincount(model.acc, minlength=model.n_accounts) > 0
    alt_of_best = gather(s.alt, s.best_opt, 0.0)
    margin = s.best - alt_of_best
    key = np.where(regret > 1e-6, -regret, margin)
    key[_band_critical(model=model, s=s, choice=choice)] = -np.inf
    key[~has] = np.inf
    order = np.argsort(key, kind="stable")[: min(size, int(has.sum()))]  # size >= all accounts: everyone
    core = np.zeros(model.n_accounts, dtype=np.bool_)
    core[order] = True
    return core


def _band_critical(*, model: Model, s: Surplus, choice: IntArray) -> BoolArray:
    """Accounts served by, or best served by, a collector within one option of its band cap.

    Whole options (a 90-minute visit) make the band expensive to round; only a MIP that sees the
    collector's accounts together can swap them well."""
    bal = model.balance
    out = np.zeros(model.n_accounts, dtype=np.bool_)
    if bal is None:
        return out
    use = usage(model=model, choice=choice)
    largest = np.zeros(model.n_resources, dtype=np.int64)
    np.maximum.at(largest, model.u_res, model.u_amt)
    critical = bal.balanced & (band_caps(model=model, use=use) - use < largest) & (use < model.capacity)
    on = critical[model.u_res]
    served = on & (choice[model.acc[model.u_opt]] == model.u_opt)
    wanted = on & (s.best_opt[model.acc[model.u_opt]] == model.u_opt)
    out[model.acc[model.u_opt[served | wanted]]] = True
    return out


def _feasible(model: Model, choice: IntArray) -> bool:
    """Capacities and band in exact integers; one option per account holds by representation."""
    if (choice >= 0).any() and (model.acc[choice[choice >= 0]] != np.flatnonzero(choice >= 0)).any():
        return False
    use = usage(model=model, choice=choice)
    if (use > model.capacity).any():
        return False
    return model.balance is None or bool(model.balance.exact_ok(use, model.capacity).all())


def _certified(*, model: Model, choice: IntArray) -> IntArray:
    """The plan if it passes the exact check, else the plan cut down until it does."""
    # construction and repair are feasible by design; this is the belt to their braces
    if _feasible(model, choice):
        return choice
    choice = drop_overuse(model=model, choice=choice)
    if model.balance is not None:
        choice = enforce_band(model=model, choice=choice, balance=model.balance)
    return choice if _feasible(model, choice) else np.full(model.n_accounts, -1, dtype=np.int64)
