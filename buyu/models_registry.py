"""Import every ORM model so metadata is complete (Alembic, tests, create_all)."""

from __future__ import annotations


def import_all_models() -> None:
    """Register all tables on Base.metadata."""
    import buyu.ledger.models  # noqa: F401
