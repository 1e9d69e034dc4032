"""Ledger services: products, origination, payments, reversal, write-off, restructure, settlement.

Every function is keyword-only, takes the caller's Session and never commits: the unit of work
(API request or CLI command) owns the transaction, so a failed posting writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from buyu.errors import Conflict, InvalidInput, NotFound
from buyu.ledger import accrual
from buyu.ledger.journal import Account, Leg, post_entry
from buyu.ledger.models import Borrower, EodRun, Loan, Payment, Posting, Product
from buyu.ledger.models import ScheduleLine as Line
from buyu.ledger.schedule import (
    Instalment,
    Method,
    accrued_interest,
    add_months,
    build_schedule,
    periods_for_payment,
)
from buyu.ledger.schemas import (
    BorrowerIn,
    LoanIn,
    PaymentIn,
    ProductIn,
    RestructureIn,
    SettlementIn,
    WriteOffIn,
)
from buyu.ledger.waterfall import Allocation, Due, allocate
from buyu.money import CURRENCIES, RATE_SCALE, div_round, positive_minor, rate_to_micro

MAX_PRINCIPAL_FEN = 1_000_000_000  # 10 million yuan: far above any small loan, catches unit slips
ANNUAL_RATE_RANGE = (Decimal("0"), Decimal("0.36"))
PENALTY_RATE_RANGE = (Decimal("0"), Decimal("1"))
COMPONENT_ACCOUNT = {"principal": Account.PRINCIPAL, "interest": Account.INTEREST, "penalty": Account.PENALTY}


# --------------------------------------------------------------------------- products & loans


def create_product(*, session: Session, data: ProductIn) -> Product:
    """Register a loan product."""
    if session.scalar(select(Product.id).where(Product.code == data.code)) is not None:
        raise Conflict(f"product {data.code} already exists", code="product_exists")
    product = Product(
        code=data.code,
        name=data.name,
        annual_rate_micro=rate_to_micro(data.annual_rate, field="annual_rate", low=ANNUAL_RATE_RANGE[0],
                                        high=ANNUAL_RATE_RANGE[1]),
        term_months=data.term_months,
        method=data.method.value,
        penalty_rate_micro=rate_to_micro(data.penalty_rate, field="penalty_rate", low=PENALTY_RATE_RANGE[0],
                                         high=PENALTY_RATE_RANGE[1]),
        grace_days=data.grace_days,
        waterfall=data.waterfall,
        waterfall_mode=data.waterfall_mode,
        day_count_basis=360 if data.day_count == "ACT/360" else 365,
        currency=data.currency,
        prepayment_mode=data.prepayment_mode,
    )
    session.add(product)
    session.flush()
    return product


def get_product(*, session: Session, code: str) -> Product:
    """A product by code."""
    product = session.scalar(select(Product).where(Product.code == code))
    if product is None:
        raise NotFound(f"no product {code!r}", code="product_not_found", details={"product_code": code})
    return product


def upsert_borrower(*, session: Session, data: BorrowerIn) -> Borrower:
    """The borrower with this external reference, created on first sight."""
    borrower = session.scalar(select(Borrower).where(Borrower.external_ref == data.external_ref))
    if borrower is None:
        borrower = Borrower(**data.model_dump())
        session.add(borrower)
        session.flush()
    return borrower


def originate_loan(*, session: Session, data: LoanIn) -> Loan:
    """Book a new loan, its schedule and the disbursement entry."""
    product = get_product(session=session, code=data.product_code)
    if data.currency != product.currency:
        raise InvalidInput(
            f"currency {data.currency} does not match product currency {product.currency}",
            code="currency_mismatch",
            details={"expected": product.currency, "got": data.currency},
        )
    principal = positive_minor(data.principal, currency=data.currency, field="principal")
    if principal > MAX_PRINCIPAL_FEN:
        raise InvalidInput("principal exceeds the 10,000,000.00 ceiling", code="amount_too_large")
    if session.scalar(select(Loan.id).where(Loan.external_ref == data.external_ref)) is not None:
        raise Conflict(f"loan {data.external_ref} already exists", code="loan_exists")
    require_day_open(session=session, on=data.disbursed_on, what="disbursement")
    rate = product.annual_rate_micro
    if data.annual_rate is not None:
        rate = rate_to_micro(data.annual_rate, field="annual_rate", low=ANNUAL_RATE_RANGE[0],
                             high=ANNUAL_RATE_RANGE[1])
    term = data.term_months or product.term_months
    borrower = upsert_borrower(session=session, data=data.borrower)
    loan = Loan(
        external_ref=data.external_ref, borrower_id=borrower.id, product_id=product.id, currency=data.currency,
        principal_fen=principal, annual_rate_micro=rate, penalty_rate_micro=product.penalty_rate_micro,
        term_months=term, method=product.method, grace_days=product.grace_days,
        day_count_basis=product.day_count_basis, waterfall=product.waterfall,
        waterfall_mode=product.waterfall_mode, prepayment_mode=product.prepayment_mode,
        disbursed_on=data.disbursed_on, anchor_day=data.disbursed_on.day, schedule_start=data.disbursed_on,
        status="active", schedule_version=1, accrued_through=data.disbursed_on, credit_fen=0, dpd=0,
        bucket="M0", written_off_fen=0, recovered_fen=0, restructure_count=0,
    )
    session.add(loan)
    session.flush()
    rows = build_schedule(principal=principal, annual_rate_micro=rate, term_months=term,
                          method=Method(product.method), start_date=data.disbursed_on)
    _insert_lines(session=session, loan=loan, rows=rows, version=1, valid_from=data.disbursed_on)
    post_entry(session=session, txn=f"dis:{loan.id}", kind="disbursement", loan_id=loan.id,
               booking_date=data.disbursed_on, legs=[Leg(Account.PRINCIPAL, Account.CASH, principal)])
    return loan


def get_loan(*, session: Session, loan_id: int, lock: bool = False) -> Loan:
    """A loan by id (row-locked for the rest of the transaction when `lock`)."""
    stmt = select(Loan).where(Loan.id == loan_id).execution_options(populate_existing=True)
    if lock:
        stmt = stmt.with_for_update()
    loan = session.scalar(stmt)
    if loan is None:
        raise NotFound(f"no loan {loan_id}", code="loan_not_found", details={"loan_id": loan_id})
    return loan


def live_lines(*, session: Session, loan_id: int) -> list[Line]:
    """The loan's instalments on its live schedule, oldest first, freshly read."""
    stmt = (
        select(Line)
        .where(Line.loan_id == loan_id, Line.superseded_on.is_(None))
        .order_by(Line.due_date, Line.seq)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


# --------------------------------------------------------------------------- payments


@dataclass(frozen=True, slots=True)
class Posted:
    """A payment and whether this call replayed an earlier identical request."""

    payment: Payment
    replayed: bool


def post_payment(*, session: Session, loan_id: int, data: PaymentIn, idempotency_key: str) -> Posted:
    """Post a repayment (or prepayment) through the waterfall, exactly once per idempotency key.

    One request is a batch of one: repayments take the same in-memory path as a repayment file
    (buyu.ledger.batch), so a single API call and a bulk import cannot disagree.
    """
    from buyu.ledger.batch import PaymentRequest, post_payments  # batch builds on this module

    result = post_payments(session=session, requests=[
        PaymentRequest(loan_id=loan_id, data=data, idempotency_key=idempotency_key)])[0]
    if result.error is not None:
        raise result.error
    assert result.payment is not None
    return Posted(result.payment, result.replayed)


def post_special_payment(*, session: Session, loan_id: int, data: PaymentIn, idempotency_key: str) -> Posted:
    """A prepayment, or any payment on a loan that is not active (recovery after write-off), one at a time."""
    body = {"loan_id": loan_id, **data.model_dump(mode="json")}
    loan = get_loan(session=session, loan_id=loan_id, lock=True)
    replay = _replay(session=session, key=idempotency_key, body=body)
    if replay is not None:
        return replay
    amount = _validate_money_in(session=session, loan=loan, amount=data.amount, currency=data.currency, on=data.paid_on)
    if loan.status == "written_off":
        return Posted(_post_recovery(session=session, loan=loan, amount=amount, data=data,
                                     key=idempotency_key, body=body), False)
    _require_active(loan)
    _bring_to(session=session, loan=loan, on=data.paid_on)
    payment = _new_payment(session=session, loan=loan, kind=data.kind, amount=amount, on=data.paid_on,
                           channel=data.channel, reference=data.reference, key=idempotency_key, body=body)
    lines = live_lines(session=session, loan_id=loan.id)
    allocations, left = allocate(amount=amount, dues=_dues(lines, on=data.paid_on),
                                 order=loan.waterfall.split(","), mode=loan.waterfall_mode)
    legs = _apply(lines=lines, allocations=allocations, on=data.paid_on)
    if left and data.kind == "prepayment":
        legs += _prepay(session=session, loan=loan, lines=lines, amount=left, on=data.paid_on, payment=payment)
    elif left:
        # Money beyond what is due waits as customer credit and is applied when instalments fall due.
        legs.append(Leg(Account.CASH, Account.CREDIT, left))
        loan.credit_fen += left
    post_entry(session=session, txn=f"pay:{payment.id}", kind=data.kind, loan_id=loan.id,
               booking_date=data.paid_on, legs=legs, payment_id=payment.id)
    _settle_status(session=session, loan=loan, on=data.paid_on)
    return Posted(payment, False)


def apply_credit(*, session: Session, loan: Loan, on: date) -> int:
    """Apply a loan's unapplied customer credit to what is due on `on`; returns fen applied."""
    if loan.credit_fen <= 0 or loan.status != "active":
        return 0
    lines = live_lines(session=session, loan_id=loan.id)
    allocations, left = allocate(amount=loan.credit_fen, dues=_dues(lines, on=on),
                                 order=loan.waterfall.split(","), mode=loan.waterfall_mode)
    used = loan.credit_fen - left
    if used:
        legs = [Leg(Account.CREDIT, leg.credit, leg.amount, leg.instalment_id)
                for leg in _apply(lines=lines, allocations=allocations, on=on)]
        n = session.scalar(select(func.count()).select_from(Posting).where(
            Posting.loan_id == loan.id, Posting.kind == "credit_applied"))
        post_entry(session=session, txn=f"crd:{loan.id}:{n}", kind="credit_applied", loan_id=loan.id,
                   booking_date=on, legs=legs)
        loan.credit_fen = left
        _settle_status(session=session, loan=loan, on=on)
    return used


def payment_allocations(*, session: Session, payment: Payment) -> list[tuple[int | None, str, int]]:
    """(instalment seq, component, fen) of every cash leg of a payment."""
    names = {Account.PRINCIPAL.value: "principal", Account.INTEREST.value: "interest",
             Account.PENALTY.value: "penalty", Account.CREDIT.value: "credit",
             Account.RECOVERY_INCOME.value: "recovery"}
    rows = session.execute(
        select(Posting.credit, Posting.amount_fen, Line.seq)
        .outerjoin(Line, Line.id == Posting.instalment_id)
        .where(Posting.payment_id == payment.id, Posting.debit == Account.CASH.value,
               Posting.txn.not_like("rev:%"))
        .order_by(Posting.id)
    )
    return [(seq, names.get(credit, credit), int(amount)) for credit, amount, seq in rows]


# --------------------------------------------------------------------------- reversal


def reverse_payment(*, session: Session, payment_id: int, on: date, reason: str) -> Payment:
    """Undo a payment on `on`: mirror its postings, reopen what it cleared, back-value penalty."""
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound(f"no payment {payment_id}", code="payment_not_found")
    loan = get_loan(session=session, loan_id=payment.loan_id, lock=True)
    session.refresh(payment)
    if payment.status != "posted":
        raise Conflict(f"payment {payment_id} is already reversed", code="already_reversed")
    if on < payment.paid_on:
        raise InvalidInput("a reversal cannot precede the payment", code="reversal_before_payment")
    _require_open_day(session=session, loan=loan, on=on)
    later = session.scalars(select(Payment.id).where(
        Payment.loan_id == loan.id, Payment.status == "posted", Payment.id > payment.id)).all()
    if later:
        raise Conflict("reverse the later payments first", code="reverse_later_payments_first",
                       details={"payment_ids": list(later)})
    legs = list(session.scalars(select(Posting).where(Posting.payment_id == payment.id).order_by(Posting.id)))
    _check_reversible(session=session, loan=loan, payment=payment, legs=legs, lines=_lines_by_id(session, loan),
                      on=on)
    if loan.status == "active":
        _bring_to(session=session, loan=loan, on=on)
    by_id = _lines_by_id(session, loan)  # read after the catch-up, whose set-based updates bypass the ORM
    restored = _unapply(loan=loan, legs=legs, lines=by_id)
    if payment.kind == "settlement":
        _unforgo_interest(session=session, loan=loan, lines=by_id)
    post_entry(session=session, txn=f"rev:{payment.id}", kind="reversal", loan_id=loan.id, booking_date=on,
               legs=[Leg(Account(p.credit), Account(p.debit), int(p.amount_fen), p.instalment_id) for p in legs],
               payment_id=payment.id)
    if payment.created_version is not None:
        _restore_schedule(session=session, loan=loan, payment=payment, on=on)
    if loan.status in ("closed", "settled"):
        loan.status, loan.closed_on = "active", None
        loan.accrued_through = max(loan.accrued_through, on - timedelta(days=1))
    _backvalue_penalty(session=session, loan=loan, restored=restored, lines=by_id, since=payment.paid_on,
                       until=on, txn=f"bvp:{payment.id}")
    payment.status, payment.reversed_on, payment.reversal_reason = "reversed", on, reason
    session.flush()
    _age(session=session, loan=loan, on=on)
    return payment


# --------------------------------------------------------------------------- write-off, restructure, settlement


def write_off(*, session: Session, loan_id: int, data: WriteOffIn) -> Loan:
    """Charge off every receivable of an active loan; later cash is booked as recovery."""
    loan = get_loan(session=session, loan_id=loan_id, lock=True)
    _require_active(loan)
    _require_open_day(session=session, loan=loan, on=data.on)
    _bring_to(session=session, loan=loan, on=data.on)
    apply_credit(session=session, loan=loan, on=data.on)
    lines = live_lines(session=session, loan_id=loan.id)
    legs = _waive_open(lines=lines, expense=Account.WRITEOFF_EXPENSE, on=data.on, include_principal=True)
    post_entry(session=session, txn=f"wo:{loan.id}", kind="write_off", loan_id=loan.id,
               booking_date=data.on, legs=legs)
    loan.status, loan.written_off_on = "written_off", data.on
    loan.written_off_fen = sum(leg.amount for leg in legs)
    session.flush()
    return loan


def restructure(*, session: Session, loan_id: int, data: RestructureIn) -> Loan:
    """Capitalise arrears and replace the open schedule with a new one starting `on`."""
    loan = get_loan(session=session, loan_id=loan_id, lock=True)
    _require_active(loan)
    _require_open_day(session=session, loan=loan, on=data.on)
    rate = loan.annual_rate_micro if data.annual_rate is None else rate_to_micro(
        data.annual_rate, field="annual_rate", low=ANNUAL_RATE_RANGE[0], high=ANNUAL_RATE_RANGE[1])
    method = data.method or Method(loan.method)
    _bring_to(session=session, loan=loan, on=data.on)
    apply_credit(session=session, loan=loan, on=data.on)
    lines = live_lines(session=session, loan_id=loan.id)
    capitalised = [Leg(Account.PRINCIPAL, leg.credit, leg.amount, leg.instalment_id)
                   for leg in _waive_open(lines=lines, expense=Account.PRINCIPAL, on=data.on,
                                          include_principal=False)]
    principal = sum(line.principal_open_fen for line in lines) + sum(leg.amount for leg in capitalised)
    if principal <= 0:
        raise Conflict("nothing outstanding to restructure", code="nothing_outstanding")
    post_entry(session=session, txn=f"rst:{loan.id}:{loan.restructure_count + 1}", kind="restructure",
               loan_id=loan.id, booking_date=data.on, legs=capitalised)
    for line in lines:
        if line.cleared_on is None:
            line.superseded_on = data.on
    loan.schedule_version += 1
    loan.annual_rate_micro, loan.method, loan.term_months = rate, method.value, data.term_months
    loan.anchor_day, loan.schedule_start = data.on.day, data.on
    loan.restructure_count += 1
    rows = build_schedule(principal=principal, annual_rate_micro=rate, term_months=data.term_months,
                          method=method, start_date=data.on)
    session.flush()
    _insert_lines(session=session, loan=loan, rows=rows, version=loan.schedule_version, valid_from=data.on)
    _age(session=session, loan=loan, on=data.on)
    return loan


def settle(*, session: Session, loan_id: int, data: SettlementIn, idempotency_key: str) -> Posted:
    """A discounted payoff: apply `amount` to everything open and waive the rest (never lost)."""
    body = {"loan_id": loan_id, "settlement": True, **data.model_dump(mode="json")}
    loan = get_loan(session=session, loan_id=loan_id, lock=True)
    replay = _replay(session=session, key=idempotency_key, body=body)
    if replay is not None:
        return replay
    amount = _validate_money_in(session=session, loan=loan, amount=data.amount, currency=data.currency, on=data.paid_on)
    _require_active(loan)
    _bring_to(session=session, loan=loan, on=data.paid_on)
    apply_credit(session=session, loan=loan, on=data.paid_on)
    lines = live_lines(session=session, loan_id=loan.id)
    everything = _dues(lines, on=date.max)
    payoff = sum(d.penalty + d.interest + d.principal for d in everything)
    if amount > payoff:
        raise InvalidInput("settlement amount exceeds the payoff", code="amount_exceeds_payoff",
                           details={"payoff": str(Decimal(payoff).scaleb(-2))})
    payment = _new_payment(session=session, loan=loan, kind="settlement", amount=amount, on=data.paid_on,
                           channel=data.channel, reference=data.reference, key=idempotency_key, body=body)
    allocations, _ = allocate(amount=amount, dues=everything, order=loan.waterfall.split(","),
                              mode=loan.waterfall_mode)
    legs = _apply(lines=lines, allocations=allocations, on=data.paid_on)
    legs += _waive_open(lines=lines, expense=Account.WAIVER_EXPENSE, on=data.paid_on, include_principal=True)
    post_entry(session=session, txn=f"pay:{payment.id}", kind="settlement", loan_id=loan.id,
               booking_date=data.paid_on, legs=legs, payment_id=payment.id)
    loan.status, loan.closed_on = "settled", data.paid_on
    session.flush()
    _age(session=session, loan=loan, on=data.paid_on)
    return Posted(payment, False)


# --------------------------------------------------------------------------- helpers


def _validate_money_in(*, session: Session, loan: Loan, amount: Decimal, currency: str, on: date) -> int:
    return check_money_in(loan=loan, amount=amount, currency=currency, on=on, last_night=_last_night(session))


def _require_active(loan: Loan) -> None:
    if loan.status != "active":
        raise Conflict(f"loan {loan.id} is {loan.status}", code=f"loan_{loan.status}")


def _last_night(session: Session) -> date | None:
    return session.scalar(select(func.max(EodRun.as_of)).where(EodRun.status == "done"))


def _require_open_day(*, session: Session, loan: Loan, on: date) -> None:
    _check_open_day(loan=loan, on=on, last_night=_last_night(session))


def _check_open_day(*, loan: Loan, on: date, last_night: date | None) -> None:
    # Once a night has run for a date its books are closed: a late posting would change history.
    # An active loan's accrued_through says so; eod_runs says so for every loan, closed or written off too
    # (their accrued_through stops moving, yet their past nights were snapshotted all the same).
    by_loan = loan.status == "active" and on <= loan.accrued_through and on != loan.disbursed_on
    if by_loan or (last_night is not None and on <= last_night):
        raise Conflict(f"business day {on} is closed for loan {loan.id}; post on a later date",
                       code="business_day_closed",
                       details={"accrued_through": loan.accrued_through.isoformat(),
                                "last_night": last_night.isoformat() if last_night else None})


def _bring_to(*, session: Session, loan: Loan, on: date) -> None:
    """Accrue penalty through the day before `on` and recognise interest due by `on`."""
    accrual.catch_up(session=session, loan_id=loan.id, through=on - timedelta(days=1))
    accrual.recognise_interest(session=session, through=on, loan_id=loan.id)
    session.refresh(loan)


def _hash(body: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _replay(*, session: Session, key: str, body: dict[str, object]) -> Posted | None:
    if not key or len(key) > 100:
        raise InvalidInput("Idempotency-Key must be 1 to 100 characters", code="invalid_idempotency_key")
    existing = session.scalar(select(Payment).where(Payment.idempotency_key == key))
    if existing is None:
        return None
    if existing.request_hash != _hash(body):
        raise Conflict("this Idempotency-Key was used with a different request", code="idempotency_key_reused",
                       details={"payment_id": existing.id})
    return Posted(existing, True)


def _new_payment(*, session: Session, loan: Loan, kind: str, amount: int, on: date, channel: str,
                 reference: str | None, key: str, body: dict[str, object]) -> Payment:
    payment = Payment(loan_id=loan.id, idempotency_key=key, request_hash=_hash(body), kind=kind,
                      amount_fen=amount, currency=loan.currency, paid_on=on, channel=channel,
                      reference=reference, status="posted")
    session.add(payment)
    session.flush()
    return payment


def _post_recovery(*, session: Session, loan: Loan, amount: int, data: PaymentIn, key: str,
                   body: dict[str, object]) -> Payment:
    if amount > loan.written_off_fen - loan.recovered_fen:
        raise InvalidInput("amount exceeds the written-off balance still to recover",
                           code="amount_exceeds_balance",
                           details={"recoverable": str(Decimal(loan.written_off_fen - loan.recovered_fen).scaleb(-2))})
    payment = _new_payment(session=session, loan=loan, kind="repayment", amount=amount, on=data.paid_on,
                           channel=data.channel, reference=data.reference, key=key, body=body)
    post_entry(session=session, txn=f"pay:{payment.id}", kind="recovery", loan_id=loan.id,
               booking_date=data.paid_on, legs=[Leg(Account.CASH, Account.RECOVERY_INCOME, amount)],
               payment_id=payment.id)
    loan.recovered_fen += amount
    return payment


def _dues(lines: Sequence[Line], *, on: date) -> list[Due]:
    return [
        Due(
            instalment_id=line.id,
            due_date=line.due_date,
            penalty=line.penalty_fen - line.penalty_paid_fen - line.penalty_waived_fen,
            interest=line.interest_booked_fen - line.interest_paid_fen - line.interest_waived_fen,
            principal=line.principal_open_fen,
        )
        for line in lines
        if line.due_date <= on or line.penalty_fen > line.penalty_paid_fen + line.penalty_waived_fen
    ]


def _mark_cleared(line: Line, on: date) -> None:
    """Keep cleared_on true to the line: set when principal and interest are all cleared, else None."""
    done = line.principal_open_fen == 0 and line.interest_paid_fen + line.interest_waived_fen == line.interest_fen
    if not done:
        line.cleared_on = None
    elif line.cleared_on is None:
        line.cleared_on = on


def _apply(*, lines: Sequence[Line], allocations: Sequence[Allocation], on: date) -> list[Leg]:
    by_id = {line.id: line for line in lines}
    legs = []
    for a in allocations:
        line = by_id[a.instalment_id]
        if a.component == "principal":
            line.principal_paid_fen += a.amount
            line.principal_open_fen -= a.amount
        elif a.component == "interest":
            line.interest_paid_fen += a.amount
        else:
            line.penalty_paid_fen += a.amount
        _mark_cleared(line, on)
        legs.append(Leg(Account.CASH, COMPONENT_ACCOUNT[a.component], a.amount, line.id))
    return legs


def _waive_open(*, lines: Sequence[Line], expense: Account, on: date, include_principal: bool) -> list[Leg]:
    """Clear what is open on each line without cash (waiver, write-off or capitalisation)."""
    legs = []
    for line in lines:
        penalty = line.penalty_fen - line.penalty_paid_fen - line.penalty_waived_fen
        interest = line.interest_booked_fen - line.interest_paid_fen - line.interest_waived_fen
        line.penalty_waived_fen += penalty
        line.interest_waived_fen += interest
        legs += [Leg(expense, Account.PENALTY, penalty, line.id), Leg(expense, Account.INTEREST, interest, line.id)]
        if include_principal:
            # Unbooked future interest is forgone, not waived: it was never owed.
            line.interest_waived_fen += line.interest_fen - line.interest_booked_fen
            line.interest_booked_fen = line.interest_fen
            legs.append(Leg(expense, Account.PRINCIPAL, line.principal_open_fen, line.id))
            line.principal_waived_fen += line.principal_open_fen
            line.principal_open_fen = 0
            _mark_cleared(line, on)
    return [leg for leg in legs if leg.amount]


def _age(*, session: Session, loan: Loan, on: date) -> None:
    """Re-age one loan after a posting and reload it so callers see the new DPD and bucket."""
    session.flush()
    accrual.age_loans(session=session, as_of=on, loan_id=loan.id)
    session.refresh(loan)


def _settle_status(*, session: Session, loan: Loan, on: date) -> None:
    session.flush()
    lines = live_lines(session=session, loan_id=loan.id)
    if all(line.cleared_on is not None and line.penalty_fen == line.penalty_paid_fen + line.penalty_waived_fen
           for line in lines):
        loan.status, loan.closed_on = "closed", on
    session.flush()
    _age(session=session, loan=loan, on=on)


def _born_cleared(row: Instalment, valid_from: date) -> date | None:
    # An instalment owing nothing (先息后本 at 0%) is cleared from the start: it can never fall past due,
    # and it must not keep a loan from closing.
    return valid_from if row.principal == 0 and row.interest == 0 else None


def _insert_lines(*, session: Session, loan: Loan, rows: Sequence[Instalment], version: int,
                  valid_from: date) -> None:
    grace = timedelta(days=loan.grace_days + 1)
    session.add_all(
        Line(loan_id=loan.id, schedule_version=version, seq=r.seq, due_date=r.due_date,
             penalty_from=r.due_date + grace, principal_fen=r.principal, interest_fen=r.interest,
             interest_booked_fen=0, penalty_fen=0, principal_paid_fen=0, interest_paid_fen=0,
             penalty_paid_fen=0, principal_waived_fen=0, interest_waived_fen=0, penalty_waived_fen=0,
             principal_open_fen=r.principal, valid_from=valid_from, cleared_on=_born_cleared(r, valid_from))
        for r in rows
    )
    session.flush()


def _prepay(*, session: Session, loan: Loan, lines: list[Line], amount: int, on: date,
            payment: Payment) -> list[Leg]:
    """Reduce principal by `amount` (less broken-period interest) and rebuild the future schedule."""
    future = [line for line in lines if line.due_date > on and line.cleared_on is None]
    remaining = sum(line.principal_open_fen for line in future)
    if not future or remaining == 0:
        raise InvalidInput("nothing left to prepay", code="nothing_to_prepay")
    start = _period_start(loan=loan, next_due=future[0].due_date)
    days = max((on - start).days, 0)
    factor = Decimal(loan.annual_rate_micro) * days / (Decimal(loan.day_count_basis) * 1_000_000)
    payoff = remaining + accrued_interest(principal=remaining, annual_rate_micro=loan.annual_rate_micro,
                                          days=days, basis=loan.day_count_basis)
    if amount > payoff:
        raise InvalidInput("prepayment exceeds the payoff", code="amount_exceeds_payoff",
                           details={"payoff_remaining": str(Decimal(payoff).scaleb(-2))})
    principal = remaining if amount == payoff else min(remaining, int(
        (Decimal(amount) / (1 + factor)).to_integral_value()))
    interest = amount - principal
    legs = [Leg(Account.INTEREST, Account.INTEREST_INCOME, interest), Leg(Account.CASH, Account.INTEREST, interest),
            Leg(Account.CASH, Account.PRINCIPAL, principal)]
    for line in future:
        line.superseded_on = on
    loan.schedule_version += 1
    payment.created_version = loan.schedule_version
    left = remaining - principal
    session.flush()
    if left > 0:
        rows = _rebuilt_rows(loan=loan, future=future, principal=left, start=start)
        _insert_lines(session=session, loan=loan, rows=rows, version=loan.schedule_version, valid_from=on)
    return legs


def _period_start(*, loan: Loan, next_due: date) -> date:
    if loan.method == Method.BULLET.value:
        return loan.schedule_start
    return max(add_months(next_due, -1, anchor_day=loan.anchor_day), loan.schedule_start)


def _rebuilt_rows(*, loan: Loan, future: Sequence[Line], principal: int, start: date) -> list[Instalment]:
    method = Method(loan.method)
    if method is Method.BULLET:
        return build_schedule(principal=principal, annual_rate_micro=loan.annual_rate_micro,
                              term_months=loan.term_months, method=method, start_date=loan.schedule_start,
                              anchor_day=loan.anchor_day, first_seq=future[0].seq)
    periods, level = len(future), None
    if loan.prepayment_mode == "shorten" and method is Method.EQUAL_INSTALMENT:
        level = future[0].principal_fen + future[0].interest_fen
        periods = periods_for_payment(principal=principal, annual_rate_micro=loan.annual_rate_micro,
                                      payment=level, max_periods=len(future))
    elif loan.prepayment_mode == "shorten" and method is Method.EQUAL_PRINCIPAL:
        periods = min(len(future), -(-principal // max(future[0].principal_fen, 1)))
    return build_schedule(principal=principal, annual_rate_micro=loan.annual_rate_micro, term_months=periods,
                          method=method, start_date=start, anchor_day=loan.anchor_day,
                          first_seq=future[0].seq, payment=level)


def _lines_by_id(session: Session, loan: Loan) -> dict[int, Line]:
    """Every schedule line of a loan (all versions), freshly read."""
    stmt = select(Line).where(Line.loan_id == loan.id).execution_options(populate_existing=True)
    return {line.id: line for line in session.scalars(stmt)}


def _check_reversible(*, session: Session, loan: Loan, payment: Payment, legs: Sequence[Posting],
                      lines: dict[int, Line], on: date) -> None:
    """Refuse, before anything is written, a reversal that would leave the books or the schedule inconsistent."""
    if loan.status == "written_off" and any(p.credit != Account.RECOVERY_INCOME.value for p in legs):
        # The write-off charged off the balance net of this payment; reopening it would leave a receivable
        # nobody can collect or charge off. Only recoveries (cash after the write-off) can be reversed.
        raise Conflict("the loan was written off after this payment", code="loan_written_off")
    if any(p.instalment_id in lines and lines[p.instalment_id].superseded_on is not None for p in legs):
        raise Conflict("the instalments this payment paid were rescheduled since", code="schedule_changed")
    if payment.created_version is not None:
        _check_prepayment_reversible(session=session, loan=loan, payment=payment, on=on)


def _check_prepayment_reversible(*, session: Session, loan: Loan, payment: Payment, on: date) -> None:
    if loan.schedule_version != payment.created_version:
        raise Conflict("the schedule changed after this prepayment", code="schedule_changed")
    created = payment.created_version or 0
    # The window closes when an instalment of the new schedule, or of the one it would restore, falls due:
    # a restored instalment already past due would have missed its interest recognition and penalty.
    first_due = session.scalar(select(func.min(Line.due_date)).where(
        Line.loan_id == loan.id,
        or_(Line.schedule_version == created,
            and_(Line.schedule_version == created - 1, Line.superseded_on == payment.paid_on))))
    if first_due is not None and first_due <= on:
        raise Conflict("an instalment of the prepaid schedule has fallen due; restructure instead",
                       code="prepayment_reversal_window_passed")


def _unapply(*, loan: Loan, legs: Sequence[Posting], lines: dict[int, Line]) -> dict[int, int]:
    """Undo a payment's effect on the sub-ledger; returns principal reopened per line (paid or waived)."""
    restored: dict[int, int] = {}
    for p in legs:
        line = lines.get(p.instalment_id) if p.instalment_id is not None else None
        amount = int(p.amount_fen)
        if p.credit == Account.CREDIT.value:
            if loan.credit_fen < amount:
                raise Conflict("the credit from this payment was already applied; reverse is not possible",
                               code="credit_already_applied")
            loan.credit_fen -= amount
            continue
        if p.credit == Account.RECOVERY_INCOME.value:
            loan.recovered_fen -= amount
            continue
        if line is None:
            continue
        if p.credit == Account.PRINCIPAL.value:
            field = "principal_paid_fen" if p.debit == Account.CASH.value else "principal_waived_fen"
            setattr(line, field, getattr(line, field) - amount)
            line.principal_open_fen += amount
            restored[line.id] = restored.get(line.id, 0) + amount
        elif p.credit in (Account.INTEREST.value, Account.PENALTY.value):
            part = "interest" if p.credit == Account.INTEREST.value else "penalty"
            field = f"{part}_paid_fen" if p.debit == Account.CASH.value else f"{part}_waived_fen"
            setattr(line, field, getattr(line, field) - amount)
        _mark_cleared(line, date.min)  # undoing can only reopen a line, never clear one
    return restored


def _unforgo_interest(*, session: Session, loan: Loan, lines: dict[int, Line]) -> None:
    """Owe again the future interest a reversed settlement forgave without posting it.

    A settlement marks unbooked interest as booked-and-waived with no journal entry (it was never owed);
    whatever a live line shows as booked beyond its interest_due postings is exactly that.
    """
    booked = {inst: int(total) for inst, total in session.execute(
        select(Posting.instalment_id, func.sum(Posting.amount_fen))
        .where(Posting.loan_id == loan.id, Posting.kind == "interest_due")
        .group_by(Posting.instalment_id))}
    for line in lines.values():
        forgone = line.interest_booked_fen - booked.get(line.id, 0)
        if line.superseded_on is None and forgone > 0:
            line.interest_booked_fen -= forgone
            line.interest_waived_fen -= forgone
            _mark_cleared(line, date.min)


def _restore_schedule(*, session: Session, loan: Loan, payment: Payment, on: date) -> None:
    """Bring back the schedule a reversed prepayment replaced, as a new version."""
    created = payment.created_version or 0
    old = session.scalars(select(Line).where(
        Line.loan_id == loan.id, Line.schedule_version == created - 1, Line.superseded_on == payment.paid_on,
    ).order_by(Line.seq)).all()
    for line in session.scalars(select(Line).where(Line.loan_id == loan.id, Line.schedule_version == created,
                                                   Line.superseded_on.is_(None))):
        line.superseded_on = on
    loan.schedule_version += 1
    session.flush()
    session.add_all(
        Line(loan_id=loan.id, schedule_version=loan.schedule_version, seq=o.seq, due_date=o.due_date,
             penalty_from=o.penalty_from, principal_fen=o.principal_fen, interest_fen=o.interest_fen,
             interest_booked_fen=0, penalty_fen=0, principal_paid_fen=0, interest_paid_fen=0, penalty_paid_fen=0,
             principal_waived_fen=0, interest_waived_fen=0, penalty_waived_fen=0,
             principal_open_fen=o.principal_fen, valid_from=on,
             cleared_on=_born_cleared(Instalment(o.seq, o.due_date, o.principal_fen, o.interest_fen, 0), on))
        for o in old
    )
    session.flush()


def _backvalue_penalty(*, session: Session, loan: Loan, restored: dict[int, int], lines: dict[int, Line],
                       since: date, until: date, txn: str) -> None:
    """Penalty the restored principal would have accrued between the payment and its reversal."""
    legs = []
    basis = loan.day_count_basis * RATE_SCALE
    for line_id, principal in restored.items():
        line = lines[line_id]
        first = max(since, line.penalty_from)
        days = (until - first).days
        # The nights rounded each day's penalty on the line's whole open principal: book what they would have
        # with the restored principal, less what they did without it (rounding the parts would drift a fen a day).
        daily = (div_round(line.principal_open_fen * loan.penalty_rate_micro, basis)
                 - div_round((line.principal_open_fen - principal) * loan.penalty_rate_micro, basis))
        amount = days * daily
        if days > 0 and amount > 0 and line.superseded_on is None:
            line.penalty_fen += amount
            line.cleared_on = None
            legs.append(Leg(Account.PENALTY, Account.PENALTY_INCOME, amount, line.id))
    post_entry(session=session, txn=txn, kind="penalty_backvalue", loan_id=loan.id, booking_date=until, legs=legs)


# --------------------------------------------------------------------------- shared with batch posting


def require_day_open(*, session: Session, on: date, what: str) -> None:
    """Refuse a new loan dated into a night that has already run: that night would never accrue it."""
    last_night = _last_night(session)
    if last_night is not None and on <= last_night:
        raise Conflict(f"{what} date {on} is in a closed business day (last night run: {last_night})",
                       code="business_day_closed", details={"last_night": last_night.isoformat()})


def request_hash(body: dict[str, object]) -> str:
    """The fingerprint an idempotency key is bound to."""
    return _hash(body)


def check_money_in(*, loan: Loan, amount: Decimal, currency: str, on: date, last_night: date | None) -> int:
    """Currency, amount, dates and status of money coming in, the last closed night already known."""
    if currency not in CURRENCIES or currency != loan.currency:
        raise InvalidInput(f"currency {currency} does not match the loan's {loan.currency}",
                           code="currency_mismatch", details={"expected": loan.currency, "got": currency})
    minor = positive_minor(amount, currency=currency, field="amount")
    if on < loan.disbursed_on:
        raise InvalidInput(f"payment date {on} is before disbursement on {loan.disbursed_on}",
                           code="payment_before_disbursement")
    if loan.status in ("closed", "settled"):
        raise Conflict(f"loan {loan.id} is {loan.status}", code="loan_closed")
    _check_open_day(loan=loan, on=on, last_night=last_night)
    return minor


def recognise_due(*, lines: Sequence[Line], on: date) -> list[Leg]:
    """In memory, what `accrual.recognise_interest` books in SQL: interest of lines due by `on`."""
    legs = []
    for line in lines:
        if line.due_date <= on and line.interest_booked_fen < line.interest_fen:
            legs.append(Leg(Account.INTEREST, Account.INTEREST_INCOME, line.interest_fen - line.interest_booked_fen,
                            line.id))
            line.interest_booked_fen = line.interest_fen
    return legs


def dues(lines: Sequence[Line], *, on: date) -> list[Due]:
    """What is open and due on `on`, per line (the waterfall's input)."""
    return _dues(lines, on=on)


def apply_allocations(*, lines: Sequence[Line], allocations: Sequence[Allocation], on: date) -> list[Leg]:
    """Apply waterfall allocations to the lines; returns the cash legs."""
    return _apply(lines=lines, allocations=allocations, on=on)


def oldest_overdue(lines: Sequence[Line], *, on: date) -> date | None:
    """Due date of the oldest uncleared line due before `on` (the rule `accrual.age_loans` applies in SQL)."""
    return min((line.due_date for line in lines if line.cleared_on is None and line.due_date < on), default=None)


def close_and_age(*, loan: Loan, lines: Sequence[Line], on: date, more_open: bool = False) -> None:
    """In memory: close a loan whose lines are all cleared, and set DPD/bucket as of `on`.

    `more_open` says that lines not passed in (falling due later) are still open.
    """
    settled = all(line.cleared_on is not None and line.penalty_fen == line.penalty_paid_fen + line.penalty_waived_fen
                  for line in lines)
    if settled and not more_open:
        loan.status, loan.closed_on = "closed", on
    since = oldest_overdue(lines, on=on)
    if loan.status == "active":
        loan.delinquent_since = since
        loan.dpd = (on - since).days if since else 0
        loan.bucket = accrual.bucket_of(loan.dpd)
    elif loan.status == "closed":
        loan.dpd, loan.bucket, loan.delinquent_since = 0, "M0", None
