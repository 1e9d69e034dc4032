"""Roll rates, censoring and NPL valuation on a synthetic chain (pure)."""

from __future__ import annotations

import numpy as np

from buyu.scoring.features import FeatureFrame
from buyu.scoring.rollrate import LIVE, STATES, Periods, fit_roll_rates, periods, shrink
from buyu.scoring.valuation import discount_factors, fit_valuation, value_pool
from tests.scoring.helpers import D0, daily_snapshots, history, log, snapshot_log


def _frame(n: int, rng: np.random.Generator) -> FeatureFrame:
    return FeatureFrame(numeric=rng.normal(size=(n, 1)), numeric_names=("noise",),
                        categorical=np.zeros((n, 1), dtype=np.int64), categorical_names=("segment",),
                        levels=(("consumer",),))


def _chain(n: int, seed: int = 0) -> tuple[Periods, FeatureFrame]:
    """Periods from a known chain: M1 accounts pay 50% of the time (a third of their balance)."""
    rng = np.random.default_rng(seed)
    state0 = rng.integers(1, 3, n)
    paid = rng.random(n) < np.where(state0 == 1, 0.5, 0.2)
    balance = np.full(n, 1_000_000.0)
    cash = np.where(paid, balance / 3, 0.0)
    state1 = np.where(paid, 0, np.minimum(state0 + 1, 4))
    data = Periods(loan=np.arange(n), start=np.full(n, D0), state0=state0, state1=state1, cash=cash,
                   balance0=balance)
    return data, _frame(n, rng)


def test_roll_rate_rows_are_shares_and_thin_segments_lean_on_the_book() -> None:
    """Every row sums to 1; a segment with two accounts looks like the book, not like its two accounts."""
    data, _ = _chain(4000)
    seg = np.zeros(data.size, dtype=np.int64)
    seg[:2] = 1
    rates = fit_roll_rates(data=data, segment=seg, levels=("big", "tiny"), dimension="segment")
    assert np.allclose(rates.by_segment.sum(axis=-1), 1.0) and np.allclose(rates.book.sum(axis=-1), 1.0)
    m1 = STATES.index("M1")
    assert abs(rates.by_segment[1, m1, 0] - rates.book[m1, 0]) < 0.1
    assert abs(rates.book[m1, 0] - 0.5) < 0.05
    assert np.allclose(shrink(np.zeros((1, 7), dtype=np.int64), np.full((1, 7), 1 / 7), 3.0), 1 / 7)


def test_unfinished_periods_are_censored() -> None:
    """A period that has not ended by the history's last day is left out, not read as 'nothing paid'."""
    h = history(1, last=40, snapshots=snapshot_log(daily_snapshots(1, 0, 40)), payments=log([(1, 35)], amount=[1]))
    done = periods(history=h, starts=[D0 + 5, D0 + 20])
    assert done.size == 1 and done.start[0] == D0 + 5 and done.cash[0] == 0


def test_valuation_recovers_the_chain_and_calls_hold_or_sell() -> None:
    """Expected first-month cash of M1 accounts is about 0.5 × 1/3 of the balance; the present value is
    below the undiscounted sum; the 90% interval holds the value; a bid above the value says sell."""
    data, frame = _chain(6000)
    model = fit_valuation(frame=frame, data=data, bootstrap=5)
    rng = np.random.default_rng(9)
    pool_frame = _frame(500, rng)
    state = np.ones(500, dtype=np.int64)
    curves = model.curves(frame=pool_frame, state=state, balance_fen=np.full(500, 1_000_000.0))
    assert abs(curves[:, 0].mean() / 1_000_000 - 0.5 / 3) < 0.02
    assert (curves.sum(axis=1) <= 1_000_000 + 1e-6).all()  # never more than the balance
    pool = value_pool(model=model, frame=pool_frame, state=state, balance_fen=np.full(500, 1_000_000.0),
                      annual_rate=0.1, bid_share=0.9, paths=50)
    assert pool.low_fen <= pool.value_fen <= pool.high_fen < pool.balance_fen
    assert pool.value_fen < pool.expected_recovery_fen and pool.recommendation == "sell"
    cheap = value_pool(model=model, frame=pool_frame, state=state, balance_fen=np.full(500, 1_000_000.0),
                       annual_rate=0.1, bid_share=0.01, paths=20)
    assert cheap.recommendation == "hold" and cheap.p_hold_beats_bid is not None and cheap.p_hold_beats_bid > 0.9
    assert discount_factors(0.0).tolist() == [1.0] * 12 and LIVE == 5


def test_a_court_case_pays_in_the_month_its_age_reaches_recovery() -> None:
    """Cases in their second month after filing recover 80% of the balance; a pool filed 5 days ago expects
    little in month 1 and the court's cash in month 2, because the curve ages the case a month at a time."""
    from buyu.scoring.valuation import Cases

    rng = np.random.default_rng(3)
    n = 6000
    age = np.where(rng.random(n) < 0.5, rng.integers(0, 90, n).astype(np.float64), np.nan)
    recovering = (age >= 30) & (age < 60)
    paid = rng.random(n) < np.where(recovering, 0.9, 0.05)
    balance = np.full(n, 1_000_000.0)
    state0 = np.full(n, 4)
    data = Periods(loan=np.arange(n), start=np.full(n, D0), state0=state0, state1=np.where(paid, 4, 4),
                   cash=np.where(paid, np.where(recovering, 0.8, 0.05) * balance, 0.0), balance0=balance)
    cases = Cases(legal_age=age, agency_age=np.full(n, np.nan))
    model = fit_valuation(frame=_frame(n, rng), data=data, cases=cases, bootstrap=0)
    pool = 200
    filed = Cases(legal_age=np.full(pool, 5.0), agency_age=np.full(pool, np.nan))
    curves = model.curves(frame=_frame(pool, rng), state=np.full(pool, 4), balance_fen=np.full(pool, 1_000_000.0),
                          cases=filed)
    month = curves.mean(axis=0) / 1_000_000
    assert month[0] < 0.05 and month[1] > 0.5 and month[2] < month[1] / 5
