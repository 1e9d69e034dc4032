"""The problem flattened into numpy arrays: what every solver stage works on.

Options are numbered in account order; `uses` is a sparse (option, resource, amount) list so an
option may consume any number of resources. Values stay int64 fen here; stages that need floats
convert locally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from buyu.optimizer.problem import Problem, Treatment

TREATMENTS: tuple[Treatment, ...] = tuple(Treatment)
TREATMENT_CODE = {t: i for i, t in enumerate(TREATMENTS)}

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]


def run_starts(keys: NDArray[np.int64]) -> BoolArray:
    """True where a run of equal keys starts (keys grouped, e.g. sorted); empty in, empty out."""
    out = np.ones(len(keys), dtype=np.bool_)
    out[1:] = keys[1:] != keys[:-1]
    return out


def gather(values: NDArray[Any], idx: IntArray, fill: float) -> NDArray[Any]:
    """values[idx] where idx >= 0, else fill (safe on empty `values`)."""
    out = np.full(len(idx), fill, dtype=values.dtype)
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return out


@dataclass(frozen=True, slots=True)
class Index:
    """Columnar view of a Problem (all options, before any pruning)."""

    resource_names: tuple[str, ...]
    capacity: IntArray  # per resource
    team: IntArray  # per resource: balance team number, -1 when not a collector
    team_names: tuple[str, ...]
    account_ids: tuple[str, ...]
    opt_account: IntArray  # per option: account number (non-decreasing)
    opt_pos: IntArray  # per option: position in Account.options
    opt_value: IntArray  # per option: expected net value, fen
    opt_incumbent: BoolArray  # per option: performed by the account's incumbent collector
    opt_treatment: IntArray  # per option: index into TREATMENTS
    opt_collector: IntArray  # per option: collector resource number, -1 when none
    use_option: IntArray  # per use: option number
    use_resource: IntArray  # per use: resource number
    use_amount: IntArray  # per use: amount consumed

    @property
    def n_accounts(self) -> int:
        """Number of accounts."""
        return len(self.account_ids)

    @property
    def n_options(self) -> int:
        """Number of listed options (no_action excluded)."""
        return len(self.opt_account)

    @property
    def n_resources(self) -> int:
        """Number of resources (pooled and collector minutes)."""
        return len(self.resource_names)


def build_index(problem: Problem) -> Index:
    """Flatten a validated problem; one pass over its options."""
    names = problem.resource_names
    number = {name: i for i, name in enumerate(names)}
    acc: list[int] = []
    pos: list[int] = []
    val: list[int] = []
    inc: list[bool] = []
    trt: list[int] = []
    col: list[int] = []
    u_opt: list[int] = []
    u_res: list[int] = []
    u_amt: list[int] = []
    code = TREATMENT_CODE
    for a, account in enumerate(problem.accounts):
        incumbent = account.incumbent
        for j, option in enumerate(account.options):
            k = len(acc)
            acc.append(a)
            pos.append(j)
            val.append(option.value)
            trt.append(code[option.treatment])
            collector = option.collector
            inc.append(collector is not None and collector == incumbent)
            col.append(-1 if collector is None else number["collector:" + collector])
            for name, amount in option.uses:
                u_opt.append(k)
                u_res.append(number[name])
                u_amt.append(amount)
    team_names = tuple(sorted({c.team for c in problem.collectors if c.team is not None}))
    team_no = {t: i for i, t in enumerate(team_names)}
    team = np.full(len(names), -1, dtype=np.int64)
    for c in problem.collectors:
        if c.team is not None:
            team[number[c.resource]] = team_no[c.team]
    return Index(
        resource_names=names,
        capacity=np.array([problem.capacity(n) for n in names], dtype=np.int64),
        team=team,
        team_names=team_names,
        account_ids=tuple(a.id for a in problem.accounts),
        opt_account=np.array(acc, dtype=np.int64),
        opt_pos=np.array(pos, dtype=np.int64),
        opt_value=np.array(val, dtype=np.int64),
        opt_incumbent=np.array(inc, dtype=np.bool_),
        opt_treatment=np.array(trt, dtype=np.int64),
        opt_collector=np.array(col, dtype=np.int64),
        use_option=np.array(u_opt, dtype=np.int64),
        use_resource=np.array(u_res, dtype=np.int64),
        use_amount=np.array(u_amt, dtype=np.int64),
    )
