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

from buyu.optimizer.index import FloatArray
from buyu.optimizer.model import ACTIVE, PRUNED, Balance, Model

#: temperature stages as multiples of the mean positive option value, and iterations per stage
SCHEDULE: tuple[tuple[float, int], ...] = ((0.015, 100), (0.0015, 100))


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

    val: FloatArray  # per option, block order
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

    When the deadline cannot fit the whole schedule, every stage is shortened in proportion
    (measured on the first iterations): a short cold stage gives far better prices than a long
    warm one cut off half way."""
    n_res = model.n_resources
    pi, mu = np.zeros(n_res), np.zeros(n_res)
    best = (np.inf, pi, mu)
    iterations = 0
    if model.n_active:
        ops = _operators(model)
        scale = float(np.mean(ops.val))
        radius = _initial_radius(model=model, scale=scale)
        state = (pi, mu, radius.copy(), radius.copy(), np.zeros(n_res), np.zeros(n_res))
        started = time.perf_counter()
        fraction = 1.0
        for stage, (factor, steps) in enumerate(schedule):
            for step in range(max(1, round(steps * fraction))):
                if time.perf_counter() > deadline:
                    break
                state, d = _newton_step(ops=ops, state=state, tau=factor * scale, base=radius)
                iterations += 1
                if d < best[0]:
                    best = (d, state[0], state[1])
                if stage == 0 and step == 4:
                    fraction = _affordable(schedule=schedule, per=(time.perf_counter() - started) / 5,
                                           left=deadline - time.perf_counter())
        _, pi, mu = best
    rho = effective(pi=pi, mu=mu, balance=model.balance)
    bound = dual_bound(model=model, rho=rho, pi=pi)
    return Prices(rho=rho, pi=pi, mu=mu, bound=bound, iterations=iterations)


def _affordable(*, schedule: tuple[tuple[float, int], ...], per: float, left: float) -> float:
    """Share of the schedule's iterations that fit in the time left (at most all of them)."""
    total = sum(steps for _, steps in schedule) - 5
    return min(1.0, max(left, 0.0) / max(per * total, 1e-9))


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
    amt = model.u_amt.astype(np.float64)
    g = sp.csr_matrix((amt, (model.u_res, position[model.u_opt])), shape=(model.n_resources, n))
    return _Smoothed(
        val=model.val.astype(np.float64)[order],
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
    r = ops.val - ops.gt @ rho
    p = np.empty_like(r)
    d = float(ops.cap @ pi)
    for start, k, accounts in ops.blocks:
        block = r[start : start + k * accounts].reshape(k, accounts)
        m = np.maximum(block.max(axis=0), 0.0)
        d += float(m.sum())
        e = np.exp((block - m) / tau)
        z = e.sum(axis=0) + np.exp(-m / tau)  # no_action is the extra term
        p[start : start + k * accounts] = (e / z).ravel()
    use = ops.g @ p
    curv = (ops.g2 @ (p * (1.0 - p))) / tau + 1e-12
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
