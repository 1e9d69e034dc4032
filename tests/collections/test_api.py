"""The collections and people routes over HTTP on both databases: status codes, error bodies, logged decisions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from buyu.api.app import create_app


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine)) as c:
        yield c


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _loan(client: TestClient) -> tuple[int, int]:
    """(loan id, borrower id) of a fresh loan booked through the ledger API."""
    code = f"CAPI{_uid()}"
    r = client.post("/products", json={"code": code, "name": "p", "annual_rate": "0.12", "term_months": 12,
                                       "method": "equal_instalment", "penalty_rate": "0.18"})
    assert r.status_code == 201, r.text
    borrower = {"external_ref": f"CB{_uid()}", "name": "陈七", "phone": "13700000000"}
    r = client.post("/loans", json={"external_ref": f"CL{_uid()}", "product_code": code, "principal": "8000.00",
                                    "disbursed_on": "2026-01-15", "borrower": borrower})
    assert r.status_code == 201, r.text
    return int(r.json()["id"]), int(r.json()["borrower_id"])


def test_collectors_endpoints(client: TestClient) -> None:
    """POST /collectors → 201 with a stable id; GET lists it; PATCH changes it; field without region → 422."""
    code = f"API-{_uid()}"
    r = client.post("/collectors", json={"code": code, "name": "孙八", "skills": ["M2"], "hired_on": "2025-01-01"})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert cid in [c["id"] for c in client.get("/collectors").json()]
    r = client.patch(f"/collectors/{cid}", json={"minutes_per_day": 240})
    assert r.status_code == 200 and r.json()["minutes_per_day"] == 240
    bad = client.post("/collectors", json={"code": f"F-{_uid()}", "name": "x", "kind": "field",
                                           "hired_on": "2025-01-01"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "region_required"
    dup = client.post("/collectors", json={"code": code, "name": "x", "hired_on": "2025-01-01"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "collector_exists"


def test_contact_decision_flow(client: TestClient) -> None:
    """A blocked decision answers 201 allowed=false and stays in the committed contact log; an allowed one gets its
    outcome; a PTP is listed with decimal amounts; cease blocks the next decision."""
    loan, borrower = _loan(client)
    r = client.post(f"/borrowers/{borrower}/contact-points", json={"kind": "self", "phone": "13700000001"})
    assert r.status_code == 201, r.text
    point = r.json()["id"]
    body = {"loan_id": loan, "channel": "agent_call", "contact_point_id": point, "at": "2026-03-03T22:00:00+08:00"}
    blocked = client.post("/contact-decisions", json=body)
    assert blocked.status_code == 201 and blocked.json()["allowed"] is False
    assert blocked.json()["rule"] == "quiet_hours"
    ok = client.post("/contact-decisions", json=body | {"at": "2026-03-03T02:00:00Z"})  # 10:00 in Shanghai
    assert ok.json()["allowed"] is True
    attempt = ok.json()["attempt_id"]
    r = client.post(f"/contact-attempts/{attempt}/result", json={"result": "ptp", "duration_seconds": 60})
    assert r.status_code == 200 and r.json()["result"] == "ptp"
    log = client.get(f"/loans/{loan}/contacts").json()
    assert [(a["result"], a["blocked_rule"]) for a in log] == [("blocked", "quiet_hours"), ("ptp", None)]
    r = client.post(f"/loans/{loan}/promises", json={"made_on": "2026-03-03", "due_date": "2026-03-10",
                                                     "amount": "500.00", "attempt_id": attempt})
    assert r.status_code == 201, r.text
    assert client.get(f"/loans/{loan}/promises").json()[0]["amount"] == "500.00"
    r = client.post(f"/borrowers/{borrower}/cease", json={"on": "2026-03-03"})
    assert r.status_code == 200 and r.json()["cease_from"] == "2026-03-03"
    again = client.post("/contact-decisions", json=body | {"at": "2026-03-03T03:00:00Z", "channel": "sms"})
    assert again.json()["rule"] == "cease_contact"


def test_errors_are_machine_readable(client: TestClient) -> None:
    """A naive time → 422 invalid_input; unknown loan → 404 loan_not_found; amount 0 → 422; a blocked attempt's
    outcome → 403 compliance_blocked."""
    loan, borrower = _loan(client)
    point = client.post(f"/borrowers/{borrower}/contact-points", json={"kind": "self", "phone": "1"*11}).json()["id"]
    naive = client.post("/contact-decisions", json={"loan_id": loan, "channel": "sms", "contact_point_id": point,
                                                    "at": "2026-03-03T10:00:00"})
    assert naive.status_code == 422 and naive.json()["error"]["code"] == "invalid_input"
    missing = client.get("/loans/999999999/contacts")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "loan_not_found"
    zero = client.post(f"/loans/{loan}/promises", json={"made_on": "2026-03-03", "due_date": "2026-03-10",
                                                        "amount": "0"})
    assert zero.status_code == 422 and zero.json()["error"]["code"] == "amount_not_positive"
    blocked = client.post("/contact-decisions", json={"loan_id": loan, "channel": "sms", "contact_point_id": point,
                                                      "at": "2026-03-03T23:30:00+08:00"}).json()
    r = client.post(f"/contact-attempts/{blocked['attempt_id']}/result", json={"result": "sms_sent"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "contact_was_blocked"
