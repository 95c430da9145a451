"""The gRPC server every service runs: health, reflection, and the per-call mechanics.

``build_grpc_server`` returns a sync ``grpc.Server`` (thread pool; services use sync SQLAlchemy)
whose every call passes these interceptors, outermost first:

1. request id — ``x-request-id`` from metadata or a new one; echoed in trailing metadata.
2. observation — one JSON access-log line (method, code, duration) and the Prometheus
   ``RPC_REQUESTS`` / ``RPC_DURATION`` samples.
3. the error table — ``DomainError`` → gRPC status with a ``shequ.common.v1.ErrorDetail``
   attached as rich status details; anything unexpected → INTERNAL, logged, never leaked.
4. token — ``authorization: Bearer …`` verified by the ``TokenVerifier``.
5. tenant — ``x-tenant-id`` parsed and checked against the caller's grants; the handler runs in
   ``tenant_scope``.

Observation and the error table sit *outside* token and tenant checks on purpose: a refused
call is still logged and counted, and its refusal reaches the client through the same table
(with an ``ErrorDetail``) as every other error. Health and reflection need neither token nor
tenant; a service may declare further methods that need no tenant (they still need a token).
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent import futures
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import FrameType, MappingProxyType
from typing import Any, Final, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc.status_pb2 import Status as RpcStatus
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from shequ.common.v1 import errors_pb2
from shequ_kit.context import (
    AUTHORIZATION_METADATA_KEY,
    REQUEST_ID_METADATA_KEY,
    call_context,
    current_principal,
    current_request_id,
    new_request_id,
)
from shequ_kit.db import unreachable_database
from shequ_kit.errors import (
    DomainError,
    ErrorKind,
    FieldViolation,
    invalid_input,
    permission_denied,
    unauthenticated,
)
from shequ_kit.metrics import RPC_DURATION, RPC_REQUESTS
from shequ_kit.ops import SERVICE_NAME as OPS_SERVICE_NAME
from shequ_kit.ops import TENANTLESS_METHODS as OPS_TENANTLESS_METHODS
from shequ_kit.ops import Operations, register_operations
from shequ_kit.tenancy import TENANT_METADATA_KEY, InvalidTenantIdError, TenantId, tenant_scope
from shequ_kit.tokens import TokenVerifier, bearer_token

_LOG = logging.getLogger(__name__)

# The one table: domain error kind → gRPC status (the gateway maps the status onwards).
GRPC_STATUS_OF_ERROR_KIND: Final[Mapping[ErrorKind, grpc.StatusCode]] = MappingProxyType(
    {
        ErrorKind.INVALID_INPUT: grpc.StatusCode.INVALID_ARGUMENT,
        ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
        ErrorKind.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
        # CONFLICT means "the object's state does not allow this" (an illegal transition).
        # gRPC's status guide: FAILED_PRECONDITION when the client must not retry until the
        # state changes; ABORTED is for concurrency clashes where retrying the whole
        # read-modify-write can succeed, which callers would then retry blindly.
        ErrorKind.CONFLICT: grpc.StatusCode.FAILED_PRECONDITION,
        ErrorKind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
        ErrorKind.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
        ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    }
)

# Services that answer without token or tenant: probes and tooling must not need a login.
PUBLIC_SERVICES: Final = frozenset(
    {health.SERVICE_NAME, reflection.SERVICE_NAME, "grpc.reflection.v1.ServerReflection"}
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_MAX_LOGGED_TENANT = 80

_Metadata = tuple[tuple[str, str | bytes], ...]
_CallScope = Callable[[grpc.ServicerContext], AbstractContextManager[None]]


def error_detail_of(error: DomainError) -> errors_pb2.ErrorDetail:
    """The wire form of a domain error."""
    return errors_pb2.ErrorDetail(
        code=error.code,
        message_zh=error.message_zh,
        message_en=error.message_en,
        field_violations=[
            errors_pb2.FieldViolation(field=v.field, description=v.description)
            for v in error.field_violations
        ],
        params=dict(error.params),
    )


def rich_status_of(error: DomainError) -> grpc.Status:
    """The gRPC status for ``error``: mapped code, English message, ``ErrorDetail`` attached."""
    return _rich_status(GRPC_STATUS_OF_ERROR_KIND[error.kind], error_detail_of(error))


def _rich_status(code: grpc.StatusCode, detail: errors_pb2.ErrorDetail) -> grpc.Status:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return rpc_status.to_status(
        RpcStatus(code=code.value[0], message=detail.message_en, details=[packed])
    )


def build_grpc_server(
    *,
    service: str,
    registrations: Sequence[Callable[[grpc.Server], None]],
    service_names: Sequence[str],
    verifier: TokenVerifier,
    port: int,
    host: str = "0.0.0.0",  # noqa: S104 - reached in-cluster through its Service
    max_workers: int = 16,
    tenantless_methods: Collection[str] = (),
    operations: Operations | None = None,
) -> grpc.Server:
    """Build (not start) a gRPC server with the kit's interceptors, health and reflection.

    ``registrations`` each add servicers to the server, e.g.
    ``functools.partial(census_pb2_grpc.add_CensusServicer_to_server, servicer)``;
    ``service_names`` are their full names (``shequ.census.v1.Census``), reported SERVING by
    the health service and listed by reflection. ``tenantless_methods`` are full method paths
    (``/shequ.gateway.v1.Tenants/ListMine``) that run without ``x-tenant-id``; when one is
    given anyway it is checked like everywhere else. ``service`` labels logs and metrics.
    ``operations`` adds ``shequ.ops.v1.OpsService`` (``shequ_kit.ops``) over the process's outbox,
    consumer groups and projections; its calls need a token but no tenant.
    """
    if operations is not None:
        registrations = [*registrations, register_operations(operations)]
        service_names = [*service_names, OPS_SERVICE_NAME]
        tenantless_methods = [*tenantless_methods, *OPS_TENANTLESS_METHODS]
    for path in tenantless_methods:
        if not path.startswith("/") or path.count("/") != 2:
            raise ValueError(f"tenantless method {path!r} is not a /package.Service/Method path")
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=f"{service}-rpc"),
        interceptors=[
            _EchoRequestId(),
            _ObserveCalls(service),
            _TranslateErrors(),
            _VerifyToken(verifier),
            _BindTenant(frozenset(tenantless_methods)),
        ],
        # Without this, grpc sets SO_REUSEPORT and a second server on a busy port binds
        # "successfully" and silently shares the traffic.
        options=[("grpc.so_reuseport", 0)],
    )
    for register in registrations:
        register(server)
    health_servicer = health.HealthServicer()
    for name in ("", *service_names):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    bind_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    server.add_insecure_port(f"{bind_host}:{port}")
    return server


def serve_until_terminated(server: grpc.Server, grace_s: float) -> None:
    """Start ``server`` and block until SIGTERM or SIGINT, then stop it gracefully.

    In-flight calls get ``grace_s`` seconds to finish; new calls are refused at once. Call from
    the main thread (signal handlers can only be installed there); the previous handlers are
    restored on return.
    """
    stop_requested = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop_requested.set()  # nothing else here: logging from a signal handler can deadlock

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        _LOG.info("gRPC server started")
        # A bounded wait keeps the main thread responsive to signals on every platform.
        while not stop_requested.wait(timeout=1.0):
            pass
        _LOG.info("stopping gRPC server", extra={"fields": {"grace_s": grace_s}})
        server.stop(grace_s).wait()
        _LOG.info("gRPC server stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- interceptor plumbing ------------------------------------------------------------------


def _is_public(method: str) -> bool:
    _, service, _ = method.split("/", 2) if method.count("/") == 2 else ("", "", "")
    return service in PUBLIC_SERVICES


def _metadata_values(metadata: _Metadata, key: str) -> list[str]:
    return [value for k, value in metadata if k == key and isinstance(value, str)]


class _CallScopeInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    """Runs the behaviour of every handler kind inside ``call_scope``.

    A ``ServerInterceptor`` only sees the call details, so the handler it returns wraps the
    original behaviour functions. Streamed responses are produced after the behaviour returns,
    so their scope must live inside the response generator.
    """

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or not self.applies_to(method):
            return handler
        metadata: _Metadata = tuple(handler_call_details.invocation_metadata or ())
        return _wrap_handler(handler, lambda context: self.call_scope(method, metadata, context))

    def applies_to(self, method: str) -> bool:
        return True

    @abstractmethod
    def call_scope(
        self, method: str, metadata: _Metadata, context: grpc.ServicerContext
    ) -> AbstractContextManager[None]:
        """The context the handler runs in: the interceptor's whole job."""


def _wrap_handler(handler: grpc.RpcMethodHandler, scope: _CallScope) -> grpc.RpcMethodHandler:
    codecs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _with_unary_response(handler.unary_unary, scope), **codecs
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _with_streamed_response(handler.unary_stream, scope), **codecs
        )
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            _with_unary_response(handler.stream_unary, scope), **codecs
        )
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(
            _with_streamed_response(handler.stream_stream, scope), **codecs
        )
    return handler


_Behaviour = Callable[[Any, grpc.ServicerContext], Any]


def _with_unary_response(behaviour: _Behaviour, scope: _CallScope) -> _Behaviour:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        with scope(context):
            return behaviour(request, context)

    return call


def _with_streamed_response(behaviour: _Behaviour, scope: _CallScope) -> _Behaviour:
    def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        with scope(context):
            yield from behaviour(request, context)

    return call


# --- the interceptors, outermost first -----------------------------------------------------


class _EchoRequestId(_CallScopeInterceptor):
    @contextmanager
    def call_scope(
        self, method: str, metadata: _Metadata, context: grpc.ServicerContext
    ) -> Iterator[None]:
        offered = _metadata_values(metadata, REQUEST_ID_METADATA_KEY)
        # Only ids that are safe to echo in metadata are kept; anything else gets a fresh one.
        valid = offered and _REQUEST_ID.match(offered[0])
        request_id = offered[0] if valid else new_request_id()
        _echo_request_id(context, request_id)
        try:
            with call_context(request_id=request_id, principal=None):
                yield
        finally:
            # The handler may have replaced the trailing metadata; the id must survive that.
            _echo_request_id(context, request_id)


def _echo_request_id(context: grpc.ServicerContext, request_id: str) -> None:
    trailing = tuple(context.trailing_metadata() or ())
    if not any(key == REQUEST_ID_METADATA_KEY for key, _ in trailing):
        context.set_trailing_metadata((*trailing, (REQUEST_ID_METADATA_KEY, request_id)))


@dataclass
class _CallFacts:
    """What inner interceptors learned about the call, for the access log written outside."""

    requested_tenant: str | None
    tenant: TenantId | None = None
    user: str | None = None


_call_facts: ContextVar[_CallFacts | None] = ContextVar("shequ_grpc_call_facts", default=None)


class _ObserveCalls(_CallScopeInterceptor):
    def __init__(self, service: str) -> None:
        self._service = service

    @contextmanager
    def call_scope(
        self, method: str, metadata: _Metadata, context: grpc.ServicerContext
    ) -> Iterator[None]:
        requested = _metadata_values(metadata, TENANT_METADATA_KEY)
        facts = _CallFacts(requested[0][:_MAX_LOGGED_TENANT] if requested else None)
        facts_token = _call_facts.set(facts)
        started = time.perf_counter()
        completed = False
        try:
            yield
            completed = True
        finally:
            _call_facts.reset(facts_token)
            elapsed_s = time.perf_counter() - started
            code = _outcome_code(context, completed=completed)
            RPC_REQUESTS.labels(self._service, method, code.name).inc()
            RPC_DURATION.labels(self._service, method).observe(elapsed_s)
            fields: dict[str, object] = {
                "rpc_service": self._service,
                "method": method,
                "code": code.name,
                "duration_ms": round(elapsed_s * 1000, 1),
            }
            if facts.tenant is not None:
                fields["tenant"] = facts.tenant.value
            elif facts.requested_tenant is not None:
                fields["requested_tenant"] = facts.requested_tenant
            if facts.user is not None:
                fields["user"] = facts.user
            # Probes call health every few seconds; their lines would drown the real ones.
            level = logging.DEBUG if _is_public(method) else logging.INFO
            _LOG.log(level, "%s %s", method, code.name, extra={"fields": fields})


def _outcome_code(context: grpc.ServicerContext, *, completed: bool) -> grpc.StatusCode:
    code: grpc.StatusCode | None = context.code()
    if code is not None:
        return code
    if not context.is_active():
        # The client cancelled or its deadline passed (which it sees as DEADLINE_EXCEEDED).
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.OK if completed else grpc.StatusCode.UNKNOWN


class _TranslateErrors(_CallScopeInterceptor):
    @contextmanager
    def call_scope(
        self, method: str, metadata: _Metadata, context: grpc.ServicerContext
    ) -> Iterator[None]:
        try:
            yield
        except DomainError as error:
            _abort(context, rich_status_of(error))
        # The boundary where unexpected errors become INTERNAL, so it must catch them all.
        except Exception as error:
            if _is_abort(error, context) or _is_unimplemented(error, context):
                raise
            unreachable = unreachable_database(error)
            if unreachable is not None:
                # Not a bug to log with a trace: the database is away and the call may be retried.
                _LOG.warning("%s: database unavailable: %s", method, error.__cause__ or error)
                _abort(context, rich_status_of(unreachable))
            _LOG.exception("unexpected error in %s", method, extra={"fields": {"method": method}})
            request_id = current_request_id() or "-"
            detail = errors_pb2.ErrorDetail(
                code="internal.unexpected",
                message_zh=f"服务内部错误，请稍后重试（请求号 {request_id}）",
                message_en=f"internal error (request id {request_id})",
                params={"request_id": request_id},
            )
            _abort(context, _rich_status(grpc.StatusCode.INTERNAL, detail))


def _is_abort(error: Exception, context: grpc.ServicerContext) -> bool:
    """True for the bare ``Exception()`` that ``context.abort`` raises after setting a code."""
    return type(error) is Exception and not error.args and context.code() is not None


def _is_unimplemented(error: Exception, context: grpc.ServicerContext) -> bool:
    """The generated base servicer's answer for an RPC not built yet: it sets UNIMPLEMENTED
    and raises NotImplementedError, which grpc turns into that status. Not an internal error."""
    return isinstance(error, NotImplementedError) and (
        context.code() is grpc.StatusCode.UNIMPLEMENTED
    )


def _abort(context: grpc.ServicerContext, status: grpc.Status) -> NoReturn:
    # Not abort_with_status: it replaces the trailing metadata, dropping x-request-id.
    trailing = tuple(context.trailing_metadata() or ())
    context.set_trailing_metadata((*trailing, *status.trailing_metadata))
    context.abort(status.code, status.details)
    raise AssertionError("ServicerContext.abort returned")  # it always raises


class _VerifyToken(_CallScopeInterceptor):
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    def applies_to(self, method: str) -> bool:
        return not _is_public(method)

    @contextmanager
    def call_scope(
        self, method: str, metadata: _Metadata, context: grpc.ServicerContext
    ) -> Iterator[None]:
        values = _metadata_values(metadata, AUTHORIZATION_METADATA_KEY)
        if len(values) > 1:
            raise unauthenticated("more than one authorization value")
        principal = self._verifier.verify(bearer_token(values[0] if values else None))
        facts = _call_facts.get()
        if facts is not None:
            facts.user = principal.username
        request_id = current_request_id() or new_request_id()
        with call_context(request_id=request_id, principal=principal):
            yield


class _BindTenant(_CallScopeInterceptor):
    def __init__(self, tenantless_methods: frozenset[str]) -> None:
        self._tenantless_methods = tenantless_methods

    def applies_to(self, method: str) -> bool:
        return not _is_public(method)

    @contextmanager
    def call_scope(
        self, method: str, metadata: _Metadata, context: grpc.ServicerContext
    ) -> Iterator[None]:
        values = _metadata_values(metadata, TENANT_METADATA_KEY)
        if not values and method in self._tenantless_methods:
            yield
            return
        tenant = _requested_tenant(values)
        principal = current_principal()
        if principal is None:  # the token interceptor runs first; this is a wiring error
            raise unauthenticated("no verified caller")
        if not principal.can_access(tenant):
            raise permission_denied(
                f"您在 {tenant} 没有任何权限",
                f"you hold no role on tenant {tenant}",
                tenant=str(tenant),
            )
        facts = _call_facts.get()
        if facts is not None:
            facts.tenant = tenant
        with tenant_scope(tenant):
            yield


def _requested_tenant(values: Sequence[str]) -> TenantId:
    if not values:
        raise invalid_input(
            "tenant.missing",
            "请求未指明租户",
            f"the call names no tenant (metadata {TENANT_METADATA_KEY})",
        )
    if len(values) > 1:
        # Two values could let one layer check one tenant and another use the other.
        raise invalid_input(
            "tenant.ambiguous",
            "请求指明了多个租户",
            f"the call names more than one tenant (metadata {TENANT_METADATA_KEY})",
        )
    try:
        return TenantId.parse(values[0])
    except InvalidTenantIdError as error:
        raise invalid_input(
            "tenant.invalid_id",
            "租户标识格式不正确",
            f"metadata {TENANT_METADATA_KEY} is not a tenant id: {error}",
            FieldViolation(TENANT_METADATA_KEY, str(error)),
        ) from error


__all__ = [
    "GRPC_STATUS_OF_ERROR_KIND",
    "PUBLIC_SERVICES",
    "build_grpc_server",
    "error_detail_of",
    "rich_status_of",
    "serve_until_terminated",
]
