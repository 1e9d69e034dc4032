"""Exact money: integer minor units (fen) inside, Decimal strings at the edges.

Every rounding rule of the ledger lives here so that schedule maths, accrual and the SQL
accrual agree to the fen.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from buyu.errors import InvalidInput

#: Currencies the ledger books, with their minor-unit exponent (ISO 4217).
CURRENCIES: dict[str, int] = {"CNY": 2, "USD": 2, "HKD": 2, "EUR": 2}

#: Rates are stored as integers in millionths (1e-6) so SQLite and PostgreSQL do exact arithmetic.
RATE_SCALE = 1_000_000


def to_minor(amount: Decimal | str | int, *, field: str = "amount", currency: str = "CNY") -> int:
    """Parse a decimal amount to minor units, refusing more precision than the currency has."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation as exc:
        raise InvalidInput(f"{field} is not a number: {amount!r}", code="invalid_amount") from exc
    if not value.is_finite():
        raise InvalidInput(f"{field} is not a finite number", code="invalid_amount")
    exponent = CURRENCIES.get(currency, 2)
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise InvalidInput(
            f"{field} has more than {exponent} decimal places: {amount}",
            code="invalid_amount",
            details={"field": field},
        )
    return int(scaled)


def to_decimal(minor: int, *, currency: str = "CNY") -> Decimal:
    """Minor units back to a Decimal with the currency's places."""
    exponent = CURRENCIES.get(currency, 2)
    return Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


def fmt(minor: int, *, currency: str = "CNY") -> str:
    """Minor units as the decimal string the API and CLI print ("1234.50")."""
    return str(to_decimal(minor, currency=currency))


def round_half_up(value: Decimal) -> int:
    """Round a Decimal number of minor units to an integer, half away from zero."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def div_round(numerator: int, denominator: int) -> int:
    """Integer division rounded half up for non-negative operands (mirrors the SQL accrual)."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("div_round takes a non-negative numerator and a positive denominator")
    return (2 * numerator + denominator) // (2 * denominator)


def rate_to_micro(rate: Decimal | str, *, field: str, low: Decimal, high: Decimal) -> int:
    """Parse an annual rate (0.12 = 12%) into millionths, checking its range."""
    try:
        value = Decimal(str(rate))
    except InvalidOperation as exc:
        raise InvalidInput(f"{field} is not a number: {rate!r}", code="invalid_rate") from exc
    if not value.is_finite() or value < low or value > high:
        raise InvalidInput(
            f"{field} must be between {low} and {high}, got {rate}",
            code="rate_out_of_range",
            details={"field": field, "min": str(low), "max": str(high)},
        )
    micro = value * RATE_SCALE
    if micro != micro.to_integral_value():
        raise InvalidInput(f"{field} has more than 6 decimal places", code="invalid_rate")
    return int(micro)


def micro_to_rate(micro: int) -> Decimal:
    """Millionths back to a Decimal rate."""
    return (Decimal(micro) / RATE_SCALE).normalize()


def positive_minor(amount: Decimal | str | int, *, field: str = "amount", currency: str = "CNY") -> int:
    """Parse an amount that must be strictly positive (payments, principals)."""
    minor = to_minor(amount, field=field, currency=currency)
    if minor <= 0:
        raise InvalidInput(f"{field} must be positive, got {amount}", code="amount_not_positive",
                           details={"field": field})
    return minor
