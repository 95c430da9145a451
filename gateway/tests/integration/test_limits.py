"""The gateway's limits with real tokens and a real census: rate limits per caller and per
tenant (429 with the real Retry-After), bodies over the limit refused while they arrive (413,
over a real HTTP connection for declared and chunked bodies), deep JSON refused, and an upload
just under the upload limit imported.

Each test builds the gateway as the conftest does, on settings with low limits of its own.
"""

from __future__ import annotations

import csv
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from census.identity.codes import id_check_character
from census.imports.template import COLUMNS
from gateway.app import GatewayCore, create_app, prepare_core
from shequ_infra.processes import free_port
from shequ_infra.rest_checks import assert_problem
from shequ_infra.rest_checks import tenant_url as url

pytestmark = pytest.mark.integration

CENSUS_DATABASE = "gateway_limits"  # this module's census server (conftest)
HUSHAN = "xiaoshan.shushan.hushan"
SHIBEI = "xiaoshan.beigan.shibei"
# One token per 20 s: a test never sees a refill, and Retry-After is well above the 5 s the
# gateway says when it does not know the wait.
SLOW = 0.05
NO_RATE_LIMITS = {"rate_limit_user_per_s": 0.0, "rate_limit_tenant_per_s": 0.0}
Login = Callable[..., str]


@pytest.fixture(scope="module")
def seeded(core: GatewayCore, gateway: GatewayCore) -> GatewayCore:
    """The module's gateway (on its census server), once the session's tenant registry is
    migrated and seeded (``core``)."""
    return gateway


@contextmanager
def limited_api(base: GatewayCore, **limits: Any) -> Iterator[TestClient]:
    """A gateway like ``base`` with ``limits`` in its settings."""
    with prepare_core(base.settings.model_copy(update=limits)) as core:
        yield TestClient(create_app(core), raise_server_exceptions=False)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_rate_limited(response: httpx.Response, code: str, burst: int) -> dict[str, Any]:
    problem = assert_problem(response, 429, code)
    retry_after = int(response.headers["Retry-After"])
    assert 5 < retry_after <= 20, retry_after  # the bucket's real wait, not a fixed guess
    assert problem["params"]["retry_after_s"] == str(retry_after)
    assert response.headers["RateLimit-Limit"] == str(burst)
    assert response.headers["RateLimit-Remaining"] == "0"
    return problem


def test_a_caller_over_their_rate_is_refused_and_others_are_not(
    seeded: GatewayCore, token_of: Login
) -> None:
    limits = {"rate_limit_user_per_s": SLOW, "rate_limit_user_burst": 3}
    with limited_api(seeded, **limits) as api:
        staff, other = bearer(token_of("hushan-staff")), bearer(token_of("shibei-staff"))
        answered = [api.get("/api/v1/me", headers=staff) for _ in range(3)]
        assert [r.status_code for r in answered] == [200, 200, 200]
        assert [r.headers["RateLimit-Remaining"] for r in answered] == ["2", "1", "0"]
        assert_rate_limited(api.get("/api/v1/me", headers=staff), "rate_limit.user", 3)
        refused = api.get(url(HUSHAN, ""), headers=staff)  # every route, not only /me
        assert_rate_limited(refused, "rate_limit.user", 3)

        assert api.get("/api/v1/me", headers=other).status_code == 200
        assert api.get(url(SHIBEI, ""), headers=other).status_code == 200
    print("per caller: 3 answered, 2 refused with 429; another tenant's caller answered")


def test_a_tenant_over_its_rate_is_refused_and_other_tenants_are_not(
    seeded: GatewayCore, token_of: Login
) -> None:
    limits = {
        "rate_limit_user_per_s": 0.0,
        "rate_limit_tenant_per_s": SLOW,
        "rate_limit_tenant_burst": 3,
    }
    with limited_api(seeded, **limits) as api:
        staff, pii = bearer(token_of("hushan-staff")), bearer(token_of("hushan-pii"))
        outsider = bearer(token_of("shibei-staff"))
        # A caller with no grant on Hushan is refused there and spends none of its budget.
        foreign = [api.get(url(HUSHAN, ""), headers=outsider).status_code for _ in range(5)]
        assert 200 not in foreign
        assert 429 not in foreign

        answered = [api.get(url(HUSHAN, ""), headers=h) for h in (staff, staff, pii)]
        assert [r.status_code for r in answered] == [200, 200, 200]
        problem = assert_rate_limited(api.get(url(HUSHAN, ""), headers=pii), "rate_limit.tenant", 3)
        assert problem["params"]["tenant"] == HUSHAN
        assert HUSHAN in problem["detail"]

        assert api.get(url(SHIBEI, ""), headers=outsider).status_code == 200
        assert api.get("/api/v1/me", headers=pii).status_code == 200  # no tenant in the path
    print("per tenant: 3 answered for two callers, the 4th refused; Shibei answered")


def test_bad_tokens_from_one_address_are_refused_before_verification(
    seeded: GatewayCore, token_of: Login
) -> None:
    limits = {"rate_limit_user_per_s": SLOW, "rate_limit_user_burst": 3}
    with limited_api(seeded, **limits) as api:
        forged = bearer("eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUifQ.e30.c2ln")
        statuses = [api.get("/api/v1/me", headers=forged).status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        refused = api.get("/api/v1/me", headers=bearer(token_of("hushan-staff")))
        assert_problem(refused, 429, "rate_limit.address")
        assert int(refused.headers["Retry-After"]) > 5
    print("per address: 3 forged tokens answered 401; then a valid one refused 429 unverified")


# ---- bodies ----


@contextmanager
def served(core: GatewayCore) -> Iterator[int]:
    """The gateway app served by uvicorn on a free loopback port, for raw HTTP."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(core), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, name="gateway-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def answer_to(port: int, head: str, body_parts: list[bytes]) -> tuple[int, dict[str, Any]]:
    """Send a request head and the given body parts — never the end of the body — and read
    the answer: the status and the problem document. A server that waited for the rest of the
    body would leave this to time out."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head.encode("latin-1"))
        for part in body_parts:
            conn.sendall(part)
        received = b""
        while b"\r\n\r\n" not in received:
            received += conn.recv(65536)
        head_bytes, _, body = received.partition(b"\r\n\r\n")
        status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        while len(body) < int(headers["content-length"]):
            body += conn.recv(65536)
    assert headers["content-type"] == "application/problem+json", received
    document: dict[str, Any] = httpx.Response(200, content=body).json()
    return int(status_line.split()[1]), document


def request_head(token: str, framing: str) -> str:
    return (
        f"POST {url(HUSHAN, '/complexes')} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n{framing}\r\n"
    )


def test_oversized_bodies_are_refused_while_they_arrive(
    seeded: GatewayCore, token_of: Login
) -> None:
    limits = {"max_body_bytes": 64 * 1024, **NO_RATE_LIMITS}
    token = token_of("hushan-staff")
    with prepare_core(seeded.settings.model_copy(update=limits)) as core, served(core) as port:
        # 100 MB declared, nothing sent: refused at once, the body never awaited.
        status, problem = answer_to(port, request_head(token, "Content-Length: 100000000\r\n"), [])
        assert (status, problem["code"]) == (413, "request.too_large")
        assert problem["params"] == {"max_bytes": str(64 * 1024)}
        # Chunked, no length: refused once the chunks so far pass 64 KiB, body still open.
        chunk = b"[" + b"0," * 8000 + b"0]"
        parts = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(5)]
        status, problem = answer_to(
            port, request_head(token, "Transfer-Encoding: chunked\r\n"), parts
        )
        assert (status, problem["code"]) == (413, "request.too_large")
    print("413 for 100 MB declared (0 bytes sent) and for 80 KB chunked of an open body")


def test_deep_json_and_huge_arrays_are_answered_cleanly(
    seeded: GatewayCore, token_of: Login
) -> None:
    with limited_api(seeded, max_json_depth=8, **NO_RATE_LIMITS) as api:
        staff = {**bearer(token_of("hushan-staff")), "Content-Type": "application/json"}
        deep = b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}"
        response = api.post(url(HUSHAN, "/complexes"), headers=staff, content=deep)
        assert assert_problem(response, 422, "request.json_too_deep")["params"] == {
            "max_depth": "8"
        }
        # Half a million elements, under the 1 MiB default: parsed, and refused by the model.
        huge = b"[" + b"0," * 500_000 + b"0]"
        assert_problem(api.post(url(HUSHAN, "/complexes"), headers=staff, content=huge), 422)
        as_form = {**staff, "Content-Type": "application/x-www-form-urlencoded"}
        wrong = api.post(url(HUSHAN, "/complexes"), headers=as_form, content=b"name=x")
        assert_problem(wrong, 415, "request.unsupported_media_type")
    print("JSON 5,000 deep → 422; an array of 500,001 → 422; a form on a JSON route → 415")


SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨"
GIVEN = "安宁和平明华建国秀英志强丽娟伟芳"


def chinese_name(n: int) -> str:
    """A distinct name for each ``n`` below 4,096 (names have no digits)."""
    return SURNAMES[n % 16] + GIVEN[n // 16 % 16] + GIVEN[n // 256 % 16]


def import_rows(limit: int) -> bytes:
    """A residents CSV as close under ``limit`` bytes as whole rows allow: one household head
    per dwelling, every row valid."""
    header = io.StringIO()
    csv.writer(header).writerow([column.header_zh for column in COLUMNS])
    data = header.getvalue().encode("utf-8-sig")
    born = date(1950, 1, 1)
    for n in range(4096):
        first17 = f"330109{(born + timedelta(days=n)):%Y%m%d}{500 + n % 400:03d}"
        line = io.StringIO()
        csv.writer(line).writerow(
            [
                chinese_name(n),
                first17 + id_check_character(first17),
                f"1390000{n:04d}",
                "户主",
                "户籍",
                "自有",
                "限额苑",
                f"{n // 40 + 1}幢",
                "1单元",
                f"{n % 40 + 101}",
                "2020-05-01",
                "",
                "",
                "2026-11-01",
            ]
        )
        row = line.getvalue().encode()
        if len(data) + len(row) > limit:
            return data
        data += row
    raise AssertionError("the limit is larger than this test's rows")


def test_an_upload_just_under_the_upload_limit_is_imported(
    seeded: GatewayCore, token_of: Login
) -> None:
    limit = 32 * 1024
    data = import_rows(limit)
    assert limit - 200 < len(data) <= limit
    with limited_api(seeded, max_upload_bytes=limit, **NO_RATE_LIMITS) as api:
        staff = bearer(token_of("hushan-staff"))
        response = api.post(
            url(HUSHAN, "/imports"), headers=staff, files={"file": ("限额.csv", data, "text/csv")}
        )
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["rejected"] == []
        assert report["rows_imported"] == report["rows_total"] > 200

        # Over the limit by more than the multipart framing: refused while it arrives.
        over = data + b"x" * (limit + 100 * 1024)
        refused = api.post(
            url(HUSHAN, "/imports"), headers=staff, files={"file": ("大.csv", over, "text/csv")}
        )
        assert_problem(refused, 413, "request.too_large")
    print(f"imported {report['rows_imported']} rows from {len(data)} bytes (limit {limit})")
