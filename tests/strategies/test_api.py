"""The strategy routes end to end on both databases: status codes, error bodies, nothing written on errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from buyu.api.app import create_app
from tests.strategies.helpers import as_text, default_doc, unique_portfolio


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine)) as c:
        yield c


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert body["code"] == code, body
    return body


def test_create_approve_activate_and_read(client: TestClient) -> None:
    """POST /strategies → 201 draft; approve by another person; activate; GET by id, list and active?as_of."""
    portfolio = unique_portfolio()
    text = as_text(default_doc(portfolio))
    checked = client.post("/strategies/validate", json={"text": text})
    assert checked.status_code == 200 and checked.json()["valid"] is True
    assert [a["name"] for a in checked.json()["arms"]] == ["champion", "robot_first"]
    created = client.post("/strategies", json={"text": text, "author": "alice"})
    assert created.status_code == 201, created.text
    vid = created.json()["id"]
    assert created.json()["status"] == "draft" and created.json()["sha256"] == checked.json()["sha256"]
    assert client.post(f"/strategies/{vid}/approve", json={"by": "bob"}).json()["status"] == "approved"
    active = client.post(f"/strategies/{vid}/activate", json={"by": "bob", "effective": "2026-11-27"})
    assert active.status_code == 200 and active.json()["effective_from"] == "2026-11-27"
    shown = client.get(f"/strategies/{vid}").json()
    assert [e["action"] for e in shown["events"]] == ["created", "approved", "activated"]
    assert shown["document"]["portfolio"] == portfolio
    listed = client.get("/strategies", params={"portfolio": portfolio}).json()
    assert [(r["id"], r["status"]) for r in listed] == [(vid, "active")]
    now = client.get("/strategies/active", params={"portfolio": portfolio, "as_of": "2026-12-01"})
    assert now.status_code == 200 and now.json()["id"] == vid


def test_errors_are_4xx_with_codes(client: TestClient) -> None:
    """Bad document 422 invalid_strategy (path in details, nothing stored); own approval 409 four_eyes;
    activating a draft 409 invalid_transition; unknown id 404; nothing active yet 404; bad body 422."""
    portfolio = unique_portfolio()
    doc = default_doc(portfolio)
    doc["segments"][2]["allow"][1] = "fax"
    for url, body in (("/strategies/validate", {"text": as_text(doc)}),
                      ("/strategies", {"text": as_text(doc), "author": "alice"})):
        err = _error(client.post(url, json=body), 422, "invalid_strategy")
        assert err["details"]["path"] == "segments[2].allow[1]" and err["message"].startswith("segments[2].allow[1]")
    assert client.get("/strategies", params={"portfolio": portfolio}).json() == []
    vid = client.post("/strategies", json={"text": as_text(default_doc(portfolio)), "author": "alice"}).json()["id"]
    _error(client.post(f"/strategies/{vid}/approve", json={"by": "alice"}), 409, "four_eyes")
    _error(client.post(f"/strategies/{vid}/activate", json={"by": "bob", "effective": "2026-11-27"}), 409,
           "invalid_transition")
    _error(client.get("/strategies/999999999"), 404, "strategy_not_found")
    _error(client.get("/strategies/active", params={"portfolio": portfolio, "as_of": "2026-11-27"}), 404,
           "no_active_strategy")
    _error(client.post(f"/strategies/{vid}/activate", json={"by": "bob", "effective": "someday"}), 422,
           "invalid_input")
    _error(client.post("/strategies", json={"text": "x: 1"}), 422, "invalid_input")  # no author
    assert client.get(f"/strategies/{vid}").json()["status"] == "draft"


def test_history_is_kept_through_the_api(client: TestClient) -> None:
    """A second activation retires the first from its date; an activation dated earlier is refused (422)."""
    portfolio = unique_portfolio()
    ids = []
    for author in ("alice", "dan"):
        r = client.post("/strategies", json={"text": as_text(default_doc(portfolio)), "author": author})
        ids.append(r.json()["id"])
        client.post(f"/strategies/{ids[-1]}/approve", json={"by": "bob"})
    client.post(f"/strategies/{ids[0]}/activate", json={"by": "bob", "effective": "2026-11-01"})
    _error(client.post(f"/strategies/{ids[1]}/activate", json={"by": "bob", "effective": "2026-10-01"}), 422,
           "invalid_effective_date")
    assert client.post(f"/strategies/{ids[1]}/activate",
                       json={"by": "bob", "effective": "2026-11-15"}).status_code == 200
    old = client.get("/strategies/active", params={"portfolio": portfolio, "as_of": "2026-11-14"}).json()
    new = client.get("/strategies/active", params={"portfolio": portfolio, "as_of": "2026-11-15"}).json()
    assert (old["id"], old["status"], old["effective_to"]) == (ids[0], "retired", "2026-11-15")
    assert (new["id"], new["status"]) == (ids[1], "active")
