"""Domain errors. Services raise these; one handler maps them to HTTP and the CLI to exit codes."""

from __future__ import annotations

from typing import Any


class BuyuError(Exception):
    """Base of every expected, user-facing error."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable body shared by the API and the CLI's --json errors."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInput(BuyuError):
    """The request is malformed or breaks a business rule before anything is written."""

    code = "invalid_input"
    http_status = 422


class NotFound(BuyuError):
    """A referenced object does not exist."""

    code = "not_found"
    http_status = 404


class Conflict(BuyuError):
    """The request conflicts with the current state (idempotency mismatch, closed loan …)."""

    code = "conflict"
    http_status = 409


class LedgerError(BuyuError):
    """A ledger invariant would be broken; nothing was posted."""

    code = "ledger_error"
    http_status = 422


class ComplianceBlocked(BuyuError):
    """A contact was refused by the contact rules."""

    code = "compliance_blocked"
    http_status = 403


class Forbidden(BuyuError):
    """The request is not authentic (e.g. a webhook without a valid provider signature); nothing was done."""

    code = "forbidden"
    http_status = 403
