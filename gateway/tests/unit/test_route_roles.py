"""Each route declares who may call it (``x-shequ-roles``) and the gateway holds it to that."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute

from gateway.access import READERS, ROLES_KEY, admit, admits
from gateway.app import create_app, prepare_core
from gateway.config import GatewaySettings
from shequ_kit.errors import DomainError, ErrorKind
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Principal, Role, grants_from_groups

HUSHAN = TenantId("xiaoshan.shushan.hushan")
# Answer anyone: the probes of an orchestrator, no tenant's data behind them.
PUBLIC = {"healthz", "readyz"}


def principal(*groups: str) -> Principal:
    return Principal(
        subject="s",
        username="u",
        grants=grants_from_groups(groups),
        token="t",
        expires_at=datetime.now(UTC),
    )


def request_to(**route_options: Any) -> Request:
    """A request matched to a route declared with these options."""
    router = APIRouter()
    router.add_api_route("/x", lambda: None, **route_options)
    route = router.routes[0]
    assert isinstance(route, APIRoute)
    return Request({"type": "http", "route": route})


def refusal(request: Request, caller: Principal) -> DomainError:
    with pytest.raises(DomainError) as refused:
        admit(request, caller, HUSHAN)
    assert refused.value.kind is ErrorKind.PERMISSION_DENIED
    return refused.value


@pytest.mark.parametrize(
    "group",
    [
        "/xiaoshan/shushan/hushan/community-staff",
        "/xiaoshan/shushan/hushan/grid-worker",
        "/xiaoshan/shushan/street-admin",  # a street's grant covers its communities
        "/platform-admin",
    ],
)
def test_a_route_admits_the_roles_it_declares(group: str) -> None:
    admit(request_to(openapi_extra=admits(*READERS)), principal(group), HUSHAN)


def test_a_role_the_route_does_not_declare_is_refused_naming_the_roles() -> None:
    refused = refusal(
        request_to(openapi_extra=admits(*READERS)),
        principal("/xiaoshan/shushan/hushan/resident"),
    )
    assert "community-staff" in refused.params["required_roles"]


def test_a_modifier_the_route_also_requires_is_needed_besides_the_role() -> None:
    reveal = request_to(openapi_extra=admits(*READERS, also=Role.PII_READER))
    refused = refusal(reveal, principal("/xiaoshan/shushan/hushan/community-staff"))
    assert refused.params["required_roles"] == "pii-reader"
    cleared = principal(
        "/xiaoshan/shushan/hushan/community-staff", "/xiaoshan/shushan/hushan/pii-reader"
    )
    admit(reveal, cleared, HUSHAN)


def test_a_caller_without_any_grant_on_the_tenant_is_refused_naming_it() -> None:
    refused = refusal(
        request_to(openapi_extra=admits(*READERS)),
        principal("/xiaoshan/shushan/xiangyuan/community-staff"),
    )
    assert refused.params == {"tenant": HUSHAN.value}


def test_a_grant_on_a_community_does_not_reach_its_street() -> None:
    with pytest.raises(DomainError):
        admit(
            request_to(openapi_extra=admits(*READERS)),
            principal("/xiaoshan/shushan/hushan/community-staff"),
            TenantId("xiaoshan.shushan"),
        )


@pytest.fixture(scope="module")
def openapi() -> Iterator[dict[str, Any]]:
    # Nothing connects while the document is generated: engine and clients are lazy.
    with prepare_core(GatewaySettings()) as core:
        yield create_app(core).openapi()


def test_every_operation_but_the_health_checks_declares_who_may_call_it(
    openapi: dict[str, Any],
) -> None:
    undeclared = [
        f"{method.upper()} {path}"
        for path, methods in openapi["paths"].items()
        for method, operation in methods.items()
        if ROLES_KEY not in operation and operation["operationId"] not in PUBLIC
    ]
    assert not undeclared, (
        f"declare who may call these with openapi_extra=admits(...) (gateway.access): {undeclared}"
    )
