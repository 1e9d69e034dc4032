"""Import every ORM model so metadata is complete (Alembic, tests, create_all)."""

from __future__ import annotations


def import_all_models() -> None:
    """Register all tables on Base.metadata."""
    import buyu.calls.models
    import buyu.collections.models
    import buyu.ledger.models
    import buyu.people.models
    import buyu.plans.models
    import buyu.scoring.models  # noqa: F401
    import strategies.models  # noqa: F401
