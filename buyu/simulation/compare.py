"""Policies side by side over several seeds: mean and 95% t-interval of every metric, ratios to a baseline.

Every (policy, seed) pair runs on its own fresh database, and the seeds are shared by all policies
(seed k is the scenario's seed + k), so each policy meets the same borrowers: the comparison is
paired. The interval is mean ± t(0.975, n − 1) · s / √n over the seeds (a point when n = 1).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

from scipy import stats

from buyu.errors import InvalidInput
from buyu.money import fmt
from buyu.simulation.metrics import Metrics
from buyu.simulation.policies import POLICIES
from buyu.simulation.runner import Progress, SimulationResult, run_simulation
from buyu.simulation.scenario import Scenario

MONEY = ("collected", "cost", "net")
METRICS: tuple[str, ...] = (*MONEY, "recovery_rate", "contacts", "rpc_rate", "ptps", "ptp_kept_rate", "complaints",
                            "compliance_blocks", "compliance_violations", "seconds")
Runner = Callable[..., SimulationResult]


def values(metrics: Metrics) -> dict[str, float]:
    """A run's metrics as numbers (money in fen)."""
    return {"collected": metrics.collected_fen, "cost": metrics.cost_fen, "net": metrics.net_fen,
            "recovery_rate": metrics.recovery_rate, "contacts": metrics.contacts, "rpc_rate": metrics.rpc_rate,
            "ptps": metrics.ptps, "ptp_kept_rate": metrics.ptp_kept_rate, "complaints": metrics.complaints,
            "compliance_blocks": metrics.compliance_blocks, "compliance_violations": metrics.compliance_violations,
            "seconds": metrics.seconds}


def interval(sample: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high): the 95% t-interval of the mean."""
    mean = statistics.fmean(sample)
    if len(sample) < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.975, len(sample) - 1)) * statistics.stdev(sample) / math.sqrt(len(sample))
    return mean, mean - half, mean + half


def check_policies(names: Sequence[str]) -> list[str]:
    """The names, validated against the registry (a clear error names the unknown ones)."""
    cleaned = [n.strip() for n in names if n.strip()]
    unknown = [n for n in cleaned if n not in POLICIES]
    if not cleaned or unknown:
        shown = ", ".join(repr(n) for n in unknown) or "(none given)"
        raise InvalidInput(f"unknown policy {shown}; known: {', '.join(sorted(POLICIES))}", code="unknown_policy",
                           details={"unknown": unknown, "known": sorted(POLICIES)})
    if len(set(cleaned)) != len(cleaned):
        raise InvalidInput(f"a policy is listed twice: {cleaned}", code="duplicate_policy")
    return cleaned


def compare(*, scenario: Scenario, policies: Sequence[str], seeds: int, days: int | None = None,
            base_seed: int | None = None, progress: Callable[[str, int], Progress | None] | None = None,
            run: Runner = run_simulation) -> dict[str, Any]:
    """Run every policy on `seeds` seeds; summary per policy and metric, ratios of means to the baseline.

    The baseline is champion when compared, else the first policy. `progress(policy, seed)` may
    return a per-day callback for that run.
    """
    names = check_policies(policies)
    if seeds < 1:
        raise InvalidInput("seeds must be at least 1", code="invalid_seeds")
    first = scenario.seed if base_seed is None else base_seed
    seed_list = [first + k for k in range(seeds)]
    samples: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    runs = []
    for seed in seed_list:
        world = scenario.model_copy(update={"seed": seed})
        for name in names:
            result = run(scenario=world, policy=name, days=days,
                         progress=progress(name, seed) if progress is not None else None)
            samples[name].append(values(result.metrics))
            runs.append({"seed": seed, **result.metrics.to_json()})
    baseline = "champion" if "champion" in names else names[0]
    summary = {n: {k: interval([s[k] for s in samples[n]]) for k in METRICS} for n in names}
    return {
        "scenario": scenario.name, "days": days or scenario.days, "accounts": scenario.accounts, "seeds": seed_list,
        "baseline": baseline,
        "policies": {n: {k: _shown(k, *summary[n][k]) for k in METRICS} for n in names},
        "ratios": {n: {k: _ratio(summary[n][k][0], summary[baseline][k][0]) for k in METRICS} for n in names},
        "runs": runs,
    }


def _shown(metric: str, mean: float, low: float, high: float) -> dict[str, Any]:
    if metric in MONEY:
        return {"mean": fmt(round(mean)), "low": fmt(round(low)), "high": fmt(round(high))}
    return {"mean": round(mean, 6), "low": round(low, 6), "high": round(high, 6)}


def _ratio(value: float, base: float) -> float | None:
    return round(value / base, 4) if base else None
