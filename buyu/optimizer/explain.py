"""Why each account got what it got: its best alternative and the reason that alternative lost.

The alternative is the account's most valuable option other than the chosen one (no_action
included). The first reason that applies wins:
- value: it is worth no more than the chosen option, continuity bonus included; when it is worth
  more *before* the bonus the reason is the continuity rule instead;
- rule: it was pruned (not among the account's top-k collectors);
- capacity: it needs more of a resource than the resource's whole capacity;
- capacity: a resource it needs has no room left (of several, the one with the highest price);
- rule: taking it would break its collector's workload band;
- capacity: otherwise it was priced out: its scarcest resource is worth more to other accounts.

Reasons are computed for all accounts at once in arrays; the `Assignment` objects are only built
when read, so a 100k-account day does not pay for 100k objects nobody looks at.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from buyu.optimizer.index import TREATMENTS, FloatArray, IntArray, gather, run_starts
from buyu.optimizer.model import PRUNED, TOO_BIG, Model
from buyu.optimizer.primal import usage
from buyu.optimizer.result import NO_ACTION, Assignment, Choice, Reason, Unplaced

NONE, NOTHING = -1, -2  # alternative codes: no_action, no alternative at all
# reason codes
R_NONE, R_VALUE, R_CONTINUITY, R_PRUNED, R_TOO_BIG, R_FULL, R_BAND, R_PRICED = range(8)
_REASON = {R_VALUE: Reason.VALUE, R_CONTINUITY: Reason.RULE, R_PRUNED: Reason.RULE, R_TOO_BIG: Reason.CAPACITY,
           R_FULL: Reason.CAPACITY, R_BAND: Reason.RULE, R_PRICED: Reason.CAPACITY}


@dataclass(frozen=True, slots=True)
class Explanations:
    """Per account: chosen and alternative index options, reason code and named resource."""

    model: Model
    chosen: IntArray
    alt: IntArray
    code: IntArray
    resource: IntArray  # resource number named by the reason, -1 when none
    used: IntArray
    rho: FloatArray

    def choice(self, option: int) -> Choice:
        """An index option (or no_action) as a Choice."""
        if option < 0:
            return NO_ACTION
        index = self.model.index
        collector = int(index.opt_collector[option])
        name = index.resource_names[collector].removeprefix("collector:") if collector >= 0 else None
        return Choice(treatment=TREATMENTS[index.opt_treatment[option]], collector=name,
                      value=int(index.opt_value[option]), option=int(index.opt_pos[option]))

    def assignment(self, a: int) -> Assignment:
        """The explained assignment of account number `a`."""
        alt = int(self.alt[a])
        code = int(self.code[a])
        resource = int(self.resource[a])
        return Assignment(
            account=self.model.index.account_ids[a],
            chosen=self.choice(int(self.chosen[a])),
            alternative=None if alt == NOTHING else self.choice(alt),
            reason=_REASON.get(code),
            resource=self.model.index.resource_names[resource] if resource >= 0 else None,
            detail=self.detail(a),
        )

    def unplaced(self, a: int) -> Unplaced:
        """Account `a` as an unplaced account (its best option is its alternative)."""
        item = self.assignment(a)
        assert item.alternative is not None and item.reason is not None
        return Unplaced(account=item.account, best=item.alternative, reason=item.reason,
                        resource=item.resource, detail=item.detail)

    def detail(self, a: int) -> str:
        """A sentence for the reason of account `a`."""
        index, code, r = self.model.index, int(self.code[a]), int(self.resource[a])
        mine, alt = int(self.chosen[a]), int(self.alt[a])
        name = index.resource_names[r] if r >= 0 else ""
        if code == R_NONE:
            return "no other option"
        if code == R_VALUE:
            return f"worth {_raw(self.model, alt)} fen, the chosen option {_raw(self.model, mine)} fen"
        if code == R_CONTINUITY:
            gain = _raw(self.model, alt) - _raw(self.model, mine)
            return f"switching from the incumbent gains {gain} fen, within the continuity threshold {self.model.bonus}"
        if code == R_PRUNED:
            return f"not among this account's top {self.model.top_k} collectors"
        if code == R_TOO_BIG:
            if index.capacity[r] == 0:
                return f"{name} has no capacity today"
            return f"needs more of {name} than its whole capacity ({index.capacity[r]})"
        if code == R_FULL:
            return f"{name} is full ({self.used[r]}/{index.capacity[r]})"
        if code == R_BAND:
            team = index.team_names[int(index.team[r])]
            return f"{name} would exceed the workload band of team {team}"
        return f"{name} is worth more to other accounts ({self.rho[r]:.0f} fen per unit)"


class Lazy(Sequence[Assignment]):
    """Assignments of every account, in input order, built on access."""

    def __init__(self, table: Explanations) -> None:
        self._table = table
        self._position: dict[str, int] | None = None

    def of(self, account_id: str) -> Assignment:
        """The assignment of one account by id."""
        if self._position is None:
            self._position = {a: k for k, a in enumerate(self._table.model.index.account_ids)}
        return self._table.assignment(self._position[account_id])

    def __len__(self) -> int:
        return len(self._table.chosen)

    @overload
    def __getitem__(self, i: int) -> Assignment: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Assignment]: ...
    def __getitem__(self, i: int | slice) -> Assignment | Sequence[Assignment]:
        if isinstance(i, slice):
            return [self._table.assignment(k) for k in range(*i.indices(len(self)))]
        return self._table.assignment(range(len(self))[i])

    def __iter__(self) -> Iterator[Assignment]:
        return (self._table.assignment(k) for k in range(len(self)))


class LazyUnplaced(Sequence[Unplaced]):
    """Accounts whose best option was not placed, built on access."""

    def __init__(self, table: Explanations, accounts: IntArray) -> None:
        self._table = table
        self._accounts = accounts

    def __len__(self) -> int:
        return len(self._accounts)

    @overload
    def __getitem__(self, i: int) -> Unplaced: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Unplaced]: ...
    def __getitem__(self, i: int | slice) -> Unplaced | Sequence[Unplaced]:
        if isinstance(i, slice):
            return [self._table.unplaced(int(a)) for a in self._accounts[i]]
        return self._table.unplaced(int(self._accounts[i]))

    def __iter__(self) -> Iterator[Unplaced]:
        return (self._table.unplaced(int(a)) for a in self._accounts)


def explain(
    *, model: Model, choice: IntArray, rho: FloatArray
) -> tuple[Sequence[Assignment], Sequence[Unplaced], Mapping[str, int]]:
    """Assignments with explanations, the unplaced accounts, and resource usage by name."""
    chosen = gather(model.opt, choice, NONE)
    alt = _alternatives(model=model, chosen=chosen)
    used = usage(model=model, choice=choice)
    code, resource = _reasons(model=model, chosen=chosen, alt=alt, used=used, rho=rho)
    table = Explanations(model=model, chosen=chosen, alt=alt, code=code, resource=resource, used=used, rho=rho)
    beaten = (alt >= 0) & (_adj(model, alt) > np.maximum(_adj(model, chosen), 0))
    names = dict(zip(model.index.resource_names, used.tolist(), strict=True))
    return Lazy(table), LazyUnplaced(table, np.flatnonzero(beaten)), names


def _adj(model: Model, options: IntArray) -> IntArray:
    return gather(model.adjusted, options, 0)


def _raw(model: Model, option: int) -> int:
    return 0 if option < 0 else int(model.index.opt_value[option])


def _alternatives(*, model: Model, chosen: IntArray) -> IntArray:
    """Per account the best option (no_action included) other than the chosen one."""
    index = model.index
    cand = np.flatnonzero(np.arange(index.n_options) != chosen[index.opt_account])
    order = cand[np.lexsort((-model.adjusted[cand], index.opt_account[cand]))]
    acc = index.opt_account[order]
    first = run_starts(acc)
    best = np.full(index.n_accounts, NOTHING, dtype=np.int64)
    best[acc[first]] = order[first]
    # no_action competes when something else was chosen
    none_wins = (chosen != NONE) & ((best == NOTHING) | (_adj(model, best) < 0))
    return np.where(none_wins, NONE, best)


def _reasons(
    *, model: Model, chosen: IntArray, alt: IntArray, used: IntArray, rho: FloatArray
) -> tuple[IntArray, IntArray]:
    """Reason codes in the order of the module docstring, and the resource each one names."""
    index = model.index
    code = np.full(index.n_accounts, R_PRICED, dtype=np.int64)
    resource = np.full(index.n_accounts, -1, dtype=np.int64)
    raw = gather(index.opt_value, alt, 0)
    raw_mine = gather(index.opt_value, chosen, 0)
    worse = _adj(model, alt) <= _adj(model, chosen)
    pending = alt >= 0
    code[pending & (gather(model.state, alt, -1) == PRUNED)] = R_PRUNED
    full = _blocking(model=model, chosen=chosen, alt=alt, used=used, rho=rho)
    hit = pending & (code != R_PRUNED) & (full >= 0)
    code[hit], resource[hit] = R_FULL, full[hit]
    code[hit & (gather(model.state, alt, -1) == TOO_BIG)] = R_TOO_BIG
    rest = np.flatnonzero(pending & (code == R_PRICED))
    band = _band_blocked(model=model, chosen=chosen, alt=alt, used=used, accounts=rest)
    code[band], resource[band] = R_BAND, index.opt_collector[alt[band]]
    priced = np.flatnonzero(pending & (code == R_PRICED))
    resource[priced] = _scarcest(model=model, options=alt[priced], rho=rho)
    code[worse] = np.where(raw[worse] > raw_mine[worse], R_CONTINUITY, R_VALUE)
    resource[worse] = -1
    code[alt == NOTHING] = R_NONE
    return code, resource


def _uses_table(model: Model, options: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """(position in `options`, resource, amount) for every use of the given index options."""
    index = model.index
    lo = np.searchsorted(index.use_option, options)
    hi = np.searchsorted(index.use_option, options, side="right")
    count = hi - lo
    which = np.repeat(np.arange(len(options)), count)
    at = np.repeat(lo - np.r_[0, np.cumsum(count)[:-1]], count) + np.arange(count.sum())
    return which, index.use_resource[at], index.use_amount[at]


def _blocking(*, model: Model, chosen: IntArray, alt: IntArray, used: IntArray, rho: FloatArray) -> IntArray:
    """Per account the full resource (highest price first) that keeps out its alternative; -1 none."""
    out = np.full(model.n_accounts, -1, dtype=np.int64)
    accounts = np.flatnonzero(alt >= 0)
    which, res, amt = _uses_table(model, alt[accounts])
    acc = accounts[which]
    freed = _freed(model=model, chosen=chosen, accounts=acc, resources=res)
    full = used[res] - freed + amt > model.capacity[res]
    acc, res = acc[full], res[full]
    order = np.lexsort((-rho[res], acc))
    first = run_starts(acc[order])
    out[acc[order][first]] = res[order][first]
    return out


def _freed(*, model: Model, chosen: IntArray, accounts: IntArray, resources: IntArray) -> IntArray:
    """What each account's chosen option uses of the given resource (given back if it switched)."""
    index = model.index
    mine = chosen[accounts]
    freed = np.zeros(len(accounts), dtype=np.int64)
    has = np.flatnonzero(mine >= 0)
    if len(has) == 0:
        return freed
    key = index.use_option * index.n_resources + index.use_resource
    order = np.argsort(key, kind="stable")
    want = mine[has] * index.n_resources + resources[has]
    pos = np.minimum(np.searchsorted(key[order], want), len(key) - 1)
    hit = key[order][pos] == want
    freed[has[hit]] = index.use_amount[order][pos[hit]]
    return freed


def _band_blocked(*, model: Model, chosen: IntArray, alt: IntArray, used: IntArray, accounts: IntArray) -> IntArray:
    """Accounts whose alternative's collector would break the workload band (exact integers)."""
    bal = model.balance
    if bal is None or len(accounts) == 0:
        return np.zeros(0, dtype=np.int64)
    collector = model.index.opt_collector[alt[accounts]]
    accounts = accounts[(collector >= 0) & bal.balanced[np.maximum(collector, 0)]]
    team_load = np.bincount(bal.team[bal.balanced], weights=used[bal.balanced], minlength=len(bal.team_minutes))
    num, den = (1 + bal.band).numerator, (1 + bal.band).denominator
    blocked = []
    for a in accounts.tolist():
        option, mine = int(alt[a]), int(chosen[a])
        c = int(model.index.opt_collector[option])
        t = int(bal.team[c])
        add, give = _on(model, option, c), _on(model, mine, c)
        team_give = sum(q for r, q in _all_uses(model, mine) if bal.balanced[r] and bal.team[r] == t)
        load = int(used[c]) - give + add
        team = int(team_load[t]) - team_give + add
        if load * int(bal.team_minutes[t]) * den > num * int(model.capacity[c]) * team:
            blocked.append(a)
    return np.array(blocked, dtype=np.int64)


def _all_uses(model: Model, option: int) -> list[tuple[int, int]]:
    if option < 0:
        return []
    index = model.index
    lo, hi = np.searchsorted(index.use_option, [option, option + 1])
    return list(zip(index.use_resource[lo:hi].tolist(), index.use_amount[lo:hi].tolist(), strict=True))


def _on(model: Model, option: int, resource: int) -> int:
    return sum(q for r, q in _all_uses(model, option) if r == resource)


def _scarcest(*, model: Model, options: IntArray, rho: FloatArray) -> IntArray:
    """Per option its resource with the highest price; -1 for options that use nothing."""
    out = np.full(len(options), -1, dtype=np.int64)
    which, res, _ = _uses_table(model, options)
    order = np.lexsort((-rho[res], which))
    first = run_starts(which[order])
    out[which[order][first]] = res[order][first]
    return out
