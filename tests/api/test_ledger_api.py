"""The ledger's REST API end to end on both databases: status codes, error bodies, no partial writes."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from buyu.api.app import create_app
from buyu.ledger.models import Payment, Posting

_n = itertools.count(1)


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine)) as c:
        yield c


def _counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as s:
        return (s.scalar(select(func.count()).select_from(Posting)) or 0,
                s.scalar(select(func.count()).select_from(Payment)) or 0)


def _product(client: TestClient, **over: object) -> str:
    code = f"API{next(_n)}"
    body = {"code": code, "name": "api product", "annual_rate": "0.12", "term_months": 12,
            "method": "equal_instalment", "penalty_rate": "0.18", "grace_days": 0} | over
    r = client.post("/products", json=body)
    assert r.status_code == 201, r.text
    return code


def _loan(client: TestClient, code: str, disbursed_on: str = "2026-01-15", principal: str = "80000.00") -> int:
    n = next(_n)
    r = client.post("/loans", json={
        "external_ref": f"API-L{n}", "product_code": code, "principal": principal, "disbursed_on": disbursed_on,
        "borrower": {"external_ref": f"API-B{n}", "name": "李四", "phone": "13900000000"}})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_product_errors_are_machine_readable(client: TestClient) -> None:
    """Duplicate code → 409 product_exists; rate 50% → 422 rate_out_of_range; unknown field → 422 invalid_input."""
    code = _product(client)
    dup = client.post("/products", json={"code": code, "name": "x", "annual_rate": "0.1", "term_months": 3,
                                         "method": "bullet", "penalty_rate": "0.1"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "product_exists"
    high = client.post("/products", json={"code": "HIGH", "name": "x", "annual_rate": "0.5", "term_months": 3,
                                          "method": "bullet", "penalty_rate": "0.1"})
    assert high.status_code == 422 and high.json()["error"]["code"] == "rate_out_of_range"
    assert high.json()["error"]["details"]["field"] == "annual_rate"
    extra = client.post("/products", json={"code": "X1", "name": "x", "annual_rate": "0.1", "term_months": 3,
                                           "method": "bullet", "penalty_rate": "0.1", "colour": "red"})
    assert extra.status_code == 422 and extra.json()["error"]["code"] == "invalid_input"


def test_schedule_preview_matches_the_worked_example(client: TestClient) -> None:
    """80,000 at 12% over 12 months: 7,107.90 a month, the last 7,107.93, interest 5,294.83."""
    r = client.post("/schedule/preview", json={"principal": "80000.00", "annual_rate": "0.12", "term_months": 12,
                                               "method": "equal_instalment", "start_date": "2026-01-15"})
    body = r.json()
    assert r.status_code == 200
    assert [i["payment"] for i in body["instalments"]][:2] == ["7107.90", "7107.90"]
    assert body["instalments"][-1]["payment"] == "7107.93"
    assert body["total_interest"] == "5294.83"


def test_payment_idempotency_over_http(client: TestClient, engine: Engine) -> None:
    """Same key and body → 200 with the same payment; same key, other body → 409; one posting set only."""
    loan = _loan(client, _product(client))
    key = f"k-{uuid.uuid4().hex}"
    body = {"amount": "7107.90", "paid_on": "2026-02-15"}
    first = client.post(f"/loans/{loan}/payments", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    before = _counts(engine)
    again = client.post(f"/loans/{loan}/payments", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"] and again.json()["replayed"]
    other = client.post(f"/loans/{loan}/payments", json=body | {"amount": "10.00"}, headers={"Idempotency-Key": key})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert _counts(engine) == before
    alloc = {(a["seq"], a["component"]): a["amount"] for a in first.json()["allocations"]}
    assert alloc == {(1, "interest"): "800.00", (1, "principal"): "6307.90"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": "0", "paid_on": "2026-02-15"}, 422, "amount_not_positive"),
        ({"amount": "-5.00", "paid_on": "2026-02-15"}, 422, "amount_not_positive"),
        ({"amount": "1.001", "paid_on": "2026-02-15"}, 422, "invalid_amount"),
        ({"amount": "100.00", "paid_on": "2026-02-15", "currency": "USD"}, 422, "currency_mismatch"),
        ({"amount": "100.00", "paid_on": "2026-02-30"}, 422, "invalid_input"),
        ({"amount": "100.00", "paid_on": "2026-01-01"}, 422, "payment_before_disbursement"),
    ],
)
def test_bad_payments_write_nothing(client: TestClient, engine: Engine, body: dict, status: int, code: str) -> None:
    """Each bad payment gets its 4xx code and leaves the journal and payments untouched."""
    loan = _loan(client, _product(client))
    before = _counts(engine)
    r = client.post(f"/loans/{loan}/payments", json=body, headers={"Idempotency-Key": f"bad-{uuid.uuid4().hex}"})
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert _counts(engine) == before


def test_unknown_loan_and_missing_key(client: TestClient) -> None:
    """An unknown loan is 404 loan_not_found; a payment without Idempotency-Key is 422."""
    r = client.post("/loans/999999/payments", json={"amount": "1.00", "paid_on": "2026-02-15"},
                    headers={"Idempotency-Key": "nope"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "loan_not_found"
    loan = _loan(client, _product(client))
    r = client.post(f"/loans/{loan}/payments", json={"amount": "1.00", "paid_on": "2026-02-15"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"


def test_lifecycle_over_http_keeps_the_ledger_reconciled(client: TestClient) -> None:
    """Pay, reverse, restructure, settle through the API; state as of dates and the ledger check agree."""
    code = _product(client)
    loan = _loan(client, code)
    pay = client.post(f"/loans/{loan}/payments", json={"amount": "3000.00", "paid_on": "2026-02-20"},
                      headers={"Idempotency-Key": f"lc-{uuid.uuid4().hex}"}).json()
    st = client.get(f"/loans/{loan}/state", params={"as_of": "2026-02-20"}).json()
    assert st["dpd"] == 5 and st["bucket"] == "M1"
    rev = client.post(f"/payments/{pay['id']}/reversal", json={"reversed_on": "2026-02-21", "reason": "bounced"})
    assert rev.status_code == 200 and rev.json()["status"] == "reversed"
    again = client.post(f"/payments/{pay['id']}/reversal", json={"reversed_on": "2026-02-22", "reason": "twice"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_reversed"
    rs = client.post(f"/loans/{loan}/restructure", json={"on": "2026-03-01", "term_months": 18})
    assert rs.status_code == 200 and rs.json()["schedule_version"] == 2 and rs.json()["dpd"] == 0
    sched = client.get(f"/loans/{loan}/schedule").json()
    assert len(sched) == 18 and sched[0]["due_date"] == "2026-04-01"
    too_much = client.post(f"/loans/{loan}/settlement", json={"amount": "999999.00", "paid_on": "2026-03-05"},
                           headers={"Idempotency-Key": f"st-{uuid.uuid4().hex}"})
    assert too_much.status_code == 422 and too_much.json()["error"]["code"] == "amount_exceeds_payoff"
    settled = client.post(f"/loans/{loan}/settlement", json={"amount": "60000.00", "paid_on": "2026-03-05"},
                          headers={"Idempotency-Key": f"st-{uuid.uuid4().hex}"})
    assert settled.status_code == 201, settled.text
    assert client.get(f"/loans/{loan}").json()["status"] == "settled"
    check = client.get("/ledger/check").json()
    assert check["ok"], check["mismatches"][:3]
