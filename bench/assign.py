"""Benchmark the daily assignment optimizer against HiGHS and a greedy baseline.

    python bench/assign.py --accounts 100000 --collectors 1000 [--seed S] [--k K] [--json]

One reproducible random day (seeded): accounts with 3–8 allowed options whose values come from a
skewed (log-normal) balance times a treatment uplift minus its cost; collectors with 300–480
minutes (85% phone agents, 15% field collectors in ~30 regions); agent calls of 6–12 minutes,
field visits of 60–120 minutes plus one regional slot; robot lines, SMS budget, agency, legal and
sale slots; 30% of accounts held by an incumbent; workload band 25% over the phone agents (with
--field-teams also over the field collectors of each region).

The same instance is solved three ways:
- buyu.optimizer.solve (the subject);
- HiGHS through scipy on the same full (unpruned) model: the MIP with scipy.optimize.milp under a
  time limit (`highs_status` says when the limit stopped it: its objective is then its best
  integer plan and `highs_bound` its MIP bound), or only the LP relaxation with linprog
  (`highs_mode` = "lp"; its objective is then an upper bound, not a plan). "auto" runs the MIP
  up to 2k accounts and the LP above (with the workload band rows HiGHS's MIP needs minutes at
  10k accounts and does not stop at its time limit while in the root LP);
- a greedy baseline: options by value density (value per share of the capacities they use),
  taken while they fit, then the workload band enforced by trimming.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from buyu.optimizer import (
    Account,
    Collector,
    Option,
    Problem,
    Resource,
    Treatment,
    build_index,
    collector_resource,
    field_resource,
    solve,
)
from buyu.optimizer.index import Index
from buyu.optimizer.model import Model, build_model
from buyu.optimizer.problem import POOLED_RESOURCE

REGIONS = 30
POOLED_TREATMENTS = tuple(POOLED_RESOURCE)
#: (treatment, uplift range as share of balance, flat cost in fen)
UPLIFT = {
    Treatment.ROBOT_CALL: (0.002, 0.02, 30),
    Treatment.SMS: (0.001, 0.01, 5),
    Treatment.AGENT_CALL: (0.01, 0.06, 0),
    Treatment.FIELD_VISIT: (0.03, 0.12, 3000),
    Treatment.AGENCY: (0.02, 0.10, 0),
    Treatment.LEGAL: (0.02, 0.15, 50000),
    Treatment.SALE: (0.0, 0.08, 0),
}
MINUTE_COST = 60  # fen per collector minute
AGENCY_COMMISSION = 0.3


# ----------------------------------------------------------------------------- instance


def make_collectors(*, rng: np.random.Generator, n: int, field_teams: bool) -> tuple[Collector, ...]:
    """85% phone agents (one team), 15% field collectors spread over the regions (one team per
    region when `field_teams`, else outside balancing: their day is shaped by the region's slots)."""
    n_field = max(1, n * 15 // 100)
    minutes = rng.integers(300, 481, n)
    regions = rng.integers(0, REGIONS, n)
    return tuple(
        Collector(id=f"f{i}", minutes=int(minutes[i]), region=f"r{regions[i]}",
                  team=f"field-r{regions[i]}" if field_teams else None)
        if i < n_field
        else Collector(id=f"p{i}", minutes=int(minutes[i]), team="phone")
        for i in range(n)
    )


def make_resources(*, collectors: tuple[Collector, ...], n_accounts: int) -> tuple[Resource, ...]:
    """Pooled channels sized to bind, and regional field slots below what field minutes allow."""
    shares = {"robot_lines": 0.20, "sms": 0.25, "agency": 0.02, "legal": 0.004, "sale": 0.003}
    pooled = [Resource(name, int(share * n_accounts)) for name, share in shares.items()]
    minutes: dict[str, int] = {}
    for c in collectors:
        if c.region is not None:
            minutes[c.region] = minutes.get(c.region, 0) + c.minutes
    regional = [Resource(field_resource(f"r{g}"), int(0.8 * minutes.get(f"r{g}", 0) / 90)) for g in range(REGIONS)]
    return tuple(pooled + regional)


def account_options(
    *, rng: np.random.Generator, balance: float, phone: list[Collector], field: list[Collector]
) -> list[Option]:
    """3–8 options: agent calls with 1–3 agents, maybe field visits, then pooled channels."""
    picks: list[tuple[Treatment, Collector | None]] = []
    for i in rng.choice(len(phone), int(rng.integers(1, 4)), replace=False):
        picks.append((Treatment.AGENT_CALL, phone[int(i)]))
    if field and rng.random() < 0.5:
        for i in rng.choice(len(field), min(len(field), int(rng.integers(1, 3))), replace=False):
            picks.append((Treatment.FIELD_VISIT, field[int(i)]))
    for t in rng.permutation(len(POOLED_TREATMENTS)):
        picks.append((POOLED_TREATMENTS[int(t)], None))
    order = rng.permutation(len(picks))[: int(rng.integers(3, 9))]
    return [make_option_value(rng=rng, balance=balance, treatment=picks[i][0], collector=picks[i][1]) for i in order]


def make_option_value(
    *, rng: np.random.Generator, balance: float, treatment: Treatment, collector: Collector | None
) -> Option:
    """Value = uplift × balance − cost, rounded to the fen."""
    low, high, cost = UPLIFT[treatment]
    uplift = float(rng.uniform(low, high)) * balance
    uses: tuple[tuple[str, int], ...]
    if collector is None:
        uses = ((POOLED_RESOURCE[treatment], 1),)
        cost += int(AGENCY_COMMISSION * uplift) if treatment is Treatment.AGENCY else 0
        return Option(treatment=treatment, value=round(uplift) - cost, uses=uses)
    if treatment is Treatment.AGENT_CALL:
        minutes = int(rng.integers(6, 13))
        uses = ((collector_resource(collector.id), minutes),)
    else:
        minutes = int(rng.integers(60, 121))
        uses = ((collector_resource(collector.id), minutes), (field_resource(str(collector.region)), 1))
    value = round(uplift) - cost - MINUTE_COST * minutes
    return Option(treatment=treatment, value=value, collector=collector.id, uses=uses)


def make_problem(
    *, accounts: int, collectors: int, seed: int, band: float | None = 0.25, field_teams: bool = False
) -> Problem:
    """The reproducible random day of the module docstring."""
    rng = np.random.default_rng(seed)
    staff = make_collectors(rng=rng, n=collectors, field_teams=field_teams)
    phone = [c for c in staff if c.region is None]
    by_region: dict[str, list[Collector]] = {}
    for c in staff:
        if c.region is not None:
            by_region.setdefault(c.region, []).append(c)
    balances = np.exp(rng.normal(np.log(300_000), 1.0, accounts))
    regions = rng.integers(0, REGIONS, accounts)
    result = []
    for a in range(accounts):
        options = account_options(
            rng=rng, balance=float(balances[a]), phone=phone, field=by_region.get(f"r{regions[a]}", [])
        )
        agents = [o.collector for o in options if o.treatment is Treatment.AGENT_CALL]
        incumbent = agents[0] if agents and rng.random() < 0.3 else None
        result.append(Account(id=f"a{a}", options=tuple(options), incumbent=incumbent))
    return Problem(
        accounts=tuple(result),
        collectors=staff,
        resources=make_resources(collectors=staff, n_accounts=accounts),
        balance_band=band,
        continuity_threshold=2000,
    )


# ----------------------------------------------------------------------------- reference


@dataclass(frozen=True)
class Reference:
    """HiGHS's answer on the full (unpruned) problem."""

    seconds: float
    objective: float
    bound: float
    status: str


def highs_matrices(model: Model) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray, np.ndarray, int]:
    """c, A, row lower, row upper and the number of option columns of the full MIP (max c.x)."""
    n = model.n_active
    rows = [sp.csr_matrix((np.ones(n), (model.acc, np.arange(n))), shape=(model.n_accounts, n))]
    rows.append(sp.csr_matrix((model.u_amt.astype(float), (model.u_res, model.u_opt)), shape=(model.n_resources, n)))
    lower = [np.full(model.n_accounts, -np.inf), np.full(model.n_resources, -np.inf)]
    upper = [np.ones(model.n_accounts), model.capacity.astype(float)]
    c = model.val.astype(float)
    bal = model.balance
    if bal is not None:
        # one team-load column per team: load_c - beta_c L_t <= 0 and L_t - sum_c load_c = 0
        n_team = len(bal.team_minutes)
        res = rows[1]
        b = np.flatnonzero(bal.balanced)
        team_cols = sp.csr_matrix((-bal.beta[b], (np.arange(len(b)), bal.team[b])), shape=(len(b), n_team))
        loads = res[b]
        rows = [sp.hstack([r, sp.csr_matrix((r.shape[0], n_team))]) for r in rows]
        rows.append(sp.hstack([loads, team_cols]))
        summed = sp.csr_matrix((np.ones(len(b)), (bal.team[b], np.arange(len(b)))), shape=(n_team, len(b))) @ loads
        rows.append(sp.hstack([-summed, sp.identity(n_team)]))
        lower += [np.full(len(b), -np.inf), np.zeros(n_team)]
        upper += [np.zeros(len(b)), np.zeros(n_team)]
        c = np.r_[c, np.zeros(n_team)]
    return c, sp.vstack(rows).tocsr(), np.concatenate(lower), np.concatenate(upper), n


def solve_highs(*, problem: Problem, index: Index, mode: str, time_limit: float) -> Reference:
    """The full problem with HiGHS: the MIP (time-limited) or its LP relaxation."""
    model = build_model(index=index, bonus=problem.continuity_threshold, band=problem.balance_band, top_k=10**9)
    start = time.perf_counter()
    c, a, lo, hi, n = highs_matrices(model)
    upper = np.r_[np.ones(n), np.full(len(c) - n, np.inf)]
    if mode == "lp":
        rows = sp.vstack([a, -a])
        rhs = np.r_[np.where(np.isinf(hi), 1e30, hi), np.where(np.isinf(lo), 1e30, -lo)]
        res = linprog(-c, A_ub=rows, b_ub=rhs, bounds=np.c_[np.zeros(len(c)), upper], method="highs")
        value = -float(res.fun)
        return Reference(time.perf_counter() - start, value, value, "lp_optimal" if res.status == 0 else res.message)
    integrality = np.r_[np.ones(n), np.zeros(len(c) - n)]
    res = milp(-c, constraints=LinearConstraint(a, lo, hi), integrality=integrality, bounds=Bounds(0, upper),
               options={"time_limit": time_limit, "mip_rel_gap": 1e-4})
    seconds = time.perf_counter() - start
    objective = -float(res.fun) if res.x is not None else float("nan")
    bound = -float(getattr(res, "mip_dual_bound", np.nan))
    return Reference(seconds, objective, bound, "optimal" if res.status == 0 else f"stopped: {res.message}")


# ----------------------------------------------------------------------------- baseline


def solve_greedy(*, problem: Problem, index: Index) -> tuple[float, int, str]:
    """The better of two greedy rules, each taking options in order while they fit, then cutting
    collectors above the workload band down to it:
    - density: value per share of the capacities the option uses (sum of amount / capacity);
    - value: highest value first.
    Density alone hands scarce accounts to plentiful cheap channels (an SMS has a tiny share), so
    reporting only it would flatter the optimizer."""
    model = build_model(index=index, bonus=problem.continuity_threshold, band=problem.balance_band, top_k=10**9)
    start = time.perf_counter()
    cap = model.capacity.astype(float)
    share = np.zeros(model.n_active)
    np.add.at(share, model.u_opt, model.u_amt / np.maximum(cap[model.u_res], 1e-9))
    density = np.where(share > 0, model.val / np.maximum(share, 1e-12), np.inf)
    results = {}
    for rule, key in (("density", density), ("value", model.val.astype(float))):
        taken = _greedy(model=model, order=np.argsort(-key, kind="stable"))
        plan = _greedy_band(model=model, choice=taken, density=key)
        results[rule] = int(model.val[plan[plan >= 0]].sum())
    rule = max(results, key=lambda r: results[r])
    note = f"{rule} (density {results['density']}, value {results['value']})"
    return time.perf_counter() - start, results[rule], note


def _greedy(*, model: Model, order: np.ndarray) -> np.ndarray:
    lo = np.searchsorted(model.u_opt, np.arange(model.n_active)).tolist()
    hi = np.searchsorted(model.u_opt, np.arange(model.n_active), side="right").tolist()
    res, amt, acc = model.u_res.tolist(), model.u_amt.tolist(), model.acc.tolist()
    left = model.capacity.tolist()
    choice = [-1] * model.n_accounts
    for o in order.tolist():
        a = acc[o]
        if choice[a] >= 0 or any(left[res[u]] < amt[u] for u in range(lo[o], hi[o])):
            continue
        for u in range(lo[o], hi[o]):
            left[res[u]] -= amt[u]
        choice[a] = o
    return np.array(choice)


def _greedy_band(*, model: Model, choice: np.ndarray, density: np.ndarray) -> np.ndarray:
    """Drop the least dense option of a collector above the band until none is."""
    bal = model.balance
    if bal is None:
        return choice
    while True:
        chosen = np.zeros(model.n_active, dtype=bool)
        chosen[choice[choice >= 0]] = True
        take = chosen[model.u_opt]
        use = np.bincount(model.u_res[take], weights=model.u_amt[take], minlength=model.n_resources).astype(np.int64)
        bad = np.flatnonzero(~bal.exact_ok(use, model.capacity))
        if len(bad) == 0:
            return choice
        for r in bad:
            on = model.u_opt[(model.u_res == r) & take]
            choice[model.acc[on[np.argmin(density[on])]]] = -1


def verify(*, problem: Problem, result: Any) -> None:
    """Independent check of the solver's plan: one option per account, capacities respected."""
    used: dict[str, int] = {}
    for account, item in zip(problem.accounts, result.assignments, strict=True):
        assert item.account == account.id
        if item.chosen.option is not None:
            for name, amount in account.options[item.chosen.option].uses:
                used[name] = used.get(name, 0) + amount
    over = [name for name, amount in used.items() if amount > problem.capacity(name)]
    assert not over, f"capacity exceeded: {over[:5]}"


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--collectors", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--k", type=int, default=5, help="top-k collectors kept per account")
    parser.add_argument("--time-limit", type=float, default=5.0, help="solver time limit, seconds")
    parser.add_argument("--band", type=float, default=0.25, help="workload band (negative: off)")
    parser.add_argument("--field-teams", action="store_true",
                        help="balance field collectors per region too (default: only phone agents)")
    parser.add_argument("--highs", choices=("auto", "mip", "lp", "off"), default="auto",
                        help="reference: the MIP (time-limited), its LP relaxation, or auto (MIP up to 2k accounts)")
    parser.add_argument("--highs-time", type=float, default=60.0)
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args(argv)

    load_start = os.getloadavg()[0]
    built = time.perf_counter()
    problem = make_problem(accounts=args.accounts, collectors=args.collectors, seed=args.seed,
                           band=args.band if args.band >= 0 else None, field_teams=args.field_teams)
    build_seconds = time.perf_counter() - built
    result = solve(problem, time_limit=args.time_limit, top_k=args.k)
    verify(problem=problem, result=result)
    index = build_index(problem)
    greedy_seconds, greedy_objective, greedy_rule = solve_greedy(problem=problem, index=index)
    mode = ("mip" if args.accounts <= 2000 else "lp") if args.highs == "auto" else args.highs
    ref = Reference(0.0, float("nan"), float("nan"), "off")
    if mode != "off":
        ref = solve_highs(problem=problem, index=index, mode=mode, time_limit=args.highs_time)
    out = {
        "seconds": round(result.seconds, 3),
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "highs_seconds": round(ref.seconds, 3),
        "highs_objective": ref.objective,
        "greedy_seconds": round(greedy_seconds, 3),
        "greedy_objective": greedy_objective,
        "objective_over_highs": result.objective / ref.objective if ref.objective == ref.objective else None,
        "objective_over_greedy": result.objective / greedy_objective if greedy_objective else None,
        "status": str(result.status),
        "value": result.value,
        "greedy_rule": greedy_rule,
        "highs_mode": mode,
        "highs_status": ref.status,
        "highs_bound": ref.bound,
        "stages": {k: round(v, 3) for k, v in result.stages.items()},
        "build_seconds": round(build_seconds, 3),
        "accounts": args.accounts,
        "collectors": args.collectors,
        "seed": args.seed,
        "k": args.k,
        "unplaced": len(result.unplaced),
        # the machine is shared: a 1-minute load average above the core count slows every figure
        "loadavg_start": round(load_start, 2),
        "loadavg_end": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:>22}: {value}")
    return out


if __name__ == "__main__":
    main()
