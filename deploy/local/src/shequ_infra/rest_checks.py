"""What the REST tests assert over and over: a problem+json answer, and one call of every route
of a collection (for the every-route 401/403 checks), shared by the census and grid route
tests."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx

# Any well-formed id: routes refused before the service never look it up.
SOME_ID = "6b1a8c54-0000-4000-8000-000000000000"
API_PREFIX = "/api/v1/tenants/{tenant}"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tenant_url(tenant: str, path: str) -> str:
    return f"/api/v1/tenants/{tenant}{path}"


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """The answer is an RFC 9457 problem with this status (and code), in both languages."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["detail"]
    assert body["detail_en"]
    assert body["request_id"]
    if code is not None:
        assert body["code"] == code
    return dict(body)


def fields_of(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


def call_route(
    client: httpx.Client, method: str, path: str, tenant: str, headers: dict[str, str]
) -> httpx.Response:
    """One call of ``method path`` (a template such as ``/grids/{grid_id}``) with every id
    filled in and an empty JSON body where the method takes one."""
    filled = path.format_map(defaultdict(lambda: SOME_ID))
    body: dict[str, Any] | None = {} if method in ("post", "patch", "delete") else None
    return client.request(method, tenant_url(tenant, filled), headers=headers, json=body)


def served_routes(openapi: dict[str, Any], tag: object) -> set[tuple[str, str]]:
    """``(method, path below /api/v1/tenants/{tenant})`` of every operation with this tag."""
    return {
        (method, path.removeprefix(API_PREFIX))
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
        if tag in operation["tags"]
    }
