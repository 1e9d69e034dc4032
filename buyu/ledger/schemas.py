"""API schemas of the ledger (Pydantic). Amounts travel as decimal strings, dates as ISO."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from buyu.ledger.schedule import Method
from buyu.ledger.waterfall import parse_order

Money = Decimal


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ProductIn(_In):
    """A new loan product."""

    code: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=120)
    annual_rate: Decimal = Field(description="nominal annual rate, 0.12 = 12%; 0 to 0.36")
    term_months: int = Field(ge=1, le=360)
    method: Method
    penalty_rate: Decimal = Field(description="annual penalty (罚息) rate on overdue principal; 0 to 1")
    grace_days: int = Field(default=0, ge=0, le=30)
    waterfall: str = "penalty,interest,principal"
    waterfall_mode: Literal["instalment_first", "component_first"] = "instalment_first"
    day_count: Literal["ACT/360", "ACT/365"] = "ACT/360"
    currency: Literal["CNY", "USD", "HKD", "EUR"] = "CNY"
    prepayment_mode: Literal["reamortise", "shorten"] = "reamortise"

    @field_validator("waterfall")
    @classmethod
    def _order(cls, v: str) -> str:
        return ",".join(parse_order(v))


class ProductOut(BaseModel):
    """A product as stored."""

    id: int
    code: str
    name: str
    annual_rate: Decimal
    term_months: int
    method: str
    penalty_rate: Decimal
    grace_days: int
    waterfall: str
    waterfall_mode: str
    day_count: str
    currency: str
    prepayment_mode: str


class BorrowerIn(_In):
    """Who owes: contact facts used by collections."""

    external_ref: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=120)
    phone: str = Field(min_length=3, max_length=32)
    segment: Literal["consumer", "micro_merchant"] = "consumer"
    region: str = ""
    language: str = "zh-CN"
    timezone: str = "Asia/Shanghai"
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    id_last4: str | None = Field(default=None, pattern=r"^[0-9Xx]{4}$")
    income_band: str | None = None


class LoanIn(_In):
    """Originate and disburse a loan on `disbursed_on` under a product's terms."""

    external_ref: str = Field(min_length=1, max_length=64)
    product_code: str
    borrower: BorrowerIn
    principal: Money
    currency: str = "CNY"
    disbursed_on: date
    annual_rate: Decimal | None = Field(default=None, description="override of the product rate")
    term_months: int | None = Field(default=None, ge=1, le=360)


class PaymentIn(_In):
    """Money received for a loan."""

    amount: Money
    currency: str = "CNY"
    paid_on: date
    kind: Literal["repayment", "prepayment"] = "repayment"
    channel: str = Field(default="bank_transfer", max_length=30)
    reference: str | None = Field(default=None, max_length=100)


class SettlementIn(_In):
    """A discounted payoff: the borrower pays `amount`, the rest of the balance is waived."""

    amount: Money
    currency: str = "CNY"
    paid_on: date
    channel: str = Field(default="bank_transfer", max_length=30)
    reference: str | None = Field(default=None, max_length=100)


class ReversalIn(_In):
    """Undo a payment (e.g. a bounced transfer) on `reversed_on`."""

    reversed_on: date
    reason: str = Field(min_length=1, max_length=500)


class WriteOffIn(_In):
    """Charge off the loan's receivables on `on`; collection continues as recoveries."""

    on: date
    reason: str = Field(min_length=1, max_length=500)


class RestructureIn(_In):
    """Replace the open schedule with a new one from the outstanding balance (arrears capitalised)."""

    on: date
    term_months: int = Field(ge=1, le=360)
    annual_rate: Decimal | None = None
    method: Method | None = None


class InstalmentOut(BaseModel):
    """One instalment as printed by `buyu schedule --json` and the schedule endpoint."""

    seq: int
    due_date: date
    principal: str
    interest: str
    payment: str
    balance_after: str


class ScheduleOut(BaseModel):
    """A full schedule with totals."""

    instalments: list[InstalmentOut]
    total_interest: str
    total_payment: str


class ScheduleLineOut(BaseModel):
    """A live instalment of a loan with what has been paid against it."""

    seq: int
    schedule_version: int
    due_date: date
    principal: str
    interest: str
    penalty: str
    principal_paid: str
    interest_paid: str
    penalty_paid: str
    waived: str
    cleared_on: date | None


class LoanOut(BaseModel):
    """A loan with its contract terms and nightly state."""

    id: int
    external_ref: str
    borrower_id: int
    product_code: str
    currency: str
    principal: str
    annual_rate: Decimal
    penalty_rate: Decimal
    term_months: int
    method: str
    disbursed_on: date
    status: str
    dpd: int
    bucket: str
    schedule_version: int
    accrued_through: date


class LoanStateOut(BaseModel):
    """A loan's position as of a date, derived from the journal as booked by that date."""

    loan_id: int
    as_of: date
    status: str
    dpd: int
    bucket: str
    overdue_principal: str
    overdue_interest: str
    penalty: str
    principal_outstanding: str
    interest_outstanding: str
    outstanding: str
    customer_credit: str
    payoff: str


class AllocationOut(BaseModel):
    """Where part of a payment went."""

    seq: int | None
    component: str
    amount: str


class PaymentOut(BaseModel):
    """A posted payment with its allocation."""

    id: int
    loan_id: int
    kind: str
    amount: str
    currency: str
    paid_on: date
    status: str
    idempotency_key: str
    allocations: list[AllocationOut]
    replayed: bool = False


class ScheduleRequest(_In):
    """A schedule preview: the same maths `buyu schedule` prints."""

    principal: Money
    annual_rate: Decimal
    term_months: int = Field(ge=1, le=360)
    method: Method
    start_date: date
