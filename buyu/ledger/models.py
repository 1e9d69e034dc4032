"""Ledger tables. Money columns are integer fen (`*_fen`), rates integer millionths (`*_micro`)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from buyu.db import Base

Fen = BigInteger


class Borrower(Base):
    """A person or micro-merchant who owes; contact facts used by collections."""

    __tablename__ = "borrowers"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(32))
    segment: Mapped[str] = mapped_column(String(20), default="consumer")
    region: Mapped[str] = mapped_column(String(40), default="")
    language: Mapped[str] = mapped_column(String(10), default="zh-CN")
    timezone: Mapped[str] = mapped_column(String(40), default="Asia/Shanghai")
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    id_last4: Mapped[str | None] = mapped_column(String(4))
    income_band: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Product(Base):
    """A loan product: the contract terms every loan copies at origination."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("annual_rate_micro >= 0 AND annual_rate_micro <= 360000", name="ck_product_rate"),
        CheckConstraint("penalty_rate_micro >= 0 AND penalty_rate_micro <= 1000000", name="ck_product_penalty"),
        CheckConstraint("term_months BETWEEN 1 AND 360", name="ck_product_term"),
        CheckConstraint("grace_days BETWEEN 0 AND 30", name="ck_product_grace"),
        CheckConstraint("day_count_basis IN (360, 365)", name="ck_product_basis"),
        CheckConstraint(
            "method IN ('equal_instalment','equal_principal','interest_first','bullet')", name="ck_product_method"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    annual_rate_micro: Mapped[int] = mapped_column(Integer)
    term_months: Mapped[int] = mapped_column(SmallInteger)
    method: Mapped[str] = mapped_column(String(20))
    penalty_rate_micro: Mapped[int] = mapped_column(Integer)
    grace_days: Mapped[int] = mapped_column(SmallInteger, default=0)
    waterfall: Mapped[str] = mapped_column(String(60), default="penalty,interest,principal")
    waterfall_mode: Mapped[str] = mapped_column(String(20), default="instalment_first")
    day_count_basis: Mapped[int] = mapped_column(SmallInteger, default=360)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    prepayment_mode: Mapped[str] = mapped_column(String(20), default="reamortise")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Loan(Base):
    """A disbursed loan. Contract terms are frozen copies; `dpd`/`bucket` are the nightly cache."""

    __tablename__ = "loans"
    __table_args__ = (
        CheckConstraint("principal_fen > 0", name="ck_loan_principal"),
        CheckConstraint("credit_fen >= 0", name="ck_loan_credit"),
        CheckConstraint("dpd >= 0", name="ck_loan_dpd"),
        CheckConstraint(
            "status IN ('active','closed','settled','written_off')", name="ck_loan_status"
        ),
        Index("ix_loans_status_dpd", "status", "dpd"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_ref: Mapped[str] = mapped_column(String(64), unique=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    currency: Mapped[str] = mapped_column(String(3))
    principal_fen: Mapped[int] = mapped_column(Fen)
    annual_rate_micro: Mapped[int] = mapped_column(Integer)
    penalty_rate_micro: Mapped[int] = mapped_column(Integer)
    term_months: Mapped[int] = mapped_column(SmallInteger)
    method: Mapped[str] = mapped_column(String(20))
    grace_days: Mapped[int] = mapped_column(SmallInteger)
    day_count_basis: Mapped[int] = mapped_column(SmallInteger)
    waterfall: Mapped[str] = mapped_column(String(60))
    waterfall_mode: Mapped[str] = mapped_column(String(20))
    prepayment_mode: Mapped[str] = mapped_column(String(20))
    disbursed_on: Mapped[date] = mapped_column(Date)
    anchor_day: Mapped[int] = mapped_column(SmallInteger)
    # Start of the live schedule (disbursement or last restructure): bullet interest runs from it.
    schedule_start: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="active")
    schedule_version: Mapped[int] = mapped_column(SmallInteger, default=1)
    accrued_through: Mapped[date] = mapped_column(Date)
    credit_fen: Mapped[int] = mapped_column(Fen, default=0)
    dpd: Mapped[int] = mapped_column(Integer, default=0)
    bucket: Mapped[str] = mapped_column(String(4), default="M0")
    delinquent_since: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    written_off_on: Mapped[date | None] = mapped_column(Date)
    restructure_count: Mapped[int] = mapped_column(SmallInteger, default=0)
    written_off_fen: Mapped[int] = mapped_column(Fen, default=0)
    recovered_fen: Mapped[int] = mapped_column(Fen, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ScheduleLine(Base):
    """One instalment of one schedule version, with what has been booked and cleared against it.

    A restructure or prepayment supersedes the open lines (superseded_on) and adds a new version;
    history is never rewritten.
    """

    __tablename__ = "instalments"
    __table_args__ = (
        UniqueConstraint("loan_id", "schedule_version", "seq", name="uq_instalment_seq"),
        CheckConstraint("principal_fen >= 0 AND interest_fen >= 0", name="ck_inst_amounts"),
        CheckConstraint(
            "principal_paid_fen >= 0 AND principal_waived_fen >= 0"
            " AND principal_paid_fen + principal_waived_fen <= principal_fen",
            name="ck_inst_principal_cleared",
        ),
        CheckConstraint(
            "interest_paid_fen >= 0 AND interest_waived_fen >= 0 AND interest_booked_fen <= interest_fen"
            " AND interest_paid_fen + interest_waived_fen <= interest_booked_fen",
            name="ck_inst_interest_cleared",
        ),
        CheckConstraint(
            "penalty_paid_fen >= 0 AND penalty_waived_fen >= 0"
            " AND penalty_paid_fen + penalty_waived_fen <= penalty_fen",
            name="ck_inst_penalty_cleared",
        ),
        Index("ix_inst_loan_open", "loan_id", "due_date", postgresql_where=text("superseded_on IS NULL"),
              sqlite_where=text("superseded_on IS NULL")),
        Index(
            "ix_inst_interest_unbooked",
            "due_date",
            postgresql_where=text("superseded_on IS NULL AND interest_booked_fen < interest_fen"),
            sqlite_where=text("superseded_on IS NULL AND interest_booked_fen < interest_fen"),
        ),
        Index(
            "ix_inst_uncleared",
            "due_date",
            "loan_id",
            postgresql_where=text("superseded_on IS NULL AND cleared_on IS NULL"),
            sqlite_where=text("superseded_on IS NULL AND cleared_on IS NULL"),
        ),
        Index(
            "ix_inst_penalty_base",
            "penalty_from",
            postgresql_where=text("superseded_on IS NULL AND principal_open_fen > 0"),
            sqlite_where=text("superseded_on IS NULL AND principal_open_fen > 0"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    schedule_version: Mapped[int] = mapped_column(SmallInteger)
    seq: Mapped[int] = mapped_column(SmallInteger)
    due_date: Mapped[date] = mapped_column(Date)
    penalty_from: Mapped[date] = mapped_column(Date)
    principal_fen: Mapped[int] = mapped_column(Fen)
    interest_fen: Mapped[int] = mapped_column(Fen)
    interest_booked_fen: Mapped[int] = mapped_column(Fen, default=0)
    penalty_fen: Mapped[int] = mapped_column(Fen, default=0)
    principal_paid_fen: Mapped[int] = mapped_column(Fen, default=0)
    interest_paid_fen: Mapped[int] = mapped_column(Fen, default=0)
    penalty_paid_fen: Mapped[int] = mapped_column(Fen, default=0)
    principal_waived_fen: Mapped[int] = mapped_column(Fen, default=0)
    interest_waived_fen: Mapped[int] = mapped_column(Fen, default=0)
    penalty_waived_fen: Mapped[int] = mapped_column(Fen, default=0)
    # Unpaid principal, kept by every posting so the nightly penalty accrual reads one column.
    principal_open_fen: Mapped[int] = mapped_column(Fen)
    valid_from: Mapped[date] = mapped_column(Date)
    superseded_on: Mapped[date | None] = mapped_column(Date)
    cleared_on: Mapped[date | None] = mapped_column(Date)


class Payment(Base):
    """Money received for a loan (or a settlement), keyed by the caller's idempotency key."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="ck_payment_amount"),
        CheckConstraint("status IN ('posted','reversed')", name="ck_payment_status"),
        CheckConstraint("kind IN ('repayment','prepayment','settlement')", name="ck_payment_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(12))
    amount_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(String(3))
    paid_on: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(30), default="bank_transfer")
    reference: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10), default="posted")
    reversed_on: Mapped[date | None] = mapped_column(Date)
    reversal_reason: Mapped[str | None] = mapped_column(Text)
    # The schedule version a prepayment created, so a reversal can restore the one before it.
    created_version: Mapped[int | None] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Posting(Base):
    """One balanced two-legged transfer: debit one account, credit another, same amount.

    A journal entry is the set of postings sharing `txn`; every row balances by construction, so
    every entry balances. Append-only: triggers refuse UPDATE and DELETE.
    """

    __tablename__ = "journal"
    __table_args__ = (
        UniqueConstraint("txn", "leg", name="uq_journal_txn_leg"),
        CheckConstraint("amount_fen > 0", name="ck_journal_amount"),
        # SQLite would silently store a fraction of a fen as REAL; the CHECK refuses it (PostgreSQL's BIGINT
        # cannot hold one at all; every amount reaches the journal as a Python int already).
        CheckConstraint("amount_fen = CAST(amount_fen AS BIGINT)", name="ck_journal_whole_fen"),
        CheckConstraint("debit <> credit", name="ck_journal_accounts"),
        Index("ix_journal_loan", "loan_id", "booking_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    txn: Mapped[str] = mapped_column(String(80))
    leg: Mapped[int] = mapped_column(SmallInteger, default=0)
    kind: Mapped[str] = mapped_column(String(20))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    booking_date: Mapped[date] = mapped_column(Date)
    debit: Mapped[str] = mapped_column(String(24))
    credit: Mapped[str] = mapped_column(String(24))
    amount_fen: Mapped[int] = mapped_column(Fen)
    instalment_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    payment_id: Mapped[int | None] = mapped_column(Integer)


class DelinquencySnapshot(Base):
    """What the nightly step saw for a delinquent loan on an as-of date (replayable history)."""

    __tablename__ = "delinquency_snapshots"

    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    loan_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dpd: Mapped[int] = mapped_column(Integer)
    bucket: Mapped[str] = mapped_column(String(4))
    overdue_principal_fen: Mapped[int] = mapped_column(Fen)
    overdue_interest_fen: Mapped[int] = mapped_column(Fen)
    penalty_fen: Mapped[int] = mapped_column(Fen)
    outstanding_fen: Mapped[int] = mapped_column(Fen)


class EodRun(Base):
    """One nightly run per as-of date; its presence makes a re-run a no-op."""

    __tablename__ = "eod_runs"

    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(12))
    stats: Mapped[str] = mapped_column(Text, default="{}")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
