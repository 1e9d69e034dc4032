"""Building a feasible plan from the dual prices.

At near-optimal prices almost every account's best reduced option is its LP choice; what is left
is integer rounding, which is where the value is lost. So, in order:

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
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from buyu.optimizer.index import BoolArray, FloatArray, IntArray, run_starts
from buyu.optimizer.model import Balance, Model

#: knapsack DP limits: capacity columns, items per resource, group size solved without
#: filtering, and cells per batch (memory)
DP_MAX_CAPACITY = 4096
DP_MAX_ITEMS = 256
DP_EXACT_ITEMS = 64
DP_BATCH_CELLS = 40_000_000


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
    everyone = np.ones(model.n_accounts, dtype=np.bool_)
    choice = knapsack_stage(model=model, s=s, knap=knap, rho=rho, capacity=model.capacity, free=everyone)
    choice = repair_overrun(model=model, choice=choice, s=s)
    if time.perf_counter() < deadline:
        choice = transport_stage(model=model, choice=choice, knap=knap)
    choice = greedy_fill(model=model, choice=choice)
    if model.balance is not None:
        choice = band_rounds(model=model, choice=choice, s=s, knap=knap, rho=rho, balance=model.balance)
    return choice


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
    densest ones up to three times the capacity are kept (the rest rarely matter); smaller
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
    useful = (rank < DP_MAX_ITEMS) & ~(crowded & (before > 3 * cap))
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
    cand = cand[np.argsort(-model.val[cand], kind="stable")]
    use = usage(model=model, choice=choice)
    left = (band_caps(model=model, use=use) - use).tolist()
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
