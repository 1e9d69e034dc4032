"""Factories for ledger test data, built through the real services."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from buyu.ledger import service as svc
from buyu.ledger.models import Loan, Product
from buyu.ledger.schemas import BorrowerIn, LoanIn, ProductIn

_seq = itertools.count(1)


def make_product(
    session: Session,
    *,
    method: str = "equal_instalment",
    annual_rate: str = "0.12",
    term_months: int = 12,
    penalty_rate: str = "0.18",
    grace_days: int = 0,
    **extra: object,
) -> Product:
    """A product with readable defaults (12% a year, 12 months, 18% penalty, no grace)."""
    n = next(_seq)
    data = ProductIn(
        code=f"P{n}",
        name=f"product {n}",
        annual_rate=Decimal(annual_rate),
        term_months=term_months,
        method=method,
        penalty_rate=Decimal(penalty_rate),
        grace_days=grace_days,
        **extra,
    )
    return svc.create_product(session=session, data=data)


def make_loan(
    session: Session,
    *,
    product: Product | None = None,
    principal: str = "80000.00",
    disbursed_on: date = date(2026, 1, 15),
    **product_kw: object,
) -> Loan:
    """A disbursed loan (creating a product unless one is given)."""
    product = product or make_product(session, **product_kw)  # type: ignore[arg-type]
    n = next(_seq)
    return svc.originate_loan(
        session=session,
        data=LoanIn(
            external_ref=f"L{n}",
            product_code=product.code,
            borrower=BorrowerIn(external_ref=f"B{n}", name=f"Borrower {n}", phone=f"1380000{n:04d}"),
            principal=Decimal(principal),
            disbursed_on=disbursed_on,
            currency=product.currency,
        ),
    )
