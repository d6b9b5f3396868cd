"""The FastAPI example service, driven with FastAPI's TestClient on a fresh database.

Layer: tests (real Postgres). Needs ``fastapi`` and ``httpx`` (the ``examples`` extra).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi", reason="the example service needs fastapi (pip install 'pghistory[examples]')")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx (pip install 'pghistory[examples]')")

from fastapi.testclient import TestClient  # noqa: E402

from examples.fastapi_service.__main__ import sqlalchemy_url  # noqa: E402
from examples.fastapi_service.app import create_app  # noqa: E402
from tests.sqlalchemy.helpers import sa_url  # noqa: E402


@pytest.fixture
def client(dsn: str) -> Iterator[TestClient]:
    with TestClient(create_app(sa_url(dsn))) as test_client:
        yield test_client


def test_requests_record_the_user_and_url(client: TestClient) -> None:
    created = client.post("/accounts", json={"owner": "alice", "balance": "10"}, headers={"X-User": "alice"})
    assert created.status_code == 201, created.text
    account_id = created.json()["id"]
    assert client.patch(f"/accounts/{account_id}", json={"balance": "25"}, headers={"X-User": "bob"}).status_code == 200
    assert client.post("/accounts/interest?percent=10", headers={"X-User": "cron"}).json() == 1

    events = client.get(f"/accounts/{account_id}/history").json()
    assert [(e["pgh_label"], e["pgh_context"]["user"], e["pgh_context"]["method"]) for e in events] == [
        ("insert", "alice", "POST"),
        ("update", "bob", "PATCH"),
        ("update", "cron", "POST"),
    ]
    assert events[1]["pgh_context"]["url"] == f"/accounts/{account_id}"
    # numeric(12, 2) as it is stored, a Decimal, which the API sends as the account itself does
    assert events[1]["pgh_diff"] == {"balance": ["10.00", "25.00"]}
    assert events[2]["pgh_diff"] == {"balance": ["25.00", "27.50"]}
    # Each request is its own context; the reading request itself wrote nothing.
    assert len({e["pgh_context_id"] for e in events}) == 3


def test_as_of_and_reverting_one_request(client: TestClient) -> None:
    account_id = client.post("/accounts", json={"owner": "alice", "balance": "10"}).json()["id"]
    before = client.get(f"/accounts/{account_id}/history").json()[-1]["pgh_created_at"]
    client.patch(f"/accounts/{account_id}", json={"owner": "mallory", "balance": "0"}, headers={"X-User": "mallory"})
    bad = client.get(f"/accounts/{account_id}/history").json()[-1]

    at = datetime.datetime.fromisoformat(before)
    then = client.get(f"/accounts/{account_id}/as-of", params={"at": at.isoformat()}).json()
    assert then == {"id": account_id, "owner": "alice", "balance": "10.00"}

    reverted = client.post(f"/contexts/{bad['pgh_context_id']}/revert", headers={"X-User": "admin"})
    assert reverted.status_code == 200, reverted.text
    assert reverted.json()["operations"] == 1
    last = client.get(f"/accounts/{account_id}/history").json()[-1]
    assert last["pgh_data"] == {"id": account_id, "owner": "alice", "balance": "10.00"}
    assert last["pgh_context"]["user"] == "admin"

    assert client.delete(f"/accounts/{account_id}", headers={"X-User": "admin"}).status_code == 204
    labels = [e["pgh_label"] for e in client.get(f"/accounts/{account_id}/history").json()]
    assert labels[-1] == "delete"  # history outlives the row


def test_sqlalchemy_url_from_a_libpq_uri() -> None:
    url = sqlalchemy_url("postgresql://postgres@/postgres?host=/tmp/x")
    assert url.drivername == "postgresql+psycopg" and url.query["host"] == "/tmp/x"
