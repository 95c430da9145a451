"""The kit's gRPC server and client against real Keycloak tokens, on a real loopback server."""

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import jwt
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import REGISTRY

from shequ.census.v1 import census_pb2_grpc
from shequ.common.v1.tenant_pb2 import TenantRef
from shequ_infra import LocalInfrastructure
from shequ_infra.forged_tokens import claims_of, unsigned, with_tampered_claims
from shequ_infra.processes import free_port
from shequ_kit.context import call_context, current_principal, current_request_id
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, not_found
from shequ_kit.grpc_client import error_detail, make_channel
from shequ_kit.grpc_server import build_grpc_server, serve_until_terminated
from shequ_kit.tenancy import TenantId, current_tenant, require_tenant, tenant_scope
from shequ_kit.tokens import TokenVerifier

SERVICE = "shequ.kittest.v1.Probe"
RPC_SERVICE_LABEL = "kit-grpc-test"
DEMO_PASSWORD = "shequ-demo"
HUSHAN = TenantId("xiaoshan.shushan.hushan")
XIANGYUAN = TenantId("xiaoshan.shushan.xiangyuan")
CALL_TIMEOUT_S = 10.0
# gRPC sends the timeout rounded up to its wire units, so the server may see a little more.
DEADLINE_ROUNDING_S = 0.1

Metadata = tuple[tuple[str, str], ...]


def method(name: str) -> str:
    return f"/{SERVICE}/{name}"


# --- a tiny servicer: no .proto, TenantRef in and out ---------------------------------------


@dataclass(frozen=True)
class Seen:
    """What a handler saw of its call context."""

    tenant: TenantId | None
    username: str | None
    request_id: str | None
    time_remaining_s: float | None


@dataclass
class Probe:
    seen: list[Seen] = field(default_factory=list)

    def _note(self, context: grpc.ServicerContext) -> None:
        principal = current_principal()
        self.seen.append(
            Seen(
                tenant=current_tenant(),
                username=principal.username if principal else None,
                request_id=current_request_id(),
                time_remaining_s=context.time_remaining(),
            )
        )

    def who_am_i(self, request: TenantRef, context: grpc.ServicerContext) -> TenantRef:
        self._note(context)
        tenant = current_tenant()
        return TenantRef(tenant_id=tenant.value if tenant else "")

    def fail(self, request: TenantRef, context: grpc.ServicerContext) -> TenantRef:
        raise DomainError(
            "cases.closed",
            "事项已结案，不能再派单",
            "the case is closed and cannot be assigned",
            ErrorKind.CONFLICT,
            (FieldViolation("case.state", "is closed"),),
            {"state": "closed", "allowed_actions": "reopen,rate"},
        )

    def crash(self, request: TenantRef, context: grpc.ServicerContext) -> TenantRef:
        raise RuntimeError("connection to postgresql://census:hunter2@db failed")

    def refuse(self, request: TenantRef, context: grpc.ServicerContext) -> TenantRef:
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down")
        raise AssertionError("abort returned")

    def endless(self, request: TenantRef, context: grpc.ServicerContext) -> Iterator[TenantRef]:
        while True:
            yield TenantRef(tenant_id=require_tenant().value)
            time.sleep(0.01)

    def count(self, request: TenantRef, context: grpc.ServicerContext) -> Iterator[TenantRef]:
        for _ in range(3):
            yield TenantRef(tenant_id=require_tenant().value)
        if request.tenant_id == "then-fail":
            raise not_found("grid.not_found", "网格不存在", "no such grid")

    def join(self, requests: Iterator[TenantRef], context: grpc.ServicerContext) -> TenantRef:
        received = sum(1 for _ in requests)
        return TenantRef(tenant_id=require_tenant().value if received else "")

    def echo(
        self, requests: Iterator[TenantRef], context: grpc.ServicerContext
    ) -> Iterator[TenantRef]:
        for _ in requests:
            yield TenantRef(tenant_id=require_tenant().value)

    def register(self, server: grpc.Server) -> None:
        codecs: dict[str, Any] = {
            "request_deserializer": TenantRef.FromString,
            "response_serializer": TenantRef.SerializeToString,
        }
        handlers = {
            "WhoAmI": grpc.unary_unary_rpc_method_handler(self.who_am_i, **codecs),
            "Profile": grpc.unary_unary_rpc_method_handler(self.who_am_i, **codecs),
            "Fail": grpc.unary_unary_rpc_method_handler(self.fail, **codecs),
            "Crash": grpc.unary_unary_rpc_method_handler(self.crash, **codecs),
            "Refuse": grpc.unary_unary_rpc_method_handler(self.refuse, **codecs),
            # A protoc-generated base servicer's method: what an RPC nobody built runs.
            "Unbuilt": grpc.unary_unary_rpc_method_handler(
                # The stubs call it abstract; at run time it is the class services extend.
                census_pb2_grpc.CensusServiceServicer().GetStatistics,  # type: ignore[abstract]
                **codecs,
            ),
            "Count": grpc.unary_stream_rpc_method_handler(self.count, **codecs),
            "Endless": grpc.unary_stream_rpc_method_handler(self.endless, **codecs),
            "Join": grpc.stream_unary_rpc_method_handler(self.join, **codecs),
            "Echo": grpc.stream_stream_rpc_method_handler(self.echo, **codecs),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


@contextmanager
def running_server(verifier: TokenVerifier, probe: Probe) -> Iterator[str]:
    port = free_port()
    server = build_grpc_server(
        service=RPC_SERVICE_LABEL,
        registrations=[probe.register],
        service_names=[SERVICE],
        verifier=verifier,
        host="127.0.0.1",
        port=port,
        max_workers=8,
        tenantless_methods=[method("Profile")],
    )
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None)


@pytest.fixture(scope="module")
def verifier(infra: LocalInfrastructure) -> TokenVerifier:
    return TokenVerifier(issuer=infra.keycloak.issuer, audience="shequ")


@pytest.fixture(scope="module")
def probe() -> Probe:
    return Probe()


@pytest.fixture(scope="module")
def target(verifier: TokenVerifier, probe: Probe) -> Iterator[str]:
    with running_server(verifier, probe) as address:
        yield address


@pytest.fixture(scope="module")
def channel(target: str) -> Iterator[grpc.Channel]:
    """A bare channel: what reaches the server is exactly what a test puts in metadata."""
    with grpc.insecure_channel(target) as bare:
        yield bare


@pytest.fixture(scope="module")
def token_of(infra: LocalInfrastructure) -> Callable[[str], str]:
    cache: dict[str, str] = {}

    def login(username: str) -> str:
        if username not in cache:
            tokens = infra.keycloak.password_grant(username, DEMO_PASSWORD)
            cache[username] = tokens["access_token"]
        return cache[username]

    return login


# --- calling helpers ---------------------------------------------------------------------


def codec(channel: grpc.Channel, kind: str, name: str) -> Any:
    stub_factory = getattr(channel, kind)
    return stub_factory(
        method(name),
        request_serializer=TenantRef.SerializeToString,
        response_deserializer=TenantRef.FromString,
    )


def who_am_i(channel: grpc.Channel, metadata: Metadata, name: str = "WhoAmI") -> TenantRef:
    reply: TenantRef = codec(channel, "unary_unary", name)(
        TenantRef(), metadata=metadata, timeout=CALL_TIMEOUT_S
    )
    return reply


def call_of_kind(channel: grpc.Channel, kind: str, metadata: Metadata) -> list[TenantRef]:
    """Call the probe's method of ``kind`` and return every reply."""
    two_requests = [TenantRef(), TenantRef()]
    if kind == "unary_unary":
        return [codec(channel, kind, "WhoAmI")(TenantRef(), metadata=metadata, timeout=10)]
    if kind == "unary_stream":
        return list(codec(channel, kind, "Count")(TenantRef(), metadata=metadata, timeout=10))
    if kind == "stream_unary":
        return [codec(channel, kind, "Join")(iter(two_requests), metadata=metadata, timeout=10)]
    return list(codec(channel, kind, "Echo")(iter(two_requests), metadata=metadata, timeout=10))


HANDLER_KINDS = ["unary_unary", "unary_stream", "stream_unary", "stream_stream"]


def failure_of(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def auth(token: str, tenant: TenantId | str | None = HUSHAN) -> Metadata:
    metadata: Metadata = (("authorization", f"Bearer {token}"),)
    return metadata if tenant is None else (*metadata, ("x-tenant-id", str(tenant)))


# --- the happy path, for every handler kind --------------------------------------------------


def test_valid_token_with_grant_reaches_handler_in_its_tenant(
    channel: grpc.Channel, probe: Probe, token_of: Callable[[str], str]
) -> None:
    reply = who_am_i(channel, auth(token_of("hushan-staff")))

    assert reply.tenant_id == HUSHAN.value
    assert probe.seen[-1].tenant == HUSHAN
    assert probe.seen[-1].username == "hushan-staff"


@pytest.mark.parametrize("kind", HANDLER_KINDS)
def test_every_handler_kind_runs_inside_the_callers_tenant(
    channel: grpc.Channel, token_of: Callable[[str], str], kind: str
) -> None:
    replies = call_of_kind(channel, kind, auth(token_of("hushan-staff")))

    assert replies
    assert {reply.tenant_id for reply in replies} == {HUSHAN.value}


@pytest.mark.parametrize("kind", HANDLER_KINDS)
def test_every_handler_kind_refuses_a_call_without_token(channel: grpc.Channel, kind: str) -> None:
    error = failure_of(lambda: call_of_kind(channel, kind, (("x-tenant-id", HUSHAN.value),)))

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("kind", HANDLER_KINDS)
def test_every_handler_kind_refuses_a_tenant_outside_the_callers_grants(
    channel: grpc.Channel, token_of: Callable[[str], str], kind: str
) -> None:
    metadata = auth(token_of("hushan-staff"), XIANGYUAN)

    error = failure_of(lambda: call_of_kind(channel, kind, metadata))

    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


def test_street_grant_covers_its_communities(
    channel: grpc.Channel, token_of: Callable[[str], str]
) -> None:
    for community in (HUSHAN, XIANGYUAN):
        assert who_am_i(channel, auth(token_of("shushan-admin"), community)).tenant_id == str(
            community
        )


# --- tokens that must not get in -------------------------------------------------------------


def test_call_without_token_is_unauthenticated_with_detail(channel: grpc.Channel) -> None:
    error = failure_of(lambda: who_am_i(channel, (("x-tenant-id", HUSHAN.value),)))

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    detail = error_detail(error)
    assert detail is not None
    assert detail.code == "auth.unauthenticated"


def test_non_bearer_authorization_is_unauthenticated(
    channel: grpc.Channel, token_of: Callable[[str], str]
) -> None:
    metadata = (("authorization", f"Basic {token_of('hushan-staff')}"), ("x-tenant-id", "x"))

    error = failure_of(lambda: who_am_i(channel, metadata))

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


def test_expired_token_is_unauthenticated(
    channel: grpc.Channel, infra: LocalInfrastructure, token_of: Callable[[str], str]
) -> None:
    token = token_of("hushan-staff")
    expires_at = float(claims_of(token)["exp"])
    # The same realm, verified by a server whose clock is an hour past the token's expiry.
    late = TokenVerifier(
        issuer=infra.keycloak.issuer, audience="shequ", clock=lambda: expires_at + 3600
    )
    with running_server(late, Probe()) as late_target, grpc.insecure_channel(late_target) as ch:
        error = failure_of(lambda: who_am_i(ch, auth(token)))

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "expired" in error.details()
    assert who_am_i(channel, auth(token)).tenant_id == HUSHAN.value  # still fine on time


def test_token_from_another_issuer_is_unauthenticated(
    channel: grpc.Channel, infra: LocalInfrastructure, token_of: Callable[[str], str]
) -> None:
    token = infra.keycloak.token_from_other_issuer("hushan-staff", DEMO_PASSWORD)
    assert claims_of(token)["iss"] != infra.keycloak.issuer
    assert (
        jwt.get_unverified_header(token)["kid"]
        == jwt.get_unverified_header(token_of("hushan-staff"))["kid"]
    )

    error = failure_of(lambda: who_am_i(channel, auth(token)))

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "issuer" in error.details().lower()


@pytest.fixture(scope="module")
def token_without_shequ_audience(infra: LocalInfrastructure) -> str:
    """hushan-staff's token from a realm client that has the groups mapper but no audience."""
    return infra.keycloak.token_without_audience("hushan-staff", DEMO_PASSWORD)


def test_token_without_shequ_audience_is_unauthenticated(
    channel: grpc.Channel, token_without_shequ_audience: str
) -> None:
    claims = claims_of(token_without_shequ_audience)
    audience = claims.get("aud", [])
    assert "shequ" not in ([audience] if isinstance(audience, str) else audience)
    assert "/xiaoshan/shushan/hushan/community-staff" in claims["groups"]

    error = failure_of(lambda: who_am_i(channel, auth(token_without_shequ_audience)))

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert '"aud"' in error.details()


def test_token_with_tampered_claims_is_unauthenticated(
    channel: grpc.Channel, token_of: Callable[[str], str]
) -> None:
    forged = with_tampered_claims(token_of("hushan-staff"), groups=["/platform-admin"])

    error = failure_of(lambda: who_am_i(channel, auth(forged)))

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "signature" in error.details().lower()


def test_unsigned_alg_none_token_is_unauthenticated(
    channel: grpc.Channel, token_of: Callable[[str], str]
) -> None:
    forged = unsigned(token_of("hushan-staff"))

    error = failure_of(lambda: who_am_i(channel, auth(forged)))

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


def test_token_from_master_realm_is_unauthenticated(
    channel: grpc.Channel, infra: LocalInfrastructure
) -> None:
    foreign = infra.keycloak.master_admin_token()
    assert claims_of(foreign)["iss"].endswith("/realms/master")

    error = failure_of(lambda: who_am_i(channel, auth(foreign)))

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


# --- tenants -------------------------------------------------------------------------------


def test_grant_on_another_community_is_permission_denied(
    channel: grpc.Channel, token_of: Callable[[str], str]
) -> None:
    error = failure_of(lambda: who_am_i(channel, auth(token_of("hushan-staff"), XIANGYUAN)))

    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    detail = error_detail(error)
    assert detail is not None
    assert detail.code == "auth.permission_denied"
    assert detail.params["tenant"] == XIANGYUAN.value


@pytest.mark.parametrize(
    ("tenant_metadata", "error_code"),
    [
        ((), "tenant.missing"),
        ((("x-tenant-id", "Xiaoshan..Hushan"),), "tenant.invalid_id"),
        ((("x-tenant-id", "xiaoshan.shushan.hushan.community-staff"),), "tenant.invalid_id"),
        ((("x-tenant-id", HUSHAN.value), ("x-tenant-id", XIANGYUAN.value)), "tenant.ambiguous"),
    ],
    ids=["missing", "malformed", "role-name", "two-tenants"],
)
def test_missing_or_invalid_tenant_is_invalid_argument(
    channel: grpc.Channel,
    token_of: Callable[[str], str],
    tenant_metadata: Metadata,
    error_code: str,
) -> None:
    metadata = (*auth(token_of("shushan-admin"), None), *tenant_metadata)

    error = failure_of(lambda: who_am_i(channel, metadata))

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    detail = error_detail(error)
    assert detail is not None
    assert detail.code == error_code


def test_declared_tenantless_method_runs_without_tenant_but_not_without_token(
    channel: grpc.Channel, probe: Probe, token_of: Callable[[str], str]
) -> None:
    reply = who_am_i(channel, auth(token_of("hushan-staff"), None), name="Profile")

    assert reply.tenant_id == ""
    assert probe.seen[-1].tenant is None
    assert probe.seen[-1].username == "hushan-staff"
    error = failure_of(lambda: who_am_i(channel, (), name="Profile"))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


def test_tenantless_method_still_checks_a_tenant_it_is_given(
    channel: grpc.Channel, token_of: Callable[[str], str]
) -> None:
    metadata = auth(token_of("hushan-staff"), XIANGYUAN)

    error = failure_of(lambda: who_am_i(channel, metadata, name="Profile"))

    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


# --- errors --------------------------------------------------------------------------------


def test_domain_error_reaches_client_as_mapped_status_with_detail(
    target: str, verifier: TokenVerifier, token_of: Callable[[str], str]
) -> None:
    principal = verifier.verify(token_of("hushan-staff"))
    with (
        make_channel(target, default_timeout_s=5) as kit_channel,
        tenant_scope(HUSHAN),
        call_context(request_id="req-domain-error", principal=principal),
    ):
        error = failure_of(lambda: codec(kit_channel, "unary_unary", "Fail")(TenantRef()))

    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "the case is closed and cannot be assigned"
    detail = error_detail(error)
    assert detail is not None
    assert detail.code == "cases.closed"
    assert detail.message_zh == "事项已结案，不能再派单"
    assert [(v.field, v.description) for v in detail.field_violations] == [
        ("case.state", "is closed")
    ]
    assert dict(detail.params) == {"state": "closed", "allowed_actions": "reopen,rate"}
    assert ("x-request-id", "req-domain-error") in error.trailing_metadata()


def test_domain_error_mid_stream_ends_the_stream_with_its_status(
    channel: grpc.Channel, token_of: Callable[[str], str]
) -> None:
    replies: list[TenantRef] = []
    stream = codec(channel, "unary_stream", "Count")(
        TenantRef(tenant_id="then-fail"), metadata=auth(token_of("hushan-staff")), timeout=10
    )

    error = failure_of(lambda: replies.extend(stream))

    assert len(replies) == 3
    assert error.code() is grpc.StatusCode.NOT_FOUND
    detail = error_detail(error)
    assert detail is not None
    assert detail.code == "grid.not_found"


def test_unexpected_exception_is_internal_and_its_message_is_not_leaked(
    channel: grpc.Channel, token_of: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shequ_kit.grpc_server")
    metadata = (*auth(token_of("hushan-staff")), ("x-request-id", "req-crash"))

    error = failure_of(lambda: who_am_i(channel, metadata, name="Crash"))

    assert error.code() is grpc.StatusCode.INTERNAL
    assert "hunter2" not in error.details()
    assert "req-crash" in error.details()
    detail = error_detail(error)
    assert detail is not None
    assert detail.code == "internal.unexpected"
    assert "hunter2" not in str(detail)
    logged = [r for r in caplog.records if r.exc_info and "Crash" in r.getMessage()]
    assert logged
    assert logged[0].exc_info is not None
    assert "hunter2" in str(logged[0].exc_info[1])


def test_status_the_handler_aborts_with_passes_through_unchanged(
    channel: grpc.Channel, token_of: Callable[[str], str]
) -> None:
    metadata = (*auth(token_of("hushan-staff")), ("x-request-id", "req-refuse"))

    error = failure_of(lambda: who_am_i(channel, metadata, name="Refuse"))

    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.details() == "slow down"
    assert ("x-request-id", "req-refuse") in error.trailing_metadata()


def test_an_rpc_not_built_yet_answers_unimplemented_not_internal(
    channel: grpc.Channel, token_of: Callable[[str], str]
) -> None:
    error = failure_of(lambda: who_am_i(channel, auth(token_of("hushan-staff")), name="Unbuilt"))

    assert error.code() is grpc.StatusCode.UNIMPLEMENTED


def rpc_count(name: str, code: str) -> float:
    labels = {"service": RPC_SERVICE_LABEL, "method": method(name), "code": code}
    return REGISTRY.get_sample_value("shequ_rpc_requests_total", labels) or 0.0


def test_stream_the_client_cancels_is_counted_as_cancelled(
    channel: grpc.Channel, token_of: Callable[[str], str]
) -> None:
    before = rpc_count("Endless", "CANCELLED")
    stream = codec(channel, "unary_stream", "Endless")(
        TenantRef(), metadata=auth(token_of("hushan-staff")), timeout=10
    )
    assert next(stream).tenant_id == HUSHAN.value

    stream.cancel()

    deadline = time.monotonic() + 5
    while rpc_count("Endless", "CANCELLED") == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rpc_count("Endless", "CANCELLED") == before + 1


# --- request id, logs, metrics -------------------------------------------------------------


def test_request_id_from_metadata_is_echoed_and_seen_by_the_handler(
    channel: grpc.Channel, probe: Probe, token_of: Callable[[str], str]
) -> None:
    metadata = (*auth(token_of("hushan-staff")), ("x-request-id", "req-echo-1"))

    _, call = codec(channel, "unary_unary", "WhoAmI").with_call(
        TenantRef(), metadata=metadata, timeout=10
    )

    assert ("x-request-id", "req-echo-1") in call.trailing_metadata()
    assert probe.seen[-1].request_id == "req-echo-1"


def test_call_without_request_id_gets_a_new_one_even_when_refused(channel: grpc.Channel) -> None:
    error = failure_of(lambda: who_am_i(channel, ()))

    echoed = [value for key, value in error.trailing_metadata() if key == "x-request-id"]
    assert len(echoed) == 1
    assert len(echoed[0]) == 32


def test_each_call_is_logged_and_counted_with_its_code(
    channel: grpc.Channel, token_of: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shequ_kit.grpc_server")

    def count(code: str) -> float:
        return rpc_count("WhoAmI", code)

    ok_before, denied_before = count("OK"), count("PERMISSION_DENIED")
    who_am_i(channel, (*auth(token_of("hushan-staff")), ("x-request-id", "req-log-ok")))
    failure_of(lambda: who_am_i(channel, auth(token_of("hushan-staff"), XIANGYUAN)))

    assert count("OK") == ok_before + 1
    assert count("PERMISSION_DENIED") == denied_before + 1
    access = [
        r for r in caplog.records if getattr(r, "fields", {}).get("method") == method("WhoAmI")
    ]
    ok_line, denied_line = access[-2].__dict__["fields"], access[-1].__dict__["fields"]
    assert ok_line["code"] == "OK"
    assert ok_line["tenant"] == HUSHAN.value
    assert ok_line["user"] == "hushan-staff"
    assert ok_line["duration_ms"] >= 0
    assert denied_line["code"] == "PERMISSION_DENIED"
    assert denied_line["requested_tenant"] == XIANGYUAN.value
    assert "tenant" not in denied_line


# --- the client helper ---------------------------------------------------------------------


def test_client_forwards_token_tenant_and_request_id_from_context(
    target: str, probe: Probe, verifier: TokenVerifier, token_of: Callable[[str], str]
) -> None:
    principal = verifier.verify(token_of("hushan-staff"))
    with (
        make_channel(target, default_timeout_s=5) as kit_channel,
        tenant_scope(HUSHAN),
        call_context(request_id="req-forwarded-1", principal=principal),
    ):
        reply, call = codec(kit_channel, "unary_unary", "WhoAmI").with_call(TenantRef())

    assert reply.tenant_id == HUSHAN.value
    seen = probe.seen[-1]
    assert (seen.tenant, seen.username, seen.request_id) == (
        HUSHAN,
        "hushan-staff",
        "req-forwarded-1",
    )
    assert ("x-request-id", "req-forwarded-1") in call.trailing_metadata()


@pytest.mark.parametrize("kind", HANDLER_KINDS)
def test_client_forwards_context_for_every_call_kind(
    target: str, verifier: TokenVerifier, token_of: Callable[[str], str], kind: str
) -> None:
    principal = verifier.verify(token_of("shushan-admin"))
    with (
        make_channel(target, default_timeout_s=5) as kit_channel,
        tenant_scope(XIANGYUAN),
        call_context(request_id="req-kinds", principal=principal),
    ):
        replies = call_of_kind(kit_channel, kind, ())

    assert {reply.tenant_id for reply in replies} == {XIANGYUAN.value}


def test_metadata_the_call_names_wins_over_the_context(
    target: str, probe: Probe, verifier: TokenVerifier, token_of: Callable[[str], str]
) -> None:
    principal = verifier.verify(token_of("shushan-admin"))
    with (
        make_channel(target, default_timeout_s=5) as kit_channel,
        tenant_scope(HUSHAN),
        call_context(request_id="req-explicit", principal=principal),
    ):
        reply = codec(kit_channel, "unary_unary", "WhoAmI")(
            TenantRef(), metadata=(("x-tenant-id", XIANGYUAN.value),)
        )

    assert reply.tenant_id == XIANGYUAN.value


def test_client_sets_the_default_deadline_when_the_call_names_none(
    target: str, channel: grpc.Channel, probe: Probe, token_of: Callable[[str], str]
) -> None:
    token = token_of("hushan-staff")
    # Without the kit, a call has no deadline at all.
    codec(channel, "unary_unary", "WhoAmI")(TenantRef(), metadata=auth(token))
    bare_remaining = probe.seen[-1].time_remaining_s
    assert bare_remaining is None or bare_remaining > 24 * 3600

    with make_channel(target, default_timeout_s=5) as kit_channel:
        codec(kit_channel, "unary_unary", "WhoAmI")(TenantRef(), metadata=auth(token))

    remaining = probe.seen[-1].time_remaining_s
    assert remaining is not None
    assert 0 < remaining <= 5 + DEADLINE_ROUNDING_S


def test_client_keeps_the_deadline_the_call_names(
    target: str, probe: Probe, token_of: Callable[[str], str]
) -> None:
    with make_channel(target, default_timeout_s=30) as kit_channel:
        codec(kit_channel, "unary_unary", "WhoAmI")(
            TenantRef(), metadata=auth(token_of("hushan-staff")), timeout=1.5
        )

    remaining = probe.seen[-1].time_remaining_s
    assert remaining is not None
    assert 0 < remaining <= 1.5 + DEADLINE_ROUNDING_S


def test_client_refuses_a_channel_without_a_default_deadline() -> None:
    with pytest.raises(ValueError, match="deadline"):
        make_channel("127.0.0.1:1", default_timeout_s=0)


# --- health, reflection, shutdown -----------------------------------------------------------


@pytest.mark.parametrize("service", ["", SERVICE])
def test_health_check_answers_serving_without_token(channel: grpc.Channel, service: str) -> None:
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=CALL_TIMEOUT_S
    )

    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_services_without_token(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")

    (reply,) = list(stub.ServerReflectionInfo(iter([request]), timeout=CALL_TIMEOUT_S))

    names = {s.name for s in reply.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names


def test_serve_until_terminated_stops_gracefully_on_sigterm() -> None:
    port = free_port()
    unused = TokenVerifier(issuer="http://keycloak.invalid/realms/shequ", audience="shequ")
    server = build_grpc_server(
        service=RPC_SERVICE_LABEL,
        registrations=[Probe().register],
        service_names=[SERVICE],
        verifier=unused,
        host="127.0.0.1",
        port=port,
    )
    handler_before = signal.getsignal(signal.SIGTERM)
    served = threading.Event()

    def terminate_once_serving() -> None:
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as probe_channel:
                health_pb2_grpc.HealthStub(probe_channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=10, wait_for_ready=True
                )
            served.set()
        finally:  # terminate even if the probe failed, so the test cannot hang
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_once_serving, daemon=True).start()
    started = time.monotonic()
    serve_until_terminated(server, grace_s=1.0)

    assert served.is_set()
    assert time.monotonic() - started < 10
    assert signal.getsignal(signal.SIGTERM) is handler_before
    with grpc.insecure_channel(f"127.0.0.1:{port}") as after:
        error = failure_of(
            lambda: health_pb2_grpc.HealthStub(after).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )
        )
    assert error.code() is grpc.StatusCode.UNAVAILABLE
