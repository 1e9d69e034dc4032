"""`buyu demo seed`: a realistic mixed portfolio, built through the real services.

Loans are originated over the fourteen months before the demo date; each borrower follows a
repayment profile (on time, late but curing, partial, prepaying, defaulting at some instalment).
The history is then played forward day by day — that day's payments through `post_payment`,
then the real nightly ledger step — so the delinquency the demo shows is earned, not typed in.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from buyu.db import unit_of_work
from buyu.errors import BuyuError
from buyu.ledger import service as svc
from buyu.ledger.eod import ledger_day
from buyu.ledger.models import EodRun, Loan, Product
from buyu.ledger.schedule import Method, build_schedule
from buyu.ledger.schemas import BorrowerIn, LoanIn, PaymentIn, ProductIn
from buyu.money import fmt

PRODUCTS = [
    # code, name, annual, term, method, penalty, grace, segment, principal range (yuan)
    ("MM-EI-12", "微商贷 micro-merchant, equal instalment 12m", "0.144", 12, Method.EQUAL_INSTALMENT, "0.216", 3,
     "micro_merchant", (20_000, 200_000)),
    ("MM-IF-12", "微商贷 micro-merchant, interest first 12m", "0.12", 12, Method.INTEREST_FIRST, "0.18", 3,
     "micro_merchant", (30_000, 200_000)),
    ("AG-BL-6", "农贷 agricultural, bullet 6m", "0.096", 6, Method.BULLET, "0.144", 5, "micro_merchant",
     (5_000, 80_000)),
    ("CL-EI-24", "consumer, equal instalment 24m", "0.18", 24, Method.EQUAL_INSTALMENT, "0.27", 0, "consumer",
     (1_000, 100_000)),
    ("CL-EP-12", "consumer, equal principal 12m", "0.156", 12, Method.EQUAL_PRINCIPAL, "0.234", 0, "consumer",
     (1_000, 60_000)),
    ("CL-EI-6", "consumer, equal instalment 6m", "0.21", 6, Method.EQUAL_INSTALMENT, "0.3", 0, "consumer",
     (1_000, 30_000)),
]
REGIONS = [("Guangdong", "zh-CN", 0.22), ("Zhejiang", "zh-CN", 0.15), ("Sichuan", "zh-CN", 0.14),
           ("Henan", "zh-CN", 0.14), ("Shandong", "zh-CN", 0.13), ("Hunan", "zh-CN", 0.12),
           ("Jilin-Yanbian", "ko-KR", 0.10)]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
KOREAN = ["김민준", "이서연", "박지호", "최수빈", "정하은", "강도윤", "조예린", "윤시우"]
PROFILES = [("on_time", 0.70), ("late_cure", 0.09), ("partial", 0.04), ("prepay", 0.04), ("default", 0.13)]


@dataclass(frozen=True)
class PlannedPayment:
    """A payment the borrower's profile will make."""

    loan_id: int
    on: date
    amount: int
    kind: str


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def ensure_products(*, session: Session) -> dict[str, Product]:
    """Create the demo products once."""
    existing = {p.code: p for p in session.scalars(select(Product))}
    for code, name, rate, term, method, penalty, grace, _seg, _rng in PRODUCTS:
        if code not in existing:
            existing[code] = svc.create_product(session=session, data=ProductIn(
                code=code, name=name, annual_rate=Decimal(rate), term_months=term, method=method,
                penalty_rate=Decimal(penalty), grace_days=grace))
    return existing


def _borrower(rng: random.Random, n: int, segment: str) -> BorrowerIn:
    region = rng.choices(REGIONS, weights=[r[2] for r in REGIONS])[0]
    name = rng.choice(KOREAN) if region[1] == "ko-KR" else rng.choice(SURNAMES) + "".join(
        rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
    return BorrowerIn(
        external_ref=f"DEMO-B{n:07d}", name=name, phone=f"1{rng.randint(3, 9)}{rng.randint(0, 999_999_999):09d}",
        segment=segment, region=region[0], language=region[1], timezone="Asia/Shanghai",
        birth_year=rng.randint(1962, 2003), id_last4=f"{rng.randint(0, 9999):04d}",
        income_band=rng.choice(["low", "mid", "high"]),
    )


def _plan(rng: random.Random, loan: Loan, rows: list[tuple[date, int]], as_of: date) -> list[PlannedPayment]:
    """The payments a profile makes against the original schedule, up to the demo date."""
    profile = _pick(rng, PROFILES)
    stop_at = rng.randint(0, len(rows) - 1) if profile == "default" else len(rows)
    out = []
    for k, (due, amount) in enumerate(rows):
        if k >= stop_at:
            break
        delay = {"on_time": rng.randint(-3, 0), "late_cure": rng.randint(5, 25)}.get(profile, 0)
        paid = amount if profile != "partial" else amount * rng.randint(40, 80) // 100
        on = max(due + timedelta(days=delay), loan.disbursed_on + timedelta(days=1))
        if on <= as_of and paid > 0:
            out.append(PlannedPayment(loan.id, on, paid, "repayment"))
    if profile == "prepay" and len(out) >= 2:
        on = out[len(out) // 2].on + timedelta(days=7)
        if on <= as_of:
            cut = [p for p in out if p.on < on]
            outstanding = loan.principal_fen - sum(p.amount for p in cut) // 2
            return [*cut, PlannedPayment(loan.id, on, max(outstanding // 3, 100), "prepayment")]
    return out


def seed(
    *, engine: Engine, loans: int, rng_seed: int, as_of: date, progress: Callable[[str], None] | None = None
) -> dict[str, object]:
    """Originate `loans` demo loans and play their history forward to `as_of`."""
    rng = random.Random(rng_seed)
    plans: dict[date, list[PlannedPayment]] = defaultdict(list)
    with unit_of_work(engine) as session:
        if session.scalar(select(func.count()).select_from(EodRun)):
            raise BuyuError("the database already has nightly runs; seed a fresh database", code="not_empty")
        products = ensure_products(session=session)
        start = as_of - timedelta(days=430)
        for n in range(loans):
            spec = rng.choices(PRODUCTS, weights=[3, 2, 1, 3, 2, 2])[0]
            low, high = spec[8]
            principal = int(round(low * (high / low) ** rng.random(), -2)) * 100  # log-uniform, whole yuan
            disbursed = start + timedelta(days=rng.randint(0, 400))
            loan = svc.originate_loan(session=session, data=LoanIn(
                external_ref=f"DEMO-L{n:07d}", product_code=spec[0], borrower=_borrower(rng, n, spec[7]),
                principal=Decimal(principal).scaleb(-2), disbursed_on=disbursed))
            rows = build_schedule(principal=loan.principal_fen, annual_rate_micro=loan.annual_rate_micro,
                                  term_months=loan.term_months, method=Method(loan.method), start_date=disbursed)
            for p in _plan(rng, loan, [(r.due_date, r.payment) for r in rows], as_of):
                plans[p.on].append(p)
        del products
    first = min((d for d in plans), default=as_of)
    day, refused = first - timedelta(days=1), 0
    while day <= as_of:
        with unit_of_work(engine) as session:
            for p in plans.get(day, []):
                refused += _try_pay(session=session, planned=p)
            stats = ledger_day(session=session, day=day).to_dict()
            session.add(EodRun(as_of=day, status="done", stats=json.dumps(stats)))
        if progress and day.day == 1:
            progress(f"history played to {day}")
        day += timedelta(days=1)
    return summary(engine=engine, as_of=as_of) | {"loans_created": loans, "payments_refused": refused}


def _try_pay(*, session: Session, planned: PlannedPayment) -> int:
    """Post a planned payment; a closed or paid-off loan refuses it, as a real ledger would."""
    try:
        with session.begin_nested():
            svc.post_payment(session=session, loan_id=planned.loan_id, idempotency_key=(
                f"demo:{planned.loan_id}:{planned.on}:{planned.kind}"), data=PaymentIn(
                amount=Decimal(planned.amount).scaleb(-2), paid_on=planned.on, kind=planned.kind,
                channel="partner_platform"))
        return 0
    except BuyuError:
        return 1


def summary(*, engine: Engine, as_of: date) -> dict[str, object]:
    """Portfolio counts and balances by bucket."""
    with unit_of_work(engine) as session:
        rows = session.execute(select(Loan.status, Loan.bucket, func.count(), func.sum(Loan.principal_fen))
                               .group_by(Loan.status, Loan.bucket).order_by(Loan.status, Loan.bucket)).all()
    return {"as_of": as_of.isoformat(), "by_status_bucket": [
        {"status": s, "bucket": b, "loans": int(n), "principal": fmt(int(p or 0))} for s, b, n, p in rows]}
