"""Building a feasible plan from the dual prices.

At near-optimal prices almost every account's best reduced option is its LP choice; what is left
is integer rounding, which is where the value is lost. So, in order:

0. lumpy stage: resources whose options are big against their capacity (a field collector's day
   is four or five visits) and the resources those options share (the region's slots) are
   decided first by a small MIP against priced alternatives (`lumpy_plan`);
1. knapsack stage: for every resource whose options consume varying amounts (collector minutes),
   an exact 0/1 knapsack (dynamic programming, all resources at once) picks the options whose
   surplus over the account's best alternative at current prices is largest per capacity. An
   account wanted by two collectors keeps the larger surplus; the loser's knapsack is re-solved
   without it (a few Gauss–Seidel rounds).
2. unit resources overrun by those picks (a region's field slots) drop their lowest-surplus users.
3. transport stage: the remaining accounts and the unit-amount channels (robot lines, SMS,
   agency, legal, sale) form a transportation problem, solved exactly by min-cost flow.
4. greedy fill of any capacity left;
5. workload band: collectors above it first hand accounts to teammates with room, then have their
   knapsacks re-solved against band-tightened capacities, and only then are trimmed.

The result is feasible by construction and checked again in exact integers by the caller.
`swap_moves` then improves it by local search in realised values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from ortools.graph.python import min_cost_flow
from scipy.optimize import Bounds, LinearConstraint, milp

from buyu.optimizer.index import BoolArray, FloatArray, IntArray, run_starts
from buyu.optimizer.model import Balance, Model

#: knapsack DP limits: capacity columns, items per resource, group size solved without
#: filtering, and cells per batch (memory)
DP_MAX_CAPACITY = 4096
DP_MAX_ITEMS = 256
DP_EXACT_ITEMS = 64
DP_BATCH_CELLS = 40_000_000
#: in crowded groups, items are kept (densest first) until their weights reach this many capacities
DP_CROWD = 1.2
#: a resource is lumpy when one option takes more than this share of its capacity (a field visit
#: of 90 minutes in a 400-minute day); options kept per lumpy resource in its MIP, by gain per unit
LUMPY_SHARE = 0.05
LUMPY_OPTIONS = 20


@dataclass(frozen=True, slots=True)
class Surplus:
    """Per-account view of the reduced values at the current prices."""

    reduced: FloatArray  # per active option
    best: FloatArray  # per account, >= 0 (no_action)
    best_opt: IntArray  # per account, -1 when no_action is best
    alt: FloatArray  # per active option: the account's best reduced value without this option


def surplus(*, model: Model, rho: FloatArray) -> Surplus:
    """Reduced values v - q.rho, and each option's best alternative (no_action counts as 0)."""
    n = model.n_active
    reduced = model.val.astype(np.float64)
    np.subtract.at(reduced, model.u_opt, model.u_amt * rho[model.u_res])
    order = np.lexsort((-reduced, model.acc))
    a_sorted = model.acc[order]
    first = np.flatnonzero(run_starts(a_sorted))
    best = np.zeros(model.n_accounts)
    best_opt = np.full(model.n_accounts, -1, dtype=np.int64)
    second = np.zeros(model.n_accounts)
    if n:
        top = reduced[order[first]]
        positive = top > 0
        best[a_sorted[first]] = np.maximum(top, 0.0)
        best_opt[a_sorted[first[positive]]] = order[first[positive]]
        has_two = np.r_[first[1:], n] - first >= 2
        runner = np.where(has_two, reduced[order[np.minimum(first + 1, n - 1)]], -np.inf)
        second[a_sorted[first]] = np.maximum(np.where(positive, runner, top), 0.0)
    is_best = best_opt[model.acc] == np.arange(n)
    alt = np.where(is_best, second[model.acc], best[model.acc])
    return Surplus(reduced=reduced, best=best, best_opt=best_opt, alt=np.maximum(alt, 0.0))


def usage(*, model: Model, choice: IntArray) -> IntArray:
    """Amount of each resource used by a plan (choice: active option per account, -1 none)."""
    chosen = np.zeros(model.n_active, dtype=np.bool_)
    chosen[choice[choice >= 0]] = True
    take = chosen[model.u_opt]
    return np.bincount(model.u_res[take], weights=model.u_amt[take], minlength=model.n_resources).astype(np.int64)


def construct(*, model: Model, rho: FloatArray, deadline: float) -> IntArray:
    """A feasible plan guided by the prices (see the module docstring)."""
    s = surplus(model=model, rho=rho)
    knap = knapsack_resources(model)
    # the lumpy MIP gets a share of the time left, but never less than a short try
    fixed = lumpy_plan(model=model, rho=rho, seconds=max(0.25 * (deadline - time.perf_counter()), 0.3))
    free = fixed < 0
    left = model.capacity - usage(model=model, choice=fixed)
    choice = knapsack_stage(model=model, s=s, knap=knap, rho=rho, capacity=left, free=free)
    choice = repair_overrun(model=model, choice=np.where(free, choice, fixed), s=s)
    # the pooled channels carry most accounts: the plan is not usable without this stage, so it
    # runs even past the deadline
    choice = transport_stage(model=model, choice=choice, knap=knap)
    choice = greedy_fill(model=model, choice=choice)
    if model.balance is not None:
        choice = band_rounds(model=model, choice=choice, s=s, knap=knap, rho=rho, balance=model.balance)
    return choice


def lumpy_plan(*, model: Model, rho: FloatArray, seconds: float) -> IntArray:
    """Decide the options on lumpy resources first, by a small MIP; returns those picks (-1 elsewhere).

    Rounding is where a priced plan loses value, and it loses most where options are big against
    the capacity (four or five field visits fill a day): a knapsack per collector at prices
    cannot trade a region's slots between its collectors. Here the lumpy resources and the
    resources their options also use stay hard constraints, every other resource is priced, and
    an option is worth its value over the account's best priced alternative; HiGHS solves it
    over the best LUMPY_OPTIONS options of each lumpy resource. Balanced collectors are left to
    the band-aware stages.
    """
    none = np.full(model.n_accounts, -1, dtype=np.int64)
    largest = np.zeros(model.n_resources, dtype=np.int64)
    np.maximum.at(largest, model.u_res, model.u_amt)
    lumpy = largest > LUMPY_SHARE * np.maximum(model.capacity, 1)
    if model.balance is not None:
        lumpy &= ~model.balance.balanced
    on_lumpy = np.zeros(model.n_active, dtype=np.bool_)
    on_lumpy[model.u_opt[lumpy[model.u_res]]] = True
    if seconds <= 0 or not on_lumpy.any():
        return none
    hard = lumpy.copy()
    hard[model.u_res[on_lumpy[model.u_opt]]] = True
    reduced = model.val.astype(np.float64)
    np.subtract.at(reduced, model.u_opt, model.u_amt * np.where(hard, 0.0, rho)[model.u_res])
    alt = np.zeros(model.n_accounts)
    np.maximum.at(alt, model.acc[~on_lumpy], reduced[~on_lumpy])
    gain = reduced - alt[model.acc]
    pick = _best_per_resource(model=model, options=np.flatnonzero(on_lumpy & (gain > 0)), gain=gain, lumpy=lumpy)
    if len(pick) == 0:
        return none
    n = len(pick)
    accounts, a_row = np.unique(model.acc[pick], return_inverse=True)
    col = np.full(model.n_active, -1, dtype=np.int64)
    col[pick] = np.arange(n)
    mine = col[model.u_opt] >= 0
    resources, r_row = np.unique(model.u_res[mine], return_inverse=True)
    rows = sp.vstack([
        sp.csr_matrix((np.ones(n), (a_row, np.arange(n))), shape=(len(accounts), n)),
        sp.csr_matrix((model.u_amt[mine].astype(np.float64), (r_row, col[model.u_opt[mine]])),
                      shape=(len(resources), n)),
    ]).tocsr()
    upper = np.r_[np.ones(len(accounts)), model.capacity[resources].astype(np.float64)]
    res = milp(-gain[pick], constraints=LinearConstraint(rows, -np.inf, upper), integrality=np.ones(n),
               bounds=Bounds(0, 1), options={"time_limit": max(seconds, 0.05), "mip_rel_gap": 1e-4})
    if res.x is None:
        return none
    chosen = pick[res.x > 0.5]
    none[model.acc[chosen]] = chosen
    return none


def _best_per_resource(*, model: Model, options: IntArray, gain: FloatArray, lumpy: BoolArray) -> IntArray:
    """The options among the best LUMPY_OPTIONS (gain per unit) of some lumpy resource they use."""
    u = np.flatnonzero(np.isin(model.u_opt, options) & lumpy[model.u_res])
    opt, res, amt = model.u_opt[u], model.u_res[u], model.u_amt[u]
    order = np.lexsort((-gain[opt] / amt, res))
    start = np.flatnonzero(run_starts(res[order]))
    rank = np.arange(len(order)) - np.repeat(start, np.diff(np.r_[start, len(order)]))
    return np.unique(opt[order[rank < LUMPY_OPTIONS]])


def band_rounds(
    *, model: Model, choice: IntArray, s: Surplus, knap: BoolArray, rho: FloatArray, balance: Balance
) -> IntArray:
    """Re-plan the collectors above the band with band-tightened capacities.

    Trimming alone cascades (each whole field visit cut lowers the team mean and so the next
    cap); re-solving only the offending collectors' knapsacks against caps from the achieved
    team load moves the team load little, so a few rounds settle. Leftovers are trimmed.
    """
    for _ in range(6):
        choice = move_within_team(model=model, choice=choice, balance=balance)
        use = usage(model=model, choice=choice)
        above = ~balance.exact_ok(use, model.capacity)
        if not above.any():
            return choice
        released = _release(model=model, choice=choice, resources=above)
        # the alternatives priced into the surplus are taken by now: plain value decides
        picks = knapsack_stage(model=model, s=s, knap=knap & above, rho=rho, capacity=band_caps(model=model, use=use),
                               free=released < 0, priced=False)
        choice = repair_overrun(model=model, choice=np.where(picks >= 0, picks, released), s=s)
        choice = greedy_fill(model=model, choice=choice)
    return greedy_fill(model=model, choice=enforce_band(model=model, choice=choice, balance=balance))


def _release(*, model: Model, choice: IntArray, resources: BoolArray) -> IntArray:
    """The plan with every account served through one of `resources` set back to no_action."""
    on = resources[model.u_res] & (choice[model.acc[model.u_opt]] == model.u_opt)
    out = choice.copy()
    out[model.acc[model.u_opt[on]]] = -1
    return out


def knapsack_resources(model: Model) -> BoolArray:
    """Resources some option consumes more than one unit of: these need a knapsack, not a flow."""
    knap = np.zeros(model.n_resources, dtype=np.bool_)
    knap[model.u_res[model.u_amt != 1]] = True
    return knap


def knapsack_stage(
    *, model: Model, s: Surplus, knap: BoolArray, rho: FloatArray, capacity: IntArray, free: BoolArray,
    priced: bool = True,
) -> IntArray:
    """Exact per-resource knapsacks, with Gauss–Seidel rounds for accounts two resources want.

    Items are worth their surplus over the account's best alternative at current prices
    (`priced`), or their plain value when everything else is already decided and the
    alternatives are gone. Only the resources in `knap` and the accounts in `free` take part;
    returns per account the picked option or -1.
    """
    on_knap = knap[model.u_res] & free[model.acc[model.u_opt]]
    per_option = np.bincount(model.u_opt[on_knap], minlength=model.n_active)
    items = np.flatnonzero(on_knap & (per_option[model.u_opt] == 1))
    opt, res, amt = model.u_opt[items], model.u_res[items], model.u_amt[items]
    gain = s.reduced[opt] + amt * rho[res] - s.alt[opt] if priced else model.val[opt].astype(np.float64)
    keep = gain > 0
    opt, res, amt, gain = opt[keep], res[keep], amt[keep], gain[keep]
    owner = np.full(model.n_accounts, -1, dtype=np.int64)  # resource serving the account
    pick = np.full(model.n_accounts, -1, dtype=np.int64)
    active = np.unique(res)
    acc = model.acc[opt]
    for _ in range(8):
        owner[np.isin(owner, active)] = -1
        free = np.isin(res, active) & (owner[acc] < 0)
        idx = np.flatnonzero(free)
        chosen = idx[knapsack(group=res[idx], weight=amt[idx], value=gain[idx], capacity=capacity)]
        order = chosen[np.lexsort((-gain[chosen], acc[chosen]))]
        first = run_starts(acc[order])
        win, lose = order[first], order[~first]
        owner[acc[win]], pick[acc[win]] = res[win], opt[win]
        if len(lose) == 0:
            break
        active = np.unique(res[lose])
    return np.where(owner >= 0, pick, -1)


def knapsack(*, group: IntArray, weight: IntArray, value: FloatArray, capacity: IntArray) -> IntArray:
    """Exact 0/1 knapsack per group; returns the chosen item numbers.

    Only items that fit are considered. In groups of more than DP_EXACT_ITEMS items only the
    densest ones up to DP_CROWD times the capacity are kept (the rest rarely matter); smaller
    groups are solved exactly.
    """
    fits = np.flatnonzero(weight <= capacity[group])
    if len(fits) == 0:
        return np.zeros(0, dtype=np.int64)
    order = fits[np.lexsort((-value[fits] / weight[fits], group[fits]))]
    g = group[order]
    start = np.flatnonzero(run_starts(g))
    size = np.diff(np.r_[start, len(g)])
    rank = np.arange(len(g)) - np.repeat(start, size)
    cum = np.cumsum(weight[order])
    before = cum - weight[order] - np.repeat(np.r_[0, cum[start[1:] - 1]], size)
    cap = capacity[g]
    crowded = np.repeat(size, size) > DP_EXACT_ITEMS
    useful = (rank < DP_MAX_ITEMS) & ~(crowded & (before > DP_CROWD * cap))
    big = cap > DP_MAX_CAPACITY
    picked = [_greedy_groups(order=order[useful & big], group=g[useful & big], weight=weight, capacity=capacity)]
    small = order[useful & ~big]
    groups, counts = np.unique(group[small], return_counts=True)
    groups = groups[np.argsort(counts, kind="stable")]  # batches of similar item counts pad little
    width = int(capacity[groups].max()) + 1 if len(groups) else 1
    per_batch = max(1, DP_BATCH_CELLS // (width * int(counts.max(initial=1))))
    for lo in range(0, len(groups), per_batch):
        batch = small[np.isin(group[small], groups[lo : lo + per_batch])]
        picked.append(_dp_batch(items=batch, group=group, weight=weight, value=value, capacity=capacity))
    return np.concatenate(picked)


def _greedy_groups(*, order: IntArray, group: IntArray, weight: IntArray, capacity: IntArray) -> IntArray:
    # large capacities: density order loses at most one item's worth, not worth a DP table
    taken: list[int] = []
    left: dict[int, int] = {}
    for item, g in zip(order.tolist(), group.tolist(), strict=True):
        room = left.get(g, int(capacity[g]))
        if weight[item] <= room:
            left[g] = room - int(weight[item])
            taken.append(item)
    return np.array(taken, dtype=np.int64)


def _dp_batch(*, items: IntArray, group: IntArray, weight: IntArray, value: FloatArray, capacity: IntArray) -> IntArray:
    """One DP table per group, all groups of the batch advanced together item by item."""
    if len(items) == 0:
        return np.zeros(0, dtype=np.int64)
    groups, row = np.unique(group[items], return_inverse=True)
    order = np.argsort(row, kind="stable")
    row_sorted = row[order]
    start = np.flatnonzero(run_starts(row_sorted))
    col = np.arange(len(items)) - np.repeat(start, np.diff(np.r_[start, len(items)]))
    n_rows, n_cols = len(groups), int(col.max()) + 1
    item = np.full((n_rows, n_cols), -1, dtype=np.int64)
    item[row_sorted, col] = items[order]
    w = np.where(item >= 0, weight[np.maximum(item, 0)], 0)
    v = np.where(item >= 0, value[np.maximum(item, 0)], 0.0)
    caps = capacity[groups]
    width = int(caps.max()) + 1
    cells = np.arange(width)
    inside = cells[None, :] <= caps[:, None]
    best = np.where(inside, 0.0, -np.inf)
    take = np.zeros((n_cols, n_rows, width), dtype=np.bool_)
    rows = np.arange(n_rows)[:, None]
    for j in range(n_cols):
        src = cells[None, :] - w[:, j][:, None]
        ok = (src >= 0) & inside & (item[:, j][:, None] >= 0)
        cand = np.where(ok, best[rows, np.maximum(src, 0)] + v[:, j][:, None], -np.inf)
        take[j] = cand > best
        best = np.maximum(best, cand)
    at = np.argmax(best, axis=1)
    chosen: list[IntArray] = []
    for j in range(n_cols - 1, -1, -1):
        hit = take[j, np.arange(n_rows), at]
        chosen.append(item[hit, j])
        at = at - w[:, j] * hit
    return np.concatenate(chosen)


def repair_overrun(*, model: Model, choice: IntArray, s: Surplus) -> IntArray:
    """Drop the lowest-surplus users of every over-used resource until it fits."""
    use = usage(model=model, choice=choice)
    over = use > model.capacity
    if not over.any():
        return choice
    chosen = np.zeros(model.n_active, dtype=np.bool_)
    chosen[choice[choice >= 0]] = True
    uses = np.flatnonzero(chosen[model.u_opt] & over[model.u_res])
    key = (s.reduced[model.u_opt[uses]] - s.alt[model.u_opt[uses]]) / model.u_amt[uses]
    order = uses[np.lexsort((key, model.u_res[uses]))]
    res = model.u_res[order]
    cum = np.cumsum(model.u_amt[order])
    start = np.flatnonzero(run_starts(res))
    size = np.diff(np.r_[start, len(order)])
    before = cum - model.u_amt[order] - np.repeat(np.r_[0, cum[start[1:] - 1]], size)
    drop = model.u_opt[order[use[res] - before > model.capacity[res]]]
    out = choice.copy()
    out[model.acc[drop]] = -1
    return out


def drop_overuse(*, model: Model, choice: IntArray) -> IntArray:
    """Unassign the least valuable users of over-used resources until every capacity holds."""
    out = choice.copy()
    uses = _uses_by_option(model)
    use = usage(model=model, choice=out)
    for r in np.flatnonzero(use > model.capacity).tolist():
        users = np.flatnonzero((model.u_res == r) & (out[model.acc[model.u_opt]] == model.u_opt))
        for u in users[np.argsort(model.val[model.u_opt[users]], kind="stable")].tolist():
            if use[r] <= model.capacity[r]:
                break
            option = int(model.u_opt[u])
            _shift(use=use, model=model, uses=uses, option=option, sign=-1)
            out[model.acc[option]] = -1
    return out


def transport_stage(*, model: Model, choice: IntArray, knap: BoolArray) -> IntArray:
    """Unassigned accounts → unit-amount options → resources: a transportation problem, by min-cost flow."""
    n_uses = np.bincount(model.u_opt, minlength=model.n_active)
    single = (n_uses == 1)[model.u_opt] & (model.u_amt == 1) & ~knap[model.u_res]
    free = choice[model.acc] < 0
    arcs = np.flatnonzero(single & free[model.u_opt])
    bare = np.flatnonzero((n_uses == 0) & free)  # options using nothing: straight to the sink
    if len(arcs) + len(bare) == 0:
        return choice
    residual = model.capacity - usage(model=model, choice=choice)
    opts = np.r_[model.u_opt[arcs], bare]
    accounts, a_node = np.unique(model.acc[opts], return_inverse=True)
    resources, r_node = np.unique(model.u_res[arcs], return_inverse=True)
    n_a, n_r = len(accounts), len(resources)
    sink = n_a + n_r
    tails = np.r_[a_node, np.arange(n_a), n_a + np.arange(n_r)]
    heads = np.r_[n_a + r_node, np.full(len(bare), sink), np.full(n_a, sink), np.full(n_r, sink)]
    caps = np.r_[np.ones(len(opts) + n_a, dtype=np.int64), residual[resources]]
    costs = np.r_[-model.val[opts], np.zeros(n_a + n_r, dtype=np.int64)]
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(tails.astype(np.int32), heads.astype(np.int32), caps, costs)
    supply = np.zeros(sink + 1, dtype=np.int64)
    supply[:n_a], supply[sink] = 1, -n_a
    flow.set_nodes_supplies(np.arange(sink + 1, dtype=np.int32), supply)
    if flow.solve() != flow.OPTIMAL:
        return choice
    used = flow.flows(np.arange(len(opts))) > 0
    out = choice.copy()
    out[model.acc[opts[used]]] = opts[used]
    return out


def greedy_fill(*, model: Model, choice: IntArray) -> IntArray:
    """Give unassigned accounts their most valuable option that still fits (band caps included)."""
    free = choice[model.acc] < 0
    cand = np.flatnonzero(free & (model.val > 0))
    if len(cand) == 0:
        return choice
    use = usage(model=model, choice=choice)
    room = band_caps(model=model, use=use) - use
    # room only shrinks while filling: an option that does not fit now never will
    misfit = np.zeros(model.n_active, dtype=np.bool_)
    misfit[model.u_opt[model.u_amt > room[model.u_res]]] = True
    cand = cand[~misfit[cand]]
    cand = cand[np.argsort(-model.val[cand], kind="stable")]
    left = room.tolist()
    order = np.argsort(model.u_opt, kind="stable")
    lo = np.searchsorted(model.u_opt[order], cand).tolist()
    hi = np.searchsorted(model.u_opt[order], cand, side="right").tolist()
    res, amt = model.u_res[order].tolist(), model.u_amt[order].tolist()
    out = choice.copy()
    accounts = model.acc[cand].tolist()
    taken = set(np.flatnonzero(choice >= 0).tolist())
    for k, o in enumerate(cand.tolist()):
        a = accounts[k]
        if a in taken or any(left[res[u]] < amt[u] for u in range(lo[k], hi[k])):
            continue
        for u in range(lo[k], hi[k]):
            left[res[u]] -= amt[u]
        taken.add(a)
        out[a] = o
    return out


def band_caps(*, model: Model, use: IntArray, members: BoolArray | None = None) -> IntArray:
    """Capacities tightened by the workload band at the current team loads, for `members` (all
    balanced collectors by default). Exact integers; safe while loads only grow."""
    bal = model.balance
    if bal is None:
        return model.capacity
    b = bal.balanced
    team_load = np.bincount(bal.team[b], weights=use[b], minlength=len(bal.team_minutes))
    num, den = (1 + bal.band).numerator, (1 + bal.band).denominator
    caps = model.capacity.copy()
    for r in np.flatnonzero(b if members is None else b & members).tolist():
        t = bal.team[r]
        limit = num * int(model.capacity[r]) * int(team_load[t]) // (den * int(bal.team_minutes[t]))
        caps[r] = min(int(caps[r]), limit)
    return caps


def move_within_team(*, model: Model, choice: IntArray, balance: Balance) -> IntArray:
    """Move accounts from collectors above the band to teammates with room, least value lost first.

    A move keeps the team load (and so every teammate's cap) nearly unchanged, which is why it is
    tried before any cut."""
    out = choice.copy()
    uses = _uses_by_option(model)
    use = usage(model=model, choice=out)
    for c in np.flatnonzero(~balance.exact_ok(use, model.capacity)).tolist():
        mates = balance.balanced & (balance.team == balance.team[c])
        for _ in range(64):
            caps = band_caps(model=model, use=use, members=mates)
            if use[c] <= caps[c]:
                break
            move = _best_move(model=model, choice=out, uses=uses, c=c, mates=mates, room=caps - use)
            if move is None:
                break
            a = int(model.acc[move])
            _shift(use=use, model=model, uses=uses, option=int(out[a]), sign=-1)
            _shift(use=use, model=model, uses=uses, option=move, sign=1)
            out[a] = move
    return out


def _shift(*, use: IntArray, model: Model, uses: tuple[IntArray, IntArray], option: int, sign: int) -> None:
    """Add (sign 1) or remove (sign -1) one option's resource use, in place."""
    lo, hi = uses[0][option], uses[1][option]
    np.add.at(use, model.u_res[lo:hi], sign * model.u_amt[lo:hi])


def _uses_by_option(model: Model) -> tuple[IntArray, IntArray]:
    """(start, end) of each active option's uses (u_opt is sorted)."""
    n = np.arange(model.n_active)
    return np.searchsorted(model.u_opt, n), np.searchsorted(model.u_opt, n, side="right")


def _best_move(
    *, model: Model, choice: IntArray, uses: tuple[IntArray, IntArray], c: int, mates: BoolArray, room: IntArray
) -> int | None:
    """The teammate option that best replaces one of collector c's accounts, or None."""
    lo, hi = uses
    served = np.flatnonzero((model.u_res == c) & (choice[model.acc[model.u_opt]] == model.u_opt))
    best, best_loss = None, np.inf
    for current in model.u_opt[served].tolist():
        given = dict(zip(model.u_res[lo[current] : hi[current]].tolist(),
                         model.u_amt[lo[current] : hi[current]].tolist(), strict=True))
        a = int(model.acc[current])
        first, last = np.searchsorted(model.acc, [a, a + 1])  # the account's options (acc is sorted)
        for o in range(int(first), int(last)):
            res = model.u_res[lo[o] : hi[o]].tolist()
            amt = model.u_amt[lo[o] : hi[o]].tolist()
            if o == current or not any(mates[r] and r != c for r in res):
                continue
            loss = int(model.val[current]) - int(model.val[o])
            if loss < best_loss and all(room[r] + given.get(r, 0) >= q for r, q in zip(res, amt, strict=True)):
                best, best_loss = o, loss
    return best


def enforce_band(*, model: Model, choice: IntArray, balance: Balance) -> IntArray:
    """Trim collectors above the band until every band row holds (terminates: loads only fall)."""
    out = choice.copy()
    while True:
        use = usage(model=model, choice=out)
        bad = np.flatnonzero(~balance.exact_ok(use, model.capacity))
        if len(bad) == 0:
            return out
        team_load = np.bincount(balance.team[balance.balanced], weights=use[balance.balanced],
                                minlength=len(balance.team_minutes))
        for r in bad.tolist():
            beta = float(balance.beta[r])
            # removing x minutes also lowers the team load by x: need x >= excess / (1 - beta)
            excess = use[r] - beta * team_load[balance.team[r]]
            need = int(np.ceil(excess / max(1.0 - beta, 1e-9) - 1e-9))
            out = _trim(model=model, choice=out, resource=r, need=max(need, 1))


def _trim(*, model: Model, choice: IntArray, resource: int, need: int) -> IntArray:
    """Remove at least `need` units of a resource at least cost: the cheapest single option that
    frees enough, else the least valuable per unit until enough is freed."""
    uses = np.flatnonzero((model.u_res == resource) & (choice[model.acc[model.u_opt]] == model.u_opt))
    if len(uses) == 0:
        return choice
    opts, amt = model.u_opt[uses], model.u_amt[uses]
    out = choice.copy()
    enough = np.flatnonzero(amt >= need)
    if len(enough):
        out[model.acc[opts[enough[np.argmin(model.val[opts[enough]])]]]] = -1
        return out
    freed = 0
    for k in np.argsort(model.val[opts] / amt, kind="stable").tolist():
        if freed >= need:
            break
        out[model.acc[opts[k]]] = -1
        freed += int(amt[k])
    return out


def swap_moves(*, model: Model, choice: IntArray, deadline: float, incoming: int = 8, rounds: int = 4) -> IntArray:
    """Local search on the finished plan, in realised values (no prices): an account moves onto a
    full collector in place of one of its accounts, which falls back to the resource the mover
    left (or to what still has room, or to nothing), when that gains value in total.

    Construction decides with prices, which assume a turned-down account finds its priced
    alternative; when it does not, the real loss shows up here as a positive swap. Each round
    applies the best swap per collector among non-conflicting ones, then refills spare room.
    """
    if model.n_active == 0:
        return choice
    single = np.bincount(model.u_opt, minlength=model.n_active) == 1
    knap = knapsack_resources(model)
    for done in range(rounds):
        # two rounds take most of the gain and cost a fraction of a second: they run even late
        if done >= 2 and time.perf_counter() > deadline:
            break
        moves = _best_swaps(model=model, choice=choice, single=single, knap=knap, incoming=incoming)
        if moves is None:
            break
        after = greedy_fill(model=model, choice=_apply_swaps(model=model, choice=choice, moves=moves))
        # a mover may need more minutes than its leaver freed, which can break a workload band:
        # such a round is dropped whole rather than repaired by cuts
        if not _holds(model=model, choice=after):
            break
        gained = int(model.val[after[after >= 0]].sum()) - int(model.val[choice[choice >= 0]].sum())
        if gained <= 0:
            break
        choice = after
    return choice


def _holds(*, model: Model, choice: IntArray) -> bool:
    """Capacities and the workload band hold, in exact integers."""
    use = usage(model=model, choice=choice)
    if (use > model.capacity).any():
        return False
    return model.balance is None or bool(model.balance.exact_ok(use, model.capacity).all())


def _current_value(model: Model, choice: IntArray) -> FloatArray:
    return np.where(choice >= 0, model.val[np.maximum(choice, 0)], 0).astype(np.float64)


def _best_swaps(
    *, model: Model, choice: IntArray, single: BoolArray, knap: BoolArray, incoming: int
) -> tuple[IntArray, IntArray, IntArray, IntArray] | None:
    """Per collector the best (mover option, leaver account, leaver's new option or -1) with a
    positive gain; None when there is none."""
    use = usage(model=model, choice=choice)
    left = model.capacity - use
    cur = _current_value(model, choice)
    # the single resource each account's chosen option uses (-1: none or several)
    u_single = single[model.u_opt]
    res_of_opt = np.full(model.n_active, -1, dtype=np.int64)
    res_of_opt[model.u_opt[u_single]] = model.u_res[u_single]
    amt_of_opt = np.zeros(model.n_active, dtype=np.int64)
    amt_of_opt[model.u_opt[u_single]] = model.u_amt[u_single]
    cur_res = np.where(choice >= 0, res_of_opt[np.maximum(choice, 0)], -1)
    cur_amt = np.where(choice >= 0, amt_of_opt[np.maximum(choice, 0)], 0)
    # movers: single-resource options on collector resources, worth more than the account's plan
    o_in = np.flatnonzero(single & (res_of_opt >= 0) & knap[np.maximum(res_of_opt, 0)]
                          & (choice[model.acc] != np.arange(model.n_active)))
    gain_in = model.val[o_in] - cur[model.acc[o_in]]
    o_in, gain_in = o_in[gain_in > 0], gain_in[gain_in > 0]
    if len(o_in) == 0:
        return None
    r_in = res_of_opt[o_in]
    order = np.lexsort((-gain_in, r_in))
    o_in, gain_in, r_in = o_in[order], gain_in[order], r_in[order]
    start = np.flatnonzero(run_starts(r_in))
    rank = np.arange(len(r_in)) - np.repeat(start, np.diff(np.r_[start, len(r_in)]))
    keep = rank < incoming
    o_in, gain_in, r_in = o_in[keep], gain_in[keep], r_in[keep]
    # leavers: accounts served on the same collector with a single-resource option
    served = np.flatnonzero(choice >= 0)
    served = served[knap[np.maximum(cur_res[served], 0)] & (cur_res[served] >= 0)]
    by_res = np.argsort(cur_res[served], kind="stable")
    served = served[by_res]
    s_res = cur_res[served]
    lo = np.searchsorted(s_res, r_in)
    hi = np.searchsorted(s_res, r_in, side="right")
    count = hi - lo
    mover = np.repeat(np.arange(len(o_in)), count)
    leaver = served[np.repeat(lo - np.r_[0, np.cumsum(count)[:-1]], count) + np.arange(count.sum())]
    if len(mover) == 0:
        return None
    a_in = model.acc[o_in[mover]]
    ok = (a_in != leaver) & (amt_of_opt[o_in[mover]] <= cur_amt[leaver] + left[r_in[mover]])
    mover, leaver, a_in = mover[ok], leaver[ok], a_in[ok]
    # the leaver's fallback: its best option on the resource the mover frees, if it has one;
    # else the freed unit goes to the best waiting account (the greedy fill after the round)
    freed = cur_res[a_in]
    fb_opt, fb_val = _option_on(model=model, accounts=leaver, resources=freed, amounts=cur_amt[a_in],
                                res_of_opt=res_of_opt, amt_of_opt=amt_of_opt)
    waiting = _waiting(model=model, choice=choice, res_of_opt=res_of_opt, amt_of_opt=amt_of_opt, knap=knap)
    refill = np.where(freed >= 0, waiting[np.maximum(freed, 0)], 0.0)
    fb_opt = np.where(refill > fb_val, -1, fb_opt)
    total = gain_in[mover] - cur[leaver] + np.maximum(fb_val, refill)
    good = total > 0.5
    if not good.any():
        return None
    mover, leaver, fb_opt, total = mover[good], leaver[good], fb_opt[good], total[good]
    order = np.lexsort((-total, r_in[mover]))
    first = order[run_starts(r_in[mover][order])]
    return o_in[mover[first]], leaver[first], fb_opt[first], total[first]


def _waiting(
    *, model: Model, choice: IntArray, res_of_opt: IntArray, amt_of_opt: IntArray, knap: BoolArray
) -> FloatArray:
    """Per unit-amount channel, the most valuable option an unplaced account has on it (0 if none):
    what a freed unit of the channel is worth to the greedy fill."""
    out = np.zeros(model.n_resources)
    unit = (res_of_opt >= 0) & (amt_of_opt == 1) & (choice[model.acc] < 0)
    unit &= ~knap[np.maximum(res_of_opt, 0)]
    np.maximum.at(out, res_of_opt[unit], model.val[unit].astype(np.float64))
    return out


def _option_on(
    *, model: Model, accounts: IntArray, resources: IntArray, amounts: IntArray, res_of_opt: IntArray,
    amt_of_opt: IntArray,
) -> tuple[IntArray, FloatArray]:
    """Per (account, resource) the account's most valuable single-resource option on that resource
    needing at most `amounts` of it; (-1, 0) when none."""
    out_opt = np.full(len(accounts), -1, dtype=np.int64)
    out_val = np.zeros(len(accounts))
    has = np.flatnonzero(resources >= 0)
    if len(has) == 0:
        return out_opt, out_val
    first = np.searchsorted(model.acc, accounts[has])
    last = np.searchsorted(model.acc, accounts[has], side="right")
    count = last - first
    which = np.repeat(has, count)
    opts = np.repeat(first - np.r_[0, np.cumsum(count)[:-1]], count) + np.arange(count.sum())
    fit = (res_of_opt[opts] == resources[which]) & (amt_of_opt[opts] <= amounts[which]) & (model.val[opts] > 0)
    which, opts = which[fit], opts[fit]
    order = np.lexsort((-model.val[opts], which))
    top = order[run_starts(which[order])]
    out_opt[which[top]] = opts[top]
    out_val[which[top]] = model.val[opts[top]]
    return out_opt, out_val


def _apply_swaps(*, model: Model, choice: IntArray, moves: tuple[IntArray, IntArray, IntArray, IntArray]) -> IntArray:
    """Apply swaps best first, skipping any that touches an account an earlier one touched."""
    o_in, leaver, fb_opt, total = moves
    out = choice.copy()
    touched: set[int] = set()
    for k in np.argsort(-total, kind="stable").tolist():
        a, b = int(model.acc[o_in[k]]), int(leaver[k])
        if a in touched or b in touched:
            continue
        touched.update((a, b))
        out[a] = o_in[k]
        out[b] = fb_opt[k]
    return out
