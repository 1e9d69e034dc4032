"""Strategy lifecycle: draft → approved → active → retired, four eyes, one active version per portfolio.

Services flush and never commit (the caller's unit of work does). Every transition records who and
when in `strategy_events`; documents are stored canonically with their sha256 and never change.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from buyu.errors import Conflict, InvalidInput, NotFound
from strategies.models import StrategyEvent, StrategyVersion
from strategies.schema import Strategy, canonical_json, load_document, parse_strategy, strategy_to_document

DEFAULT_FILE = Path(__file__).parent / "default.yaml"
#: Who "wrote" a version installed from the shipped default file (reviewed with the code), so the
#: system account that approves it is a second pair of eyes in the database's sense too.
DEFAULT_AUTHOR = "strategies/default.yaml"


def _now() -> datetime:
    # Audit timestamps only: no business rule reads them (business dates are explicit parameters).
    return datetime.now(UTC)


def _actor(value: str, *, field: str) -> str:
    actor = value.strip()
    if not actor or len(actor) > 60:
        raise InvalidInput(f"{field} must name a person (1–60 characters)", code="invalid_actor",
                           details={"field": field})
    return actor


def _event(session: Session, row: StrategyVersion, *, action: str, actor: str, effective: date | None = None,
           details: dict[str, Any] | None = None) -> None:
    session.add(StrategyEvent(strategy_version_id=row.id, action=action, actor=actor, effective=effective,
                              details=details))


def sha256_of(strategy: Strategy) -> str:
    """The sha256 of a strategy's canonical JSON."""
    return hashlib.sha256(canonical_json(strategy).encode("utf-8")).hexdigest()


def get_version(*, session: Session, version_id: int, lock: bool = False) -> StrategyVersion:
    """A strategy version by id, or NotFound(strategy_not_found)."""
    stmt = select(StrategyVersion).where(StrategyVersion.id == version_id)
    row = session.scalars(stmt.with_for_update() if lock else stmt).one_or_none()
    if row is None:
        raise NotFound(f"strategy version {version_id} does not exist", code="strategy_not_found",
                       details={"id": version_id})
    return row


def list_versions(*, session: Session, portfolio: str | None = None) -> list[StrategyVersion]:
    """Versions, newest first, optionally of one portfolio."""
    stmt = select(StrategyVersion).order_by(StrategyVersion.id.desc())
    if portfolio is not None:
        stmt = stmt.where(StrategyVersion.portfolio == portfolio)
    return list(session.scalars(stmt))


def events_of(*, session: Session, version_id: int) -> list[StrategyEvent]:
    """A version's lifecycle events in the order they happened."""
    return list(session.scalars(select(StrategyEvent).where(StrategyEvent.strategy_version_id == version_id)
                                .order_by(StrategyEvent.id)))


def strategy_of(row: StrategyVersion) -> Strategy:
    """The parsed Strategy of a stored version."""
    return parse_strategy(row.document)


def create_draft(*, session: Session, text: str, author: str) -> StrategyVersion:
    """Validate a YAML/JSON document and store it as the next draft version of its (portfolio, name)."""
    return _create(session=session, strategy=parse_strategy(load_document(text)), author=_actor(author, field="author"))


def _create(*, session: Session, strategy: Strategy, author: str) -> StrategyVersion:
    latest = session.scalar(select(func.max(StrategyVersion.version)).where(
        StrategyVersion.portfolio == strategy.portfolio, StrategyVersion.name == strategy.name))
    row = StrategyVersion(portfolio=strategy.portfolio, name=strategy.name, version=(latest or 0) + 1,
                          status="draft", document=strategy_to_document(strategy), sha256=sha256_of(strategy),
                          author=author)
    session.add(row)
    session.flush()
    _event(session, row, action="created", actor=author, details={"sha256": row.sha256})
    session.flush()
    return row


def _transition_error(row: StrategyVersion, *, wanted: str, action: str) -> Conflict:
    return Conflict(f"strategy version {row.id} is {row.status}; only a {wanted} version can be {action}",
                    code="invalid_transition", details={"id": row.id, "status": row.status, "expected": wanted})


def approve(*, session: Session, version_id: int, approver: str) -> StrategyVersion:
    """Approve a draft; the approver must not be its author (four eyes)."""
    approver = _actor(approver, field="approver")
    row = get_version(session=session, version_id=version_id, lock=True)
    if row.status != "draft":
        raise _transition_error(row, wanted="draft", action="approved")
    if approver == row.author:
        raise Conflict(f"{approver} wrote strategy version {row.id} and cannot also approve it (four eyes)",
                       code="four_eyes", details={"id": row.id, "author": row.author})
    row.status, row.approved_by, row.approved_at = "approved", approver, _now()
    _event(session, row, action="approved", actor=approver)
    session.flush()
    return row


def _current_active(session: Session, portfolio: str) -> StrategyVersion | None:
    # Locking the active row serialises concurrent activations on PostgreSQL; the partial unique
    # index is the backstop either way.
    return session.scalars(select(StrategyVersion).where(
        StrategyVersion.portfolio == portfolio, StrategyVersion.status == "active").with_for_update()).one_or_none()


def _latest_effective(session: Session, portfolio: str) -> date | None:
    return session.scalar(select(func.max(StrategyVersion.effective_from)).where(
        StrategyVersion.portfolio == portfolio, StrategyVersion.effective_from.is_not(None)))


def activate(*, session: Session, version_id: int, by: str, effective: date) -> StrategyVersion:
    """Make an approved version the portfolio's active one from `effective`; the previous one is retired."""
    by = _actor(by, field="by")
    row = get_version(session=session, version_id=version_id, lock=True)
    if row.status != "approved":
        raise _transition_error(row, wanted="approved", action="activated")
    latest = _latest_effective(session, row.portfolio)
    if latest is not None and effective <= latest:
        raise InvalidInput(
            f"effective date {effective} must be after {latest}, when the portfolio's latest strategy took effect: "
            "days already planned keep the strategy they had", code="invalid_effective_date",
            details={"effective": effective.isoformat(), "latest_effective": latest.isoformat()})
    previous = _current_active(session, row.portfolio)
    if previous is not None:
        previous.status, previous.retired_at, previous.effective_to = "retired", _now(), effective
        _event(session, previous, action="retired", actor=by, effective=effective, details={"replaced_by": row.id})
        # The retirement must reach the database before the new row turns active (partial unique index).
        session.flush()
    row.status, row.activated_by, row.activated_at, row.effective_from = "active", by, _now(), effective
    _event(session, row, action="activated", actor=by, effective=effective,
           details={"replaces": None if previous is None else previous.id})
    session.flush()
    return row


def active_version(*, session: Session, portfolio: str, as_of: date) -> StrategyVersion:
    """The version in force for the portfolio on `as_of` (from effective dates), or NotFound."""
    row = session.scalars(select(StrategyVersion).where(
        StrategyVersion.portfolio == portfolio, StrategyVersion.status.in_(("active", "retired")),
        StrategyVersion.effective_from <= as_of,
        (StrategyVersion.effective_to.is_(None)) | (StrategyVersion.effective_to > as_of),
    ).order_by(StrategyVersion.effective_from.desc()).limit(1)).one_or_none()
    if row is None:
        raise NotFound(f"portfolio {portfolio!r} has no strategy in force on {as_of}", code="no_active_strategy",
                       details={"portfolio": portfolio, "as_of": as_of.isoformat()})
    return row


def active_strategy(*, session: Session, portfolio: str, as_of: date) -> tuple[StrategyVersion, Strategy]:
    """The version in force on `as_of` and its parsed Strategy; NotFound(no_active_strategy) if none."""
    row = active_version(session=session, portfolio=portfolio, as_of=as_of)
    return row, strategy_of(row)


def default_strategy(*, portfolio: str = "default") -> Strategy:
    """The shipped default strategy (strategies/default.yaml) for a portfolio."""
    document = load_document(DEFAULT_FILE.read_text(encoding="utf-8"))
    document["portfolio"] = portfolio
    return parse_strategy(document)


def ensure_default(*, session: Session, portfolio: str = "default", as_of: date, by: str = "system") -> StrategyVersion:
    """The portfolio's active version; when it has none, install strategies/default.yaml effective `as_of`."""
    current = session.scalars(select(StrategyVersion).where(
        StrategyVersion.portfolio == portfolio, StrategyVersion.status == "active")).one_or_none()
    if current is not None:
        return current
    by = _actor(by, field="by")
    row = _create(session=session, strategy=default_strategy(portfolio=portfolio), author=DEFAULT_AUTHOR)
    approve(session=session, version_id=row.id, approver=by)
    return activate(session=session, version_id=row.id, by=by, effective=as_of)
