"""The gateway's limits without infrastructure: token buckets on a fake clock, the JSON depth
gauge, and the body guard on a small app of its own (driven over ASGI, so a test sees how much
of a body was read)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, File, UploadFile
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.types import Message

from gateway.config import GatewaySettings
from gateway.limits import (
    Admission,
    Rate,
    RateLimitError,
    RateLimits,
    TokenBuckets,
    UploadRoute,
    install_limits,
    json_depth,
)
from gateway.problems import install_problem_handlers
from shequ_kit.tenancy import TenantId

HUSHAN = TenantId("xiaoshan.shushan.hushan")
SHIBEI = TenantId("xiaoshan.beigan.shibei")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---- token buckets ----


def test_a_bucket_allows_its_burst_then_refuses_until_a_token_refills() -> None:
    clock = Clock()
    buckets = TokenBuckets(Rate(per_s=2, burst=3), clock=clock)
    assert [buckets.take("a").allowed for _ in range(4)] == [True, True, True, False]
    refused = buckets.take("a")
    assert refused.retry_after_s == pytest.approx(0.5)
    clock.now += 0.25
    assert buckets.take("a").retry_after_s == pytest.approx(0.25)
    clock.now += 0.25
    allowed = buckets.take("a")
    assert (allowed.allowed, allowed.remaining) == (True, 0)
    assert buckets.take("b").allowed  # another key has a bucket of its own


def test_a_bucket_refills_to_its_burst_and_no_further() -> None:
    clock = Clock()
    buckets = TokenBuckets(Rate(per_s=10, burst=5), clock=clock)
    for _ in range(5):
        buckets.take("a")
    clock.now += 3600
    admissions = [buckets.take("a") for _ in range(6)]
    assert [a.remaining for a in admissions[:5]] == [4, 3, 2, 1, 0]
    assert not admissions[5].allowed


def test_peeking_spends_nothing() -> None:
    buckets = TokenBuckets(Rate(per_s=1, burst=1), clock=Clock())
    assert all(buckets.peek("a").allowed for _ in range(5))
    assert buckets.take("a").allowed
    assert not buckets.peek("a").allowed


@pytest.mark.parametrize(
    ("wait_s", "header"), [(0.01, 1), (0.99, 1), (1.0, 1), (1.01, 2), (19.2, 20)]
)
def test_retry_after_is_the_wait_rounded_up_to_whole_seconds(wait_s: float, header: int) -> None:
    assert Admission(False, 1, 0, wait_s).retry_after_header == header


def test_retry_after_is_the_real_wait_of_a_slow_bucket() -> None:
    buckets = TokenBuckets(Rate(per_s=0.05, burst=1), clock=Clock())
    buckets.take("a")
    assert buckets.take("a").retry_after_header == 20


def test_idle_buckets_are_forgotten_first_when_too_many_keys_are_tracked() -> None:
    clock = Clock()
    buckets = TokenBuckets(Rate(per_s=1, burst=2), clock=clock, max_keys=10)
    buckets.take("busy")
    buckets.take("busy")
    for n in range(9):
        buckets.take(f"idle-{n}")
    clock.now += 5  # every idle bucket is full again; "busy" was spent after them
    buckets.take("busy")
    buckets.take("busy")
    buckets.take("new")  # the eleventh key sweeps the table
    assert len(buckets) <= 10
    assert not buckets.take("busy").allowed  # the spent bucket was kept


# ---- per caller, per tenant, per address ----


def limits(clock: Clock, *, user: Rate, tenant: Rate) -> RateLimits:
    return RateLimits(per_user=user, per_tenant=tenant, clock=clock)


def test_a_caller_over_their_limit_spends_nothing_of_the_tenants() -> None:
    rates = limits(Clock(), user=Rate(1, 2), tenant=Rate(1, 3))
    rates.admit("alice", HUSHAN)
    rates.admit("alice", HUSHAN)
    for _ in range(5):
        with pytest.raises(RateLimitError) as refused:
            rates.admit("alice", HUSHAN)
        assert refused.value.scope == "user"
    rates.admit("bob", HUSHAN)  # the tenant's third token was still there
    with pytest.raises(RateLimitError) as refused:
        rates.admit("carol", HUSHAN)
    assert (refused.value.scope, refused.value.tenant) == ("tenant", HUSHAN)
    assert rates.admit("dave", SHIBEI) is not None  # another tenant is unaffected


def test_the_admission_reported_is_the_one_nearest_its_limit() -> None:
    rates = limits(Clock(), user=Rate(1, 10), tenant=Rate(1, 3))
    admission = rates.admit("alice", HUSHAN)
    assert admission is not None
    assert (admission.limit, admission.remaining) == (3, 2)


def test_a_rate_of_zero_disables_that_limit() -> None:
    rates = limits(Clock(), user=Rate(0, 1), tenant=Rate(0, 1))
    for _ in range(100):
        assert rates.admit("alice", HUSHAN) is None
        rates.charge_failed_login("10.0.0.1")
    rates.refuse_flooding_address("10.0.0.1")


def test_failed_logins_spend_the_address_budget_and_then_refuse_it_before_verifying() -> None:
    clock = Clock()
    rates = limits(clock, user=Rate(1, 2), tenant=Rate(1, 2))
    rates.refuse_flooding_address("10.0.0.1")
    rates.charge_failed_login("10.0.0.1")
    rates.charge_failed_login("10.0.0.1")
    with pytest.raises(RateLimitError) as refused:
        rates.refuse_flooding_address("10.0.0.1")
    assert refused.value.scope == "address"
    rates.refuse_flooding_address("10.0.0.2")
    clock.now += 1
    rates.refuse_flooding_address("10.0.0.1")


# ---- JSON depth ----


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"", 0),
        (b"17", 0),
        (b'"[[[["', 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'[[["]]]]]]\\" [[[["]]]', 3),  # brackets in a string with an escaped quote
        (b'{"a": "\\\\"}', 1),  # an escaped backslash ends before the quote
        (b"[" * 100 + b"]" * 100, 100),
        (b"[]" * 1000, 1),
    ],
)
def test_json_depth_counts_nesting_outside_strings(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth


def test_json_depth_agrees_with_the_parser_on_a_large_document() -> None:
    document: Any = {"rows": [{"name": f"张[{n}]", "tags": ["{", 'a\\"b']} for n in range(2000)]}
    assert json_depth(json.dumps(document, ensure_ascii=False).encode()) == 4


# ---- the body guard ----

MAX_BODY = 16_000
MAX_UPLOAD = 40_000


class Note(BaseModel):
    text: str
    extra: Any = None


def guarded_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    settings = GatewaySettings(
        max_body_bytes=MAX_BODY, max_upload_bytes=MAX_UPLOAD, max_json_depth=4
    )
    install_limits(app, settings)

    @app.post("/notes")
    def post_note(note: Note) -> dict[str, int]:
        return {"length": len(note.text)}

    def upload(file: Annotated[UploadFile, File()]) -> dict[str, int]:
        return {"size": file.size or 0}

    app.router.add_api_route("/files", upload, methods=["POST"], route_class_override=UploadRoute)
    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(guarded_app(), raise_server_exceptions=False)


def problem_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["detail"]
    assert body["detail_en"]
    return body


def test_a_body_within_the_limit_is_served(client: TestClient) -> None:
    response = client.post("/notes", json={"text": "x" * (MAX_BODY - 20)})
    assert response.status_code == 200, response.text


def test_a_body_over_the_limit_is_a_413_naming_the_limit(client: TestClient) -> None:
    problem = problem_of(
        client.post("/notes", json={"text": "x" * MAX_BODY}), 413, "request.too_large"
    )
    assert problem["params"] == {"max_bytes": str(MAX_BODY)}


def test_an_upload_route_takes_a_file_up_to_the_upload_limit(client: TestClient) -> None:
    near = client.post("/files", files={"file": ("a.csv", b"x" * (MAX_UPLOAD - 10), "text/csv")})
    assert near.status_code == 200, near.text
    assert near.json() == {"size": MAX_UPLOAD - 10}
    over = client.post("/files", files={"file": ("a.csv", b"x" * (MAX_UPLOAD * 20), "text/csv")})
    problem_of(over, 413, "request.too_large")


def test_deep_json_is_a_422_before_it_is_parsed(client: TestClient) -> None:
    # Deeper than Python's recursion limit: the parser itself would fail with a RecursionError.
    deep = b'{"text": "x", "extra": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    problem = problem_of(
        client.post("/notes", content=deep, headers={"content-type": "application/json"}),
        422,
        "request.json_too_deep",
    )
    assert problem["params"] == {"max_depth": "4"}
    shallow = b'{"text": "x", "extra": [[["[[[[[[[["]]]}'
    response = client.post("/notes", content=shallow, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_json_route_refuses_other_bodies_with_a_415(
    client: TestClient, content_type: str
) -> None:
    response = client.post("/notes", content=b"text=x", headers={"content-type": content_type})
    problem = problem_of(response, 415, "request.unsupported_media_type")
    assert problem["params"] == {"expected": "application/json"}


def test_a_json_media_type_with_parameters_or_a_suffix_is_json(client: TestClient) -> None:
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        body = json.dumps({"text": "x"}).encode()
        response = client.post("/notes", content=body, headers={"content-type": content_type})
        assert response.status_code == 200, (content_type, response.text)


async def run(
    app: FastAPI, headers: list[tuple[bytes, bytes]], chunks: Iterator[bytes]
) -> tuple[int, int]:
    """POST /notes over ASGI with ``chunks`` as the body; the status and how many chunks the
    app pulled."""
    pulled = 0
    status = 0

    async def receive() -> Message:
        nonlocal pulled
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/notes",
        "raw_path": b"/notes",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    return status, pulled


@pytest.mark.anyio
async def test_a_chunked_body_is_refused_at_the_chunk_that_crosses_the_limit() -> None:
    app = guarded_app()
    long = (b"x" * 3000 for _ in range(1000))  # 3 MB, sent in 1,000 chunks
    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    status, pulled = await run(app, headers, long)
    assert (status, pulled) == (413, 6)  # 18,000 bytes: the sixth chunk crossed 16,000


@pytest.mark.anyio
async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    app = guarded_app()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"50000000")]
    status, pulled = await run(app, headers, (b"x" * 3000 for _ in range(1000)))
    assert (status, pulled) == (413, 0)
