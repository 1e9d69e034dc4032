"""Resource prices and the upper bound, from the Lagrangian dual.

Pricing every capacity row (pi_r >= 0) and every workload-band row (mu_c >= 0) leaves a problem
that splits per account:

    D(pi, mu) = sum_a max(0, max_o v_o - q_o . rho) + sum_r C_r pi_r,
    rho_r = pi_r + mu_r - sum_{c in team(r)} beta_c mu_c   (the effective price of a unit of r)

and D is an upper bound on every plan for every pi, mu >= 0 (weak duality); its minimum equals
the LP relaxation's optimum. D is piecewise linear, and coordinate-wise "market clearing" stalls on
its kinks, so we minimise the entropy-smoothed dual

    F_tau = sum_a tau log(1 + sum_o exp(r_o / tau)) + C . pi      (F_tau >= D >= OPT)

by diagonal Newton steps with per-price trust radii (Rprop: a radius halves when its gradient
changes sign, grows otherwise), lowering tau in stages. The exact D is free at every iterate
(the per-account max is computed anyway), so the best iterate gives the bound. All of it is a
handful of vectorised passes over the options per iteration: no LP solve of the full problem.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.optimize import linprog

from buyu.optimizer.index import FloatArray
from buyu.optimizer.model import ACTIVE, PRUNED, Balance, Model

#: temperature stages as multiples of the mean positive option value, and iterations per stage
SCHEDULE: tuple[tuple[float, int], ...] = ((0.015, 80), (0.0015, 80), (0.0003, 60))
#: iterations every stage gets, deadline or not
MIN_STEPS = 20


@dataclass(frozen=True, slots=True)
class Prices:
    """Dual prices and the bound they certify."""

    rho: FloatArray  # effective price per unit of each resource (may be < 0 through the band)
    pi: FloatArray  # capacity multipliers
    mu: FloatArray  # band multipliers (0 where no band row)
    bound: float  # D over every positive option, top-k pruned ones included
    iterations: int


@dataclass(slots=True)
class _Smoothed:
    """The active options as sparse operators, for the smoothed-dual iterations.

    Options are reordered into blocks of accounts with the same number of options, each block
    laid out slot-major, so per-account max and sum are elementwise operations over k rows of a
    (k, accounts) array instead of segmented reductions (three times faster in numpy).
    """

    val: NDArray[np.float32]  # per option, block order (float32: see _newton_step)
    blocks: list[tuple[int, int, int]]  # (start, options per account k, accounts)
    g: sp.csr_matrix  # resources x options: amounts
    gt: sp.csr_matrix  # options x resources
    g2: sp.csr_matrix  # squared amounts
    cap: FloatArray
    balance: Balance | None


def effective(*, pi: FloatArray, mu: FloatArray, balance: Balance | None) -> FloatArray:
    """rho = pi + (band rows)^T mu."""
    if balance is None:
        return pi
    b = balance.balanced
    nu = np.bincount(balance.team[b], weights=balance.beta[b] * mu[b], minlength=len(balance.team_minutes))
    rho = pi + mu
    rho[b] -= nu[balance.team[b]]
    return rho


def dual_bound(*, model: Model, rho: FloatArray, pi: FloatArray) -> float:
    """D at these prices over every option a plan may use (top-k pruned ones too): an upper bound."""
    index = model.index
    live = (model.state == ACTIVE) | (model.state == PRUNED)
    reduced = model.adjusted.astype(np.float64)
    np.subtract.at(reduced, index.use_option, index.use_amount * rho[index.use_resource])
    best = np.zeros(index.n_accounts)
    np.maximum.at(best, index.opt_account[live], reduced[live])
    return float(best.sum() + model.capacity @ pi)


def solve_dual(*, model: Model, deadline: float, schedule: tuple[tuple[float, int], ...] = SCHEDULE) -> Prices:
    """Minimise the smoothed dual through the temperature schedule within the deadline.

    When the deadline cannot fit the whole schedule, the stages still to come are shortened in
    proportion (re-measured after each stage): a short cold stage gives far better prices than
    a long warm one cut off half way. Every stage gets at least MIN_STEPS iterations, even past
    the deadline: a bound from a half-cooled dual is not worth reporting."""
    n_res = model.n_resources
    pi, mu = np.zeros(n_res), np.zeros(n_res)
    best = (np.inf, pi, mu)
    iterations = 0
    if model.n_active:
        ops = _operators(model)
        scale = float(np.mean(ops.val, dtype=np.float64))
        radius = _initial_radius(model=model, scale=scale)
        state = (pi, mu, radius.copy(), radius.copy(), np.zeros(n_res), np.zeros(n_res))
        started = time.perf_counter()
        fraction = 1.0
        for stage, (factor, steps) in enumerate(schedule):
            for step in range(max(MIN_STEPS, round(steps * fraction))):
                if step >= MIN_STEPS and time.perf_counter() > deadline:
                    break
                state, d = _newton_step(ops=ops, state=state, tau=factor * scale, base=radius)
                iterations += 1
                if d < best[0]:
                    best = (d, state[0], state[1])
                if stage == 0 and step == 4:
                    fraction = _affordable(steps=sum(n for _, n in schedule) - 5, started=started,
                                           iterations=iterations, deadline=deadline)
            fraction = _affordable(steps=sum(n for _, n in schedule[stage + 1 :]), started=started,
                                   iterations=iterations, deadline=deadline)
        _, pi, mu = best
    rho = effective(pi=pi, mu=mu, balance=model.balance)
    bound = dual_bound(model=model, rho=rho, pi=pi)
    return Prices(rho=rho, pi=pi, mu=mu, bound=bound, iterations=iterations)


def _affordable(*, steps: int, started: float, iterations: int, deadline: float) -> float:
    """Share of `steps` more iterations that fits in the time left, at the pace so far (at most 1)."""
    now = time.perf_counter()
    per = (now - started) / max(iterations, 1)
    return min(1.0, max(deadline - now, 0.0) / max(per * steps, 1e-9))


def _operators(model: Model) -> _Smoothed:
    """Sparse amount matrices and the block layout of the options (see _Smoothed)."""
    n = model.n_active
    count = np.bincount(model.acc, minlength=model.n_accounts)
    starts = np.r_[0, np.cumsum(count)[:-1]]
    slot = np.arange(n) - starts[model.acc]
    k_of = count[model.acc]
    # block order: by options-per-account, then slot, then account
    order = np.lexsort((model.acc, slot, k_of))
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    blocks = []
    at = 0
    for k in np.unique(count[count > 0]).tolist():
        accounts = int((count == k).sum())
        blocks.append((at, k, accounts))
        at += k * accounts
    amt = model.u_amt.astype(np.float32)
    g = sp.csr_matrix((amt, (model.u_res, position[model.u_opt])), shape=(model.n_resources, n))
    return _Smoothed(
        val=model.val.astype(np.float32)[order],
        blocks=blocks,
        g=g,
        gt=g.T.tocsr(),
        g2=g.multiply(g).tocsr(),
        cap=model.capacity.astype(np.float64),
        balance=model.balance,
    )


def _initial_radius(*, model: Model, scale: float) -> FloatArray:
    # a first price move worth ~5% of a typical option, in each resource's own unit
    amount = np.bincount(model.u_res, weights=model.u_amt, minlength=model.n_resources)
    count = np.bincount(model.u_res, minlength=model.n_resources)
    mean_amount = np.where(count > 0, amount / np.maximum(count, 1), 1.0)
    return 0.05 * scale / mean_amount


_State = tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]


def _newton_step(*, ops: _Smoothed, state: _State, tau: float, base: FloatArray) -> tuple[_State, float]:
    """One damped diagonal-Newton step on F_tau; returns the new state and D at the old prices."""
    pi, mu, radius_pi, radius_mu, last_gp, last_gm = state
    rho = effective(pi=pi, mu=mu, balance=ops.balance)
    # float32 halves the memory traffic of these passes; prices and the bound stay float64 (the
    # reported bound is recomputed exactly by dual_bound)
    r = ops.val - ops.gt @ rho.astype(np.float32)
    p = np.empty_like(r)
    d = float(ops.cap @ pi)
    inv = np.float32(1.0 / tau)
    for start, k, accounts in ops.blocks:
        block = r[start : start + k * accounts].reshape(k, accounts)
        m = np.maximum(block.max(axis=0), np.float32(0.0))
        d += float(m.sum(dtype=np.float64))
        e = np.exp((block - m) * inv)
        z = e.sum(axis=0) + np.exp(-m * inv)  # no_action is the extra term
        p[start : start + k * accounts] = (e / z).ravel()
    use = (ops.g @ p).astype(np.float64)
    curv = (ops.g2 @ (p * (np.float32(1.0) - p))).astype(np.float64) / tau + 1e-12
    grad_pi = ops.cap - use
    grad_mu = _band_gradient(balance=ops.balance, use=use)
    # pi_c and mu_c move the same price rho_c: when both rows push it up, each takes half a step
    both = (grad_pi < 0) & (grad_mu < 0)
    shared = np.where(both, 2.0 * curv, curv)
    pi, radius_pi = _rprop(x=pi, grad=grad_pi, last=last_gp, curv=shared, radius=radius_pi, base=base)
    mu, radius_mu = _rprop(x=mu, grad=grad_mu, last=last_gm, curv=shared, radius=radius_mu, base=base)
    return (pi, mu, radius_pi, radius_mu, grad_pi, grad_mu), d


def _band_gradient(*, balance: Balance | None, use: FloatArray) -> FloatArray:
    """dF/dmu_c = beta_c * L_team - load_c (0 off the band rows)."""
    grad = np.zeros(len(use))
    if balance is None:
        return grad
    b = balance.balanced
    team_load = np.bincount(balance.team[b], weights=use[b], minlength=len(balance.team_minutes))
    grad[b] = balance.beta[b] * team_load[balance.team[b]] - use[b]
    return grad


def _rprop(
    *, x: FloatArray, grad: FloatArray, last: FloatArray, curv: FloatArray, radius: FloatArray, base: FloatArray
) -> tuple[FloatArray, FloatArray]:
    # Newton's step is reliable only where curvature is well measured; the radius guards the rest
    flip = grad * last < 0
    radius = np.where(flip, radius * 0.5, radius * 1.2)
    radius = np.minimum(radius, 20.0 * base + 0.5 * np.abs(x))
    step = np.clip(0.5 * grad / curv, -radius, radius)
    return np.maximum(x - step, 0.0), radius


def lp_prices(*, model: Model, seconds: float) -> Prices | None:
    """Prices from the exact LP relaxation of the pruned model (HiGHS), for days small enough to
    solve it in a fraction of the time limit; None when HiGHS does not finish.

    The LP's duals are only used as prices: the bound is D at those prices over every option
    (pruned ones too), so it is valid for the full problem whatever the LP's accuracy, and equal
    to the LP optimum when nothing was pruned."""
    n, n_res = model.n_active, model.n_resources
    bal = model.balance
    members = np.flatnonzero(bal.balanced) if bal is not None else np.zeros(0, dtype=np.int64)
    n_team = len(bal.team_minutes) if bal is not None else 0
    use = sp.csr_matrix((model.u_amt.astype(np.float64), (model.u_res, model.u_opt)), shape=(n_res, n))
    assign = sp.csr_matrix((np.ones(n), (model.acc, np.arange(n))), shape=(model.n_accounts, n))
    blocks = [sp.hstack([assign, sp.csr_matrix((model.n_accounts, n_team))]),
              sp.hstack([use, sp.csr_matrix((n_res, n_team))])]
    rhs = [np.ones(model.n_accounts), model.capacity.astype(np.float64)]
    a_eq = b_eq = None
    if bal is not None and len(members):
        # load_c - beta_c L_t <= 0 and L_t - sum_c load_c = 0, with one team-load column per team
        team_cols = sp.csr_matrix((-bal.beta[members], (np.arange(len(members)), bal.team[members])),
                                  shape=(len(members), n_team))
        blocks.append(sp.hstack([use[members], team_cols]))
        rhs.append(np.zeros(len(members)))
        summed = sp.csr_matrix((np.ones(len(members)), (bal.team[members], np.arange(len(members)))),
                               shape=(n_team, len(members))) @ use[members]
        a_eq, b_eq = sp.hstack([-summed, sp.identity(n_team)]).tocsr(), np.zeros(n_team)
    cost = -np.r_[model.val.astype(np.float64), np.zeros(n_team)]
    bounds = np.c_[np.zeros(n + n_team), np.r_[np.ones(n), np.full(n_team, np.inf)]]
    res = linprog(cost, A_ub=sp.vstack(blocks).tocsr(), b_ub=np.concatenate(rhs), A_eq=a_eq, b_eq=b_eq,
                  bounds=bounds, method="highs", options={"time_limit": max(seconds, 0.01)})
    if res.status != 0:
        return None
    duals = -np.asarray(res.ineqlin.marginals)
    pi = np.maximum(duals[model.n_accounts : model.n_accounts + n_res], 0.0)
    mu = np.zeros(n_res)
    mu[members] = np.maximum(duals[model.n_accounts + n_res :], 0.0)
    rho = effective(pi=pi, mu=mu, balance=bal)
    return Prices(rho=rho, pi=pi, mu=mu, bound=dual_bound(model=model, rho=rho, pi=pi), iterations=int(res.nit))
