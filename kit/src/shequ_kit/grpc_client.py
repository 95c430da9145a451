"""gRPC channels that carry the caller's context, and the error detail of a failed call.

Every call through ``make_channel`` forwards the current token (``authorization``), tenant
(``x-tenant-id``) and request id (``x-request-id``), and has a deadline: a call that names none
gets the channel's default, so a slow dependency can never hold a caller's thread forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_status import rpc_status

from shequ.common.v1 import errors_pb2
from shequ_kit.context import (
    AUTHORIZATION_METADATA_KEY,
    REQUEST_ID_METADATA_KEY,
    current_principal,
    current_request_id,
)
from shequ_kit.tenancy import TENANT_METADATA_KEY, current_tenant

Metadata = tuple[tuple[str, str | bytes], ...]


def make_channel(target: str, *, default_timeout_s: float) -> grpc.Channel:
    """A channel to ``target`` (``host:port``) that forwards the call context and sets deadlines.

    Plaintext: services talk on the cluster network; the forwarded token is what they trust.
    The caller owns the channel and closes it (``channel.close()``) when done.
    """
    if default_timeout_s <= 0:
        raise ValueError("default_timeout_s must be positive: every call needs a deadline")
    return grpc.intercept_channel(
        grpc.insecure_channel(target), _ForwardCallContext(default_timeout_s)
    )


def error_detail(error: grpc.RpcError) -> errors_pb2.ErrorDetail | None:
    """The ``ErrorDetail`` a Shequ service attached to a failed call, if there is one.

    None when the call carries no rich status (e.g. the transport failed before any service
    answered) or when the rich status contradicts the call's own code or message.
    """
    if not isinstance(error, grpc.Call):
        return None
    try:
        status = rpc_status.from_call(error)
    except ValueError:
        return None
    if status is None:
        return None
    for packed in status.details:
        if packed.Is(errors_pb2.ErrorDetail.DESCRIPTOR):
            detail = errors_pb2.ErrorDetail()
            packed.Unpack(detail)
            return detail
    return None


@dataclass(frozen=True)
class _CallDetails(grpc.ClientCallDetails):  # type: ignore[misc]  # grpc is untyped
    method: str
    timeout: float | None
    metadata: Metadata | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _ForwardCallContext(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]  # grpc is untyped
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    """Adds the caller's context to each call's metadata and a deadline where none is set.

    Metadata the call already names wins: a caller may address another tenant explicitly.
    Interceptors run in the calling thread, so the context variables are the caller's.
    """

    def __init__(self, default_timeout_s: float) -> None:
        self._default_timeout_s = default_timeout_s

    def _with_context(self, details: grpc.ClientCallDetails) -> _CallDetails:
        metadata: list[tuple[str, str | bytes]] = list(details.metadata or ())
        present = {key.lower() for key, _ in metadata}
        principal, tenant, request_id = current_principal(), current_tenant(), current_request_id()
        forwarded = {
            AUTHORIZATION_METADATA_KEY: f"Bearer {principal.token}" if principal else None,
            TENANT_METADATA_KEY: tenant.value if tenant else None,
            REQUEST_ID_METADATA_KEY: request_id,
        }
        metadata += [(k, v) for k, v in forwarded.items() if v is not None and k not in present]
        return _CallDetails(
            method=details.method,
            timeout=self._default_timeout_s if details.timeout is None else details.timeout,
            metadata=tuple(metadata),
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
            compression=details.compression,
        )

    def intercept_unary_unary(
        self, continuation: Callable[[Any, Any], Any], client_call_details: Any, request: Any
    ) -> Any:
        return continuation(self._with_context(client_call_details), request)

    def intercept_unary_stream(
        self, continuation: Callable[[Any, Any], Any], client_call_details: Any, request: Any
    ) -> Any:
        return continuation(self._with_context(client_call_details), request)

    def intercept_stream_unary(
        self,
        continuation: Callable[[Any, Any], Any],
        client_call_details: Any,
        request_iterator: Iterator[Any],
    ) -> Any:
        return continuation(self._with_context(client_call_details), request_iterator)

    def intercept_stream_stream(
        self,
        continuation: Callable[[Any, Any], Any],
        client_call_details: Any,
        request_iterator: Iterator[Any],
    ) -> Any:
        return continuation(self._with_context(client_call_details), request_iterator)


__all__ = ["error_detail", "make_channel"]
