"""The repayment waterfall as a pure function: worked examples and properties."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buyu.ledger.waterfall import COMPONENTS, Due, allocate, parse_order

ORDER = ("penalty", "interest", "principal")
DUES = [
    # Listed newest first on purpose: allocation must sort oldest first itself.
    Due(instalment_id=2, due_date=date(2026, 3, 15), penalty=1_595, interest=73_692, principal=637_098),
    Due(instalment_id=1, due_date=date(2026, 2, 15), penalty=10_395, interest=80_000, principal=630_790),
]


def test_instalment_first_clears_the_oldest_instalment_component_by_component():
    """2,000.00 against two overdue instalments pays instalment 1's penalty, interest, then principal.

    103.95 penalty + 800.00 interest = 903.95; the remaining 1,096.05 goes to instalment 1's principal.
    Instalment 2 gets nothing.
    """
    out, left = allocate(amount=200_000, dues=DUES, order=ORDER)
    assert [(a.instalment_id, a.component, a.amount) for a in out] == [
        (1, "penalty", 10_395), (1, "interest", 80_000), (1, "principal", 109_605)]
    assert left == 0


def test_component_first_pays_each_component_across_instalments_first():
    """component_first: both penalties, then both interests, then principal oldest first.

    103.95 + 15.95 penalty, 800.00 + 736.92 interest = 1,656.82; 2,000.00 − 1,656.82 = 343.18 principal.
    """
    out, left = allocate(amount=200_000, dues=DUES, order=ORDER, mode="component_first")
    assert [(a.instalment_id, a.component, a.amount) for a in out] == [
        (1, "penalty", 10_395), (2, "penalty", 1_595), (1, "interest", 80_000), (2, "interest", 73_692),
        (1, "principal", 34_318)]
    assert left == 0


def test_a_custom_order_and_the_leftover():
    """Order interest→principal→penalty leaves penalty last; money beyond everything due is returned as left."""
    out, left = allocate(amount=1_500_000, dues=DUES, order=("interest", "principal", "penalty"))
    assert [(a.instalment_id, a.component) for a in out] == [
        (1, "interest"), (1, "principal"), (1, "penalty"), (2, "interest"), (2, "principal"), (2, "penalty")]
    total_due = sum(d.penalty + d.interest + d.principal for d in DUES)
    assert left == 1_500_000 - total_due == 66_430


def test_bad_orders_and_modes_are_refused():
    """A waterfall must name each component exactly once; unknown modes and negative amounts are refused."""
    with pytest.raises(ValueError):
        parse_order("penalty,interest")
    with pytest.raises(ValueError):
        parse_order("penalty,penalty,principal")
    with pytest.raises(ValueError):
        allocate(amount=1, dues=DUES, order=ORDER, mode="newest_first")
    with pytest.raises(ValueError):
        allocate(amount=-1, dues=DUES, order=ORDER)


_due = st.builds(
    lambda offset, pen, intr, prin: (offset, pen, intr, prin),
    st.integers(min_value=0, max_value=400),
    st.integers(min_value=0, max_value=50_000),
    st.integers(min_value=0, max_value=200_000),
    st.integers(min_value=0, max_value=2_000_000),
)


@settings(max_examples=400, deadline=None)
@given(
    raw=st.lists(_due, min_size=0, max_size=8),
    amount=st.integers(min_value=0, max_value=15_000_000),
    order=st.permutations(COMPONENTS),
    mode=st.sampled_from(["instalment_first", "component_first"]),
)
def test_allocation_sums_to_the_payment_and_follows_the_order(raw, amount, order, mode):
    """allocated + left == amount; nothing is over-paid; a slot is paid only once every earlier slot is full.

    Earlier slots: instalment_first orders by (instalment age, component order), component_first by
    (component order, instalment age). The left-over is positive only when everything due is paid.
    """
    dues = [Due(instalment_id=i + 1, due_date=date(2026, 1, 1) + timedelta(days=o), penalty=p, interest=n,
                principal=q) for i, (o, p, n, q) in enumerate(raw)]
    out, left = allocate(amount=amount, dues=dues, order=order, mode=mode)
    assert sum(a.amount for a in out) + left == amount
    assert all(a.amount > 0 for a in out)
    paid = {(a.instalment_id, a.component): a.amount for a in out}
    assert len(paid) == len(out)  # each slot at most once
    by_id = {d.instalment_id: d for d in dues}
    for (inst, comp), amt in paid.items():
        assert amt <= by_id[inst].open(comp)
    oldest = sorted(dues, key=lambda d: (d.due_date, d.instalment_id))
    slots = ([(d, c) for d in oldest for c in order] if mode == "instalment_first"
             else [(d, c) for c in order for d in oldest])
    seen_short = False
    for d, c in slots:
        got = paid.get((d.instalment_id, c), 0)
        if seen_short:
            assert got == 0, "a later slot was paid before an earlier one was full"
        if got < d.open(c):
            seen_short = True
    total = sum(d.penalty + d.interest + d.principal for d in dues)
    assert left == max(amount - total, 0)
