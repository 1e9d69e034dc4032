"""The call routes over HTTP on both databases: list, one call's record, the queue, errors."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from buyu.api.app import create_app
from buyu.calls import service as calls
from buyu.db import unit_of_work
from buyu.errors import ComplianceBlocked


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine)) as c:
        yield c


def _loan_with_phone(client: TestClient) -> tuple[int, int]:
    """(loan id, contact point id) of a fresh loan booked and given a phone through the API (committed)."""
    uid = uuid.uuid4().hex[:8]
    r = client.post("/products", json={"code": f"V{uid}", "name": "p", "annual_rate": "0.12", "term_months": 12,
                                       "method": "equal_instalment", "penalty_rate": "0.18"})
    assert r.status_code == 201, r.text
    r = client.post("/loans", json={"external_ref": f"VL{uid}", "product_code": f"V{uid}", "principal": "8000.00",
                                    "disbursed_on": "2026-01-15",
                                    "borrower": {"external_ref": f"VB{uid}", "name": "周九", "phone": "13600000000"}})
    assert r.status_code == 201, r.text
    loan, borrower = int(r.json()["id"]), int(r.json()["borrower_id"])
    r = client.post(f"/borrowers/{borrower}/contact-points", json={"kind": "self", "phone": f"136{uid[:8]}"})
    assert r.status_code == 201, r.text
    return loan, int(r.json()["id"])


def test_call_routes(client: TestClient, engine: Engine) -> None:
    """An allowed and a blocked call (committed by their units of work) are listed and readable with their rule;
    an unknown call is a 404 with a code; the queue answers; a bad status filter is a 422."""
    loan, point = _loan_with_phone(client)
    day = date(2026, 3, 2)
    with unit_of_work(engine) as s:
        ok = calls.open_call(session=s, loan_id=loan, contact_point_id=point, as_of=day,
                             at=datetime(2026, 3, 2, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
        ok_id = ok.id
    with unit_of_work(engine) as s:
        try:
            calls.open_call(session=s, loan_id=loan, contact_point_id=point, as_of=day,
                            at=datetime(2026, 3, 2, 15, 0, tzinfo=UTC))  # 23:00 in Shanghai
        except ComplianceBlocked as exc:
            blocked_id = int(exc.details["call_id"])
    listed = client.get("/calls", params={"loan_id": loan})
    assert listed.status_code == 200
    assert {(c["id"], c["status"], c["blocked_rule"]) for c in listed.json()} == {
        (ok_id, "dialing", None), (blocked_id, "blocked", "quiet_hours")}
    record = client.get(f"/calls/{blocked_id}")
    assert record.status_code == 200 and record.json()["attempt"]["blocked_rule"] == "quiet_hours"
    missing = client.get("/calls/999999999")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "call_not_found"
    queue = client.get("/calls/queue", params={"as_of": "2026-03-02"})
    assert queue.status_code == 200 and isinstance(queue.json(), list)
    assert client.get("/calls/queue").status_code == 422
    assert client.get("/calls", params={"status": "bogus"}).status_code == 422
