"""Payment posting in batches: a partner platform's repayment file, or the simulator's day.

The same rules as `service.post_payment` (idempotency, validation, catch-up, interest recognised
on the due date, waterfall, customer credit, closing, ageing), but set-based where a request at
a time would pay a round trip per step: one locking read of the loans, one read of the keys,
one of the live schedule lines, then one flush for every payment, posting and line of the batch.
Repayments on active loans take this path; the rare prepayment or recovery on a written-off loan
goes through the single-payment service inside a savepoint. A request that fails validation is
reported with its error and writes nothing; the others post.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.orm import Session

from buyu.errors import BuyuError, Conflict, InvalidInput, NotFound
from buyu.ledger import accrual
from buyu.ledger import service as svc
from buyu.ledger.journal import Account, Leg
from buyu.ledger.models import EodRun, Loan, Payment, Posting
from buyu.ledger.models import ScheduleLine as Line
from buyu.ledger.schemas import PaymentIn
from buyu.ledger.waterfall import allocate


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """One payment of a batch."""

    loan_id: int
    data: PaymentIn
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """What became of one request: the payment (new or replayed) or the error that refused it."""

    request: PaymentRequest
    payment: Payment | None = None
    replayed: bool = False
    error: BuyuError | None = None


def post_payments(*, session: Session, requests: Sequence[PaymentRequest]) -> list[PaymentResult]:
    """Post a batch of payments in request order; returns one result per request."""
    if not requests:
        return []
    loan_ids = sorted({r.loan_id for r in requests})
    # Lock in id order so two batches touching the same loans cannot deadlock.
    loans = {loan.id: loan for loan in session.scalars(
        select(Loan).where(Loan.id.in_(loan_ids)).order_by(Loan.id).with_for_update()
        .execution_options(populate_existing=True))}
    keys = {p.idempotency_key: p for p in session.scalars(
        select(Payment).where(Payment.idempotency_key.in_([r.idempotency_key for r in requests])))}
    last_night = session.scalar(select(func.max(EodRun.as_of)).where(EodRun.status == "done"))
    _catch_up(session=session, loans=loans, requests=requests)
    through = max(r.data.paid_on for r in requests)
    lines, later = _lines(session=session, through=through,
                          loan_ids=[i for i, loan in loans.items() if loan.status == "active"])
    results: list[PaymentResult] = []
    pending: list[tuple[int, Payment, list[Leg]]] = []
    for req in requests:
        try:
            results.append(_one(session=session, req=req, loans=loans, keys=keys, lines=lines, later=later,
                                last_night=last_night, pending=pending))
        except BuyuError as exc:
            results.append(PaymentResult(request=req, error=exc))
    _write(session=session, pending=pending)
    return results


def _catch_up(*, session: Session, loans: dict[int, Loan], requests: Sequence[PaymentRequest]) -> None:
    """Loans whose nights are behind the payment date accrue first (rare: the nightly run keeps up)."""
    behind = {r.loan_id for r in requests
              if r.loan_id in loans and loans[r.loan_id].status == "active"
              and loans[r.loan_id].accrued_through < r.data.paid_on - timedelta(days=1)}
    for loan_id in sorted(behind):
        first = min(r.data.paid_on for r in requests if r.loan_id == loan_id)
        accrual.catch_up(session=session, loan_id=loan_id, through=first - timedelta(days=1))
        session.refresh(loans[loan_id])


def _lines(*, session: Session, loan_ids: list[int], through: date) -> tuple[dict[int, list[Line]], set[int]]:
    """The live lines a payment up to `through` can touch, and the loans with later lines still open.

    Only lines due by `through` that are uncleared, or that still owe penalty, can take money or keep
    DPD; a later line only matters as a reason not to close the loan, so it is counted, not loaded.
    """
    out: dict[int, list[Line]] = defaultdict(list)
    later: set[int] = set()
    owing = or_(and_(Line.cleared_on.is_(None), Line.due_date <= through),
                Line.penalty_fen > Line.penalty_paid_fen + Line.penalty_waived_fen)
    for start in range(0, len(loan_ids), 2000):
        chunk = loan_ids[start:start + 2000]
        stmt = (select(Line).where(Line.loan_id.in_(chunk), Line.superseded_on.is_(None), owing)
                .order_by(Line.loan_id, Line.due_date, Line.seq).execution_options(populate_existing=True))
        for line in session.scalars(stmt):
            out[line.loan_id].append(line)
        later.update(session.scalars(select(Line.loan_id).where(
            Line.loan_id.in_(chunk), Line.superseded_on.is_(None), Line.cleared_on.is_(None),
            Line.due_date > through).distinct()))
    return out, later


def _one(*, session: Session, req: PaymentRequest, loans: dict[int, Loan], keys: dict[str, Payment],
         lines: dict[int, list[Line]], later: set[int], last_night: date | None,
         pending: list[tuple[int, Payment, list[Leg]]]) -> PaymentResult:
    """Validate and apply one request in memory; the payment row and legs are written by _write."""
    body = {"loan_id": req.loan_id, **req.data.model_dump(mode="json")}
    if not req.idempotency_key or len(req.idempotency_key) > 100:
        raise InvalidInput("Idempotency-Key must be 1 to 100 characters", code="invalid_idempotency_key")
    loan = loans.get(req.loan_id)
    if loan is None:
        raise NotFound(f"no loan {req.loan_id}", code="loan_not_found", details={"loan_id": req.loan_id})
    seen = keys.get(req.idempotency_key)
    if seen is not None:
        if seen.request_hash != svc.request_hash(body):
            raise Conflict("this Idempotency-Key was used with a different request", code="idempotency_key_reused",
                           details={"payment_id": seen.id})
        return PaymentResult(request=req, payment=seen, replayed=True)
    if req.data.kind != "repayment" or loan.status != "active":
        # Prepayments rebuild schedules and recoveries post against a written-off loan: the full service path.
        with session.begin_nested():
            posted = svc.post_special_payment(session=session, loan_id=req.loan_id, data=req.data,
                                      idempotency_key=req.idempotency_key)
        keys[req.idempotency_key] = posted.payment
        fresh, more = _lines(session=session, loan_ids=[loan.id], through=date.max)
        lines[loan.id] = fresh[loan.id]
        later.discard(loan.id)
        later.update(more)
        return PaymentResult(request=req, payment=posted.payment, replayed=posted.replayed)
    amount = svc.check_money_in(loan=loan, amount=req.data.amount, currency=req.data.currency,
                                on=req.data.paid_on, last_night=last_night)
    on = req.data.paid_on
    own = lines[loan.id]
    legs = svc.recognise_due(lines=own, on=on)
    allocations, left = allocate(amount=amount, dues=svc.dues(own, on=on), order=loan.waterfall.split(","),
                                 mode=loan.waterfall_mode)
    legs += svc.apply_allocations(lines=own, allocations=allocations, on=on)
    if left:
        legs.append(Leg(Account.CASH, Account.CREDIT, left))
        loan.credit_fen += left
    payment = Payment(loan_id=loan.id, idempotency_key=req.idempotency_key, request_hash=svc.request_hash(body),
                      kind="repayment", amount_fen=amount, currency=loan.currency, paid_on=on,
                      channel=req.data.channel, reference=req.data.reference, status="posted")
    keys[req.idempotency_key] = payment
    pending.append((loan.id, payment, legs))
    svc.close_and_age(loan=loan, lines=own, on=on, more_open=loan.id in later)
    return PaymentResult(request=req, payment=payment)


def _write(*, session: Session, pending: list[tuple[int, Payment, list[Leg]]]) -> None:
    """One flush for the payments (their ids), one executemany for every posting."""
    session.add_all([p for _, p, _ in pending])
    session.flush()
    rows = []
    for loan_id, payment, legs in pending:
        for n, leg in enumerate(leg for leg in legs if leg.amount):
            recognition = leg.debit is Account.INTEREST and leg.credit is Account.INTEREST_INCOME
            rows.append({
                "txn": f"int:{leg.instalment_id}" if recognition else f"pay:{payment.id}",
                "leg": 0 if recognition else n, "kind": "interest_due" if recognition else "repayment",
                "loan_id": loan_id, "booking_date": payment.paid_on, "debit": leg.debit.value,
                "credit": leg.credit.value, "amount_fen": leg.amount, "instalment_id": leg.instalment_id,
                "payment_id": None if recognition else payment.id,
            })
    if rows:
        session.execute(insert(Posting), rows)
    session.flush()
