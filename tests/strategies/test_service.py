"""Strategy lifecycle on SQLite and PostgreSQL: four eyes, one active per portfolio, as-of history, immutability."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from buyu.errors import Conflict, InvalidInput, NotFound
from strategies import service as svc
from strategies.models import StrategyEvent, StrategyVersion
from strategies.schema import StrategyError, canonical_json, parse_strategy
from tests.strategies.helpers import as_text, default_doc, unique_portfolio

D1, D2 = date(2026, 11, 1), date(2026, 11, 15)


def _active_version(session: Session, portfolio: str, *, effective: date, author: str = "alice",
                    approver: str = "bob") -> StrategyVersion:
    row = svc.create_draft(session=session, text=as_text(default_doc(portfolio)), author=author)
    svc.approve(session=session, version_id=row.id, approver=approver)
    return svc.activate(session=session, version_id=row.id, by=approver, effective=effective)


def _events(session: Session, row: StrategyVersion) -> list[tuple[str, str]]:
    return [(e.action, e.actor) for e in svc.events_of(session=session, version_id=row.id)]


def test_lifecycle_records_who_and_when(session: Session) -> None:
    """draft → approved → active, each step stamped with its actor in the row and in the events table;
    the stored document is canonical and its sha256 is of the canonical JSON."""
    portfolio = unique_portfolio()
    doc = default_doc(portfolio)
    row = svc.create_draft(session=session, text=as_text(doc), author="alice")
    assert (row.status, row.version, row.author) == ("draft", 1, "alice")
    strategy = parse_strategy(doc)
    assert parse_strategy(row.document) == strategy
    assert row.sha256 == hashlib.sha256(canonical_json(strategy).encode()).hexdigest()
    svc.approve(session=session, version_id=row.id, approver="bob")
    assert (row.status, row.approved_by) == ("approved", "bob") and row.approved_at is not None
    svc.activate(session=session, version_id=row.id, by="carol", effective=D1)
    assert (row.status, row.activated_by, row.effective_from, row.effective_to) == ("active", "carol", D1, None)
    assert _events(session, row) == [("created", "alice"), ("approved", "bob"), ("activated", "carol")]
    again = svc.create_draft(session=session, text=as_text(doc), author="alice")
    assert again.version == 2 and again.sha256 == row.sha256


def test_four_eyes(session: Session) -> None:
    """The author cannot approve their own draft (409 four_eyes, nothing changes), and the database refuses it too."""
    row = svc.create_draft(session=session, text=as_text(default_doc()), author="alice")
    with pytest.raises(Conflict) as caught:
        svc.approve(session=session, version_id=row.id, approver=" alice ")
    assert caught.value.code == "four_eyes" and row.status == "draft"
    assert _events(session, row) == [("created", "alice")]
    with pytest.raises(DBAPIError), session.begin_nested():
        session.execute(update(StrategyVersion).where(StrategyVersion.id == row.id).values(
            status="approved", approved_by="alice", approved_at=func.current_timestamp()))


def test_transitions_follow_the_lifecycle(session: Session) -> None:
    """A draft cannot be activated, an approved version cannot be approved again, unknown ids are 404."""
    row = svc.create_draft(session=session, text=as_text(default_doc()), author="alice")
    with pytest.raises(Conflict) as caught:
        svc.activate(session=session, version_id=row.id, by="bob", effective=D1)
    assert caught.value.code == "invalid_transition"
    svc.approve(session=session, version_id=row.id, approver="bob")
    with pytest.raises(Conflict):
        svc.approve(session=session, version_id=row.id, approver="carol")
    with pytest.raises(NotFound) as missing:
        svc.approve(session=session, version_id=10**9, approver="carol")
    assert missing.value.code == "strategy_not_found"
    with pytest.raises(InvalidInput) as blank:
        svc.create_draft(session=session, text=as_text(default_doc()), author="  ")
    assert blank.value.code == "invalid_actor"


def test_one_active_per_portfolio(session: Session) -> None:
    """Activating a second version retires the first (with an event); the partial unique index refuses two
    active rows for one portfolio, while other portfolios are independent."""
    portfolio = unique_portfolio()
    first = _active_version(session, portfolio, effective=D1)
    second = _active_version(session, portfolio, effective=D2, author="dan", approver="erin")
    other = _active_version(session, unique_portfolio(), effective=D1)
    assert (first.status, first.effective_to, first.retired_at is not None) == ("retired", D2, True)
    assert (second.status, other.status) == ("active", "active")
    assert _events(session, first)[-1] == ("retired", "erin")
    active = session.scalar(select(func.count()).select_from(StrategyVersion).where(
        StrategyVersion.portfolio == portfolio, StrategyVersion.status == "active"))
    assert active == 1
    with pytest.raises(DBAPIError), session.begin_nested():
        session.execute(update(StrategyVersion).where(StrategyVersion.id == first.id).values(
            status="active", retired_at=None, effective_to=None))


def test_active_strategy_is_history_aware(session: Session) -> None:
    """v1 from D1 and v2 from D2: dates in [D1, D2) get v1, dates from D2 get v2, dates before D1 none;
    an activation dated on or before the latest effective date is refused (history is not rewritten)."""
    portfolio = unique_portfolio()
    v1 = _active_version(session, portfolio, effective=D1)
    v2 = _active_version(session, portfolio, effective=D2)
    assert svc.active_strategy(session=session, portfolio=portfolio, as_of=D1)[0].id == v1.id
    assert svc.active_strategy(session=session, portfolio=portfolio, as_of=date(2026, 11, 14))[0].id == v1.id
    row, strategy = svc.active_strategy(session=session, portfolio=portfolio, as_of=D2)
    assert row.id == v2.id and strategy.portfolio == portfolio
    assert svc.active_strategy(session=session, portfolio=portfolio, as_of=date(2027, 6, 1))[0].id == v2.id
    with pytest.raises(NotFound) as caught:
        svc.active_strategy(session=session, portfolio=portfolio, as_of=date(2026, 10, 31))
    assert caught.value.code == "no_active_strategy"
    v3 = svc.create_draft(session=session, text=as_text(default_doc(portfolio)), author="alice")
    svc.approve(session=session, version_id=v3.id, approver="bob")
    with pytest.raises(InvalidInput) as early:
        svc.activate(session=session, version_id=v3.id, by="bob", effective=D2)
    assert early.value.code == "invalid_effective_date" and v3.status == "approved" and v2.status == "active"


def test_documents_and_events_are_immutable(session: Session) -> None:
    """The database refuses to change a stored document or its sha256, to delete a version, or to touch events."""
    row = svc.create_draft(session=session, text=as_text(default_doc()), author="alice")
    statements = [
        update(StrategyVersion).where(StrategyVersion.id == row.id).values(document={"tampered": True}),
        update(StrategyVersion).where(StrategyVersion.id == row.id).values(sha256="0" * 64),
        delete(StrategyVersion).where(StrategyVersion.id == row.id),
        update(StrategyEvent).where(StrategyEvent.strategy_version_id == row.id).values(actor="mallory"),
        delete(StrategyEvent).where(StrategyEvent.strategy_version_id == row.id),
    ]
    for stmt in statements:
        with pytest.raises(DBAPIError), session.begin_nested():
            session.execute(stmt)
    session.expire_all()
    assert session.get(StrategyVersion, row.id) is not None and _events(session, row) == [("created", "alice")]


def test_bad_document_writes_nothing(session: Session) -> None:
    """An invalid document raises invalid_strategy naming the field and stores no version and no event."""
    before = session.scalar(select(func.count()).select_from(StrategyVersion))
    doc = default_doc()
    doc["segments"][2]["allow"][1] = "fax"
    with pytest.raises(StrategyError) as caught:
        svc.create_draft(session=session, text=as_text(doc), author="alice")
    assert caught.value.details["path"] == "segments[2].allow[1]"
    assert session.scalar(select(func.count()).select_from(StrategyVersion)) == before


def test_ensure_default_installs_once(session: Session) -> None:
    """A portfolio without a strategy gets default.yaml active from as_of (approved by the system, authored by
    the file); a second call returns the same version; a portfolio with an active version is left alone."""
    portfolio = unique_portfolio()
    row = svc.ensure_default(session=session, portfolio=portfolio, as_of=D1)
    assert (row.status, row.portfolio, row.effective_from) == ("active", portfolio, D1)
    assert (row.author, row.approved_by, row.activated_by) == (svc.DEFAULT_AUTHOR, "system", "system")
    assert svc.ensure_default(session=session, portfolio=portfolio, as_of=D2).id == row.id
    _, strategy = svc.active_strategy(session=session, portfolio=portfolio, as_of=D1)
    assert strategy == svc.default_strategy(portfolio=portfolio)
    mine = _active_version(session, unique_portfolio(), effective=D1)
    assert svc.ensure_default(session=session, portfolio=mine.portfolio, as_of=D2).id == mine.id
