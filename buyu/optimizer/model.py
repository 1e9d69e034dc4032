"""From the flattened problem to the arrays the solver stages share.

Four reductions happen here, each exact or explicitly reported:
- continuity: the incumbent's options get a bonus equal to the threshold, so switching away wins
  only when it gains more than the threshold (the standard equivalent of "stay unless the gain
  exceeds T" inside one objective);
- options worth <= 0 are dropped: no_action (0, no resources) is at least as good. This is a
  rule, not only an observation: with a workload band, a worthless call given to an idle
  collector could raise the team mean and let a busier one do more; we never plan such padding,
  and the bound is for the problem under this rule;
- options that need more of a resource than its whole capacity are dropped (they never fit);
- top-k: per account only the options of its k best collectors are kept (the incumbent always).
  This one is a heuristic; the bound is still computed over every option, so the reported gap
  includes whatever pruning cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from buyu.optimizer.index import BoolArray, FloatArray, Index, IntArray, run_starts

ACTIVE, NOT_POSITIVE, PRUNED, TOO_BIG = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Balance:
    """Workload band rows: load_c <= beta_c * L_team for every balanced collector resource c.

    beta_c = (1 + band) * minutes_c / (minutes of the team's balanced collectors), which says
    utilisation_c <= (1 + band) * the team's capacity-weighted mean utilisation.
    """

    band: Fraction
    balanced: BoolArray  # per resource
    team: IntArray  # per resource, -1 outside any balanced team
    team_minutes: IntArray  # per team: minutes of its balanced collectors
    beta: FloatArray  # per resource, 0 outside

    def exact_ok(self, use: IntArray, capacity: IntArray) -> BoolArray:
        """Per resource: the band holds, checked in exact integer arithmetic."""
        loads = np.where(self.balanced, use, 0)
        b = self.balanced
        team_load = np.bincount(self.team[b], weights=loads[b], minlength=len(self.team_minutes))
        ok = np.ones(len(use), dtype=np.bool_)
        num, den = (1 + self.band).numerator, (1 + self.band).denominator
        for r in np.flatnonzero(self.balanced):
            t = self.team[r]
            ok[r] = int(use[r]) * int(self.team_minutes[t]) * den <= num * int(capacity[r]) * int(team_load[t])
        return ok


@dataclass(frozen=True, slots=True)
class Model:
    """Active options (sorted by account) and their resource uses, plus the pruned remainder."""

    index: Index
    bonus: int
    adjusted: IntArray  # per index option: value + continuity bonus
    state: IntArray  # per index option: ACTIVE, NOT_POSITIVE, PRUNED or TOO_BIG
    opt: IntArray  # per active option: index option number
    acc: IntArray  # per active option: account
    val: IntArray  # per active option: adjusted value
    u_opt: IntArray  # per active use: active option number
    u_res: IntArray
    u_amt: IntArray
    capacity: IntArray
    balance: Balance | None
    top_k: int

    @property
    def n_accounts(self) -> int:
        """Number of accounts."""
        return self.index.n_accounts

    @property
    def n_resources(self) -> int:
        """Number of resources."""
        return self.index.n_resources

    @property
    def n_active(self) -> int:
        """Number of active options."""
        return len(self.opt)


def build_model(*, index: Index, bonus: int, band: float | None, top_k: int) -> Model:
    """Apply the continuity bonus and pruning, and derive the workload band rows."""
    adjusted = index.opt_value + np.where(index.opt_incumbent, bonus, 0)
    state = np.where(adjusted > 0, ACTIVE, NOT_POSITIVE).astype(np.int64)
    too_big = np.zeros(index.n_options, dtype=np.bool_)
    too_big[index.use_option[index.use_amount > index.capacity[index.use_resource]]] = True
    state[(state == ACTIVE) & too_big] = TOO_BIG
    state[_outside_top_k(index=index, adjusted=adjusted, positive=state == ACTIVE, k=top_k)] = PRUNED
    opt = np.flatnonzero(state == ACTIVE)
    renumber = np.full(index.n_options, -1, dtype=np.int64)
    renumber[opt] = np.arange(len(opt))
    keep = renumber[index.use_option] >= 0
    return Model(
        index=index,
        bonus=bonus,
        adjusted=adjusted,
        state=state,
        opt=opt,
        acc=index.opt_account[opt],
        val=adjusted[opt],
        u_opt=renumber[index.use_option[keep]],
        u_res=index.use_resource[keep],
        u_amt=index.use_amount[keep],
        capacity=index.capacity,
        balance=_balance(index=index, band=band, positive=adjusted > 0),
        top_k=top_k,
    )


def _outside_top_k(*, index: Index, adjusted: IntArray, positive: BoolArray, k: int) -> BoolArray:
    """Options whose collector is not among the account's k best (by best option value)."""
    has = np.flatnonzero(positive & (index.opt_collector >= 0))
    out = np.zeros(index.n_options, dtype=np.bool_)
    if len(has) == 0:
        return out
    a, c, v = index.opt_account[has], index.opt_collector[has], adjusted[has]
    order = np.lexsort((-v, c, a))  # per (account, collector): best option first
    a, c, v, has = a[order], c[order], v[order], has[order]
    pair_start = run_starts(a) | run_starts(c)
    pa, pv = a[pair_start], v[pair_start]
    pair_of = np.cumsum(pair_start) - 1
    ranked = np.lexsort((-pv, pa))  # pairs of an account, best first
    first = run_starts(pa[ranked])
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(ranked)), 0))
    rank = np.empty(len(pa), dtype=np.int64)
    rank[ranked] = np.arange(len(ranked)) - group_start
    drop = (rank[pair_of] >= k) & ~index.opt_incumbent[has]
    out[has[drop]] = True
    return out


def _balance(*, index: Index, band: float | None, positive: BoolArray) -> Balance | None:
    """Band rows over collectors that have at least one option worth doing today."""
    if band is None or len(index.team_names) == 0:
        return None
    working = np.zeros(index.n_resources, dtype=np.bool_)
    working[index.opt_collector[positive & (index.opt_collector >= 0)]] = True
    balanced = working & (index.team >= 0) & (index.capacity > 0)
    team = np.where(balanced, index.team, -1)
    minutes = np.bincount(team[balanced], weights=index.capacity[balanced], minlength=len(index.team_names))
    team_minutes = minutes.astype(np.int64)
    exact = Fraction(band).limit_denominator(10**9)  # 0.1 means 1/10, not the binary float
    beta = np.zeros(index.n_resources)
    beta[balanced] = float(1 + exact) * index.capacity[balanced] / team_minutes[team[balanced]]
    return Balance(band=exact, balanced=balanced, team=team, team_minutes=team_minutes, beta=beta)
