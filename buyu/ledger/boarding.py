"""Boarding: take over loans that a lender's core system already serviced, with their position.

A collections platform rarely originates the loans it works: lenders and partner platforms hand
over delinquent accounts. Boarding books such a loan as if our ledger had run since
disbursement with the borrower's first `paid_instalments` instalments settled in the source
system: the same schedule maths, interest recognised for every instalment due by the boarding
date, and penalty accrued day by day by the same rule as the nightly step. Its counterpart is
the `boarding_clearing` account, and every per-instalment clearing is posted against its line,
so the journal still derives each line's position (state as of any later date) and
`ledger check` still reconciles. Set-based: one flush per batch, Core executemany for rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from buyu.errors import Conflict, InvalidInput
from buyu.ledger import accrual
from buyu.ledger import service as svc
from buyu.ledger.journal import Account
from buyu.ledger.models import Borrower, Loan, Posting, Product
from buyu.ledger.models import ScheduleLine as Line
from buyu.ledger.schedule import Instalment, Method, build_schedule
from buyu.ledger.schemas import BorrowerIn
from buyu.money import RATE_SCALE, div_round, positive_minor


@dataclass(frozen=True, slots=True)
class BoardingItem:
    """One loan handed over: terms, borrower and how many instalments the source system saw paid."""

    external_ref: str
    product_code: str
    borrower: BorrowerIn
    principal: Decimal
    disbursed_on: date
    paid_instalments: int


def board_loans(*, session: Session, items: Sequence[BoardingItem], on: date) -> list[int]:
    """Board loans with their position as of the end of `on`; returns the new loan ids in order."""
    products = {p.code: p for p in session.scalars(select(Product))}
    svc.require_day_open(session=session, on=on, what="boarding")
    _validate(session=session, items=items, products=products, on=on)
    borrowers = _borrowers(session=session, items=items)
    loans = [_loan(item, products[item.product_code], borrowers[item.borrower.external_ref], on) for item in items]
    session.add_all(loans)
    session.flush()
    per_loan: list[list[dict[str, object]]] = []
    for item, loan in zip(items, loans, strict=True):
        rows = build_schedule(principal=loan.principal_fen, annual_rate_micro=loan.annual_rate_micro,
                              term_months=loan.term_months, method=Method(loan.method), start_date=loan.disbursed_on)
        per_loan.append([_line_row(loan, r, paid=r.seq <= item.paid_instalments, on=on) for r in rows])
    # Core, not the ORM's bulk path: that drops None values and splits the executemany per NULL pattern.
    session.connection().execute(insert(Line), [row for rows in per_loan for row in rows])
    ids = _line_ids(session=session, loan_ids=[loan.id for loan in loans])
    postings = [p for loan, rows in zip(loans, per_loan, strict=True)
                for p in _postings(loan=loan, lines=rows, line_ids=ids, on=on)]
    session.connection().execute(insert(Posting), postings)
    # Ageing is set-based over the book; on the boarding day it agrees with what tonight's step will set.
    accrual.age_loans(session=session, as_of=on)
    loan_ids = [loan.id for loan in loans]  # read before expiring: afterwards each access would reload its row
    session.expire_all()
    return loan_ids


def _validate(*, session: Session, items: Sequence[BoardingItem], products: dict[str, Product], on: date) -> None:
    refs = [i.external_ref for i in items]
    if len(set(refs)) != len(refs):
        raise InvalidInput("duplicate external_ref in the boarding batch", code="duplicate_loan")
    taken = session.scalars(select(Loan.external_ref).where(Loan.external_ref.in_(refs))).all()
    if taken:
        raise Conflict(f"{len(taken)} loans already exist", code="loan_exists", details={"external_refs": taken[:20]})
    for item in items:
        product = products.get(item.product_code)
        if product is None:
            raise InvalidInput(f"no product {item.product_code!r}", code="product_not_found")
        positive_minor(item.principal, field="principal", currency=product.currency)
        if item.disbursed_on >= on:
            raise InvalidInput("a boarded loan must be disbursed before the boarding date", code="invalid_date")
        if not 0 <= item.paid_instalments <= product.term_months:
            raise InvalidInput("paid_instalments out of range", code="invalid_input",
                               details={"external_ref": item.external_ref})


def _borrowers(*, session: Session, items: Sequence[BoardingItem]) -> dict[str, Borrower]:
    refs = {i.borrower.external_ref for i in items}
    found = {b.external_ref: b for b in session.scalars(select(Borrower).where(Borrower.external_ref.in_(refs)))}
    new = [Borrower(**i.borrower.model_dump()) for i in {i.borrower.external_ref: i for i in items}.values()
           if i.borrower.external_ref not in found]
    session.add_all(new)
    session.flush()
    return found | {b.external_ref: b for b in new}


def _loan(item: BoardingItem, product: Product, borrower: Borrower, on: date) -> Loan:
    return Loan(
        external_ref=item.external_ref, borrower_id=borrower.id, product_id=product.id, currency=product.currency,
        principal_fen=positive_minor(item.principal, field="principal", currency=product.currency),
        annual_rate_micro=product.annual_rate_micro, penalty_rate_micro=product.penalty_rate_micro,
        term_months=product.term_months, method=product.method, grace_days=product.grace_days,
        day_count_basis=product.day_count_basis, waterfall=product.waterfall, waterfall_mode=product.waterfall_mode,
        prepayment_mode=product.prepayment_mode, disbursed_on=item.disbursed_on, anchor_day=item.disbursed_on.day,
        schedule_start=item.disbursed_on, status="active", schedule_version=1, accrued_through=on, credit_fen=0,
        dpd=0, bucket="M0", written_off_fen=0, recovered_fen=0, restructure_count=0,
    )


def penalty_to_date(*, principal: int, penalty_from: date, on: date, loan: Loan) -> int:
    """Penalty the nightly step would have accrued on unpaid `principal` from penalty_from through `on`."""
    days = (on - penalty_from).days + 1
    daily = div_round(principal * loan.penalty_rate_micro, loan.day_count_basis * RATE_SCALE)
    return max(days, 0) * daily


def _line_row(loan: Loan, r: Instalment, *, paid: bool, on: date) -> dict[str, object]:
    due = r.due_date <= on
    penalty_from = r.due_date + timedelta(days=loan.grace_days + 1)
    penalty = 0 if paid else penalty_to_date(principal=r.principal, penalty_from=penalty_from, on=on, loan=loan)
    return {
        "loan_id": loan.id, "schedule_version": 1, "seq": r.seq, "due_date": r.due_date, "penalty_from": penalty_from,
        "principal_fen": r.principal, "interest_fen": r.interest,
        "interest_booked_fen": r.interest if due or paid else 0, "penalty_fen": penalty,
        "principal_paid_fen": r.principal if paid else 0, "interest_paid_fen": r.interest if paid else 0,
        "penalty_paid_fen": 0, "principal_waived_fen": 0, "interest_waived_fen": 0, "penalty_waived_fen": 0,
        "principal_open_fen": 0 if paid else r.principal, "valid_from": loan.disbursed_on,
        "cleared_on": min(r.due_date, on) if paid else None,
    }


def _line_ids(*, session: Session, loan_ids: list[int]) -> dict[tuple[int, int], int]:
    out: dict[tuple[int, int], int] = {}
    for start in range(0, len(loan_ids), 5000):
        chunk = loan_ids[start:start + 5000]
        stmt = select(Line.id, Line.loan_id, Line.seq).where(Line.loan_id.in_(chunk))
        for lid, loan_id, seq in session.execute(stmt):
            out[(loan_id, seq)] = lid
    return out


def _postings(*, loan: Loan, lines: Sequence[dict[str, object]], line_ids: dict[tuple[int, int], int],
              on: date) -> list[dict[str, object]]:
    """The journal of a boarded loan: principal, recognitions, history clearings and penalty."""
    out: list[dict[str, object]] = []
    legs: dict[str, int] = {}

    def post(txn: str, kind: str, debit: Account, credit: Account, amount: object, inst: int | None) -> None:
        if int(str(amount)):
            legs[txn] = legs.get(txn, -1) + 1
            out.append({"txn": txn, "leg": legs[txn], "kind": kind, "loan_id": loan.id,
                        "booking_date": on, "debit": debit.value, "credit": credit.value, "amount_fen": amount,
                        "instalment_id": inst, "payment_id": None})

    txn = f"brd:{loan.id}"
    post(txn, "boarding", Account.PRINCIPAL, Account.BOARDING, loan.principal_fen, None)
    for line in lines:
        inst = line_ids[(loan.id, int(str(line["seq"])))]
        # Recognition keeps its own kind so the as-of fold tells it from clearings, as for nightly recognition.
        post(f"int:{inst}", "interest_due", Account.INTEREST, Account.INTEREST_INCOME, line["interest_booked_fen"],
             inst)
        post(txn, "boarding", Account.BOARDING, Account.PRINCIPAL, line["principal_paid_fen"], inst)
        post(txn, "boarding", Account.BOARDING, Account.INTEREST, line["interest_paid_fen"], inst)
        post(txn, "boarding", Account.PENALTY, Account.BOARDING, line["penalty_fen"], inst)
    return out
