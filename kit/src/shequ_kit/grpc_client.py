"""gRPC channels that carry the caller's context, and the error detail of a failed call.

Every call through ``make_channel`` forwards the current token (``authorization``), tenant
(``x-tenant-id``) and request id (``x-request-id``), and has a deadline: a call that names none
gets the channel's default, so a slow dependency can never hold a caller's thread forever.

A channel given a ``ReadRetry`` tries a unary call again when it fails with UNAVAILABLE (the
service restarting, its connection reset mid-call), but only a call made inside
``idempotent_calls()``: a read may be repeated, a write whose outcome is unknown may not.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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
log = logging.getLogger(__name__)

# A peer that went away is dialled again within a second of coming back (gRPC's default backoff
# grows to two minutes, so a service restarted after a long outage would stay unreachable).
_RECONNECT_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)
_idempotent: ContextVar[bool] = ContextVar("shequ_idempotent_calls", default=False)


@dataclass(frozen=True)
class ReadRetry:
    """When to try an idempotent call again: after UNAVAILABLE only, waiting ``first_backoff_s``
    and doubling up to ``max_backoff_s``, with no attempt begun later than ``budget_s`` after the
    first. The call's deadline still bounds every attempt together, so a budget below it leaves
    the last attempt time to answer."""

    budget_s: float
    first_backoff_s: float = 0.1
    max_backoff_s: float = 1.0

    def delay_after(self, code: grpc.StatusCode, *, attempt: int, elapsed_s: float) -> float | None:
        """Seconds to wait before trying an idempotent call again after attempt number
        ``attempt`` (from 1) ended with ``code``, ``elapsed_s`` after the first began; None:
        that outcome is the answer."""
        if code != grpc.StatusCode.UNAVAILABLE or elapsed_s >= self.budget_s:
            return None
        backoff = min(self.max_backoff_s, self.first_backoff_s * 2.0 ** (attempt - 1))
        return min(backoff, self.budget_s - elapsed_s)


@contextmanager
def idempotent_calls() -> Iterator[None]:
    """Calls made in this block change nothing, so a channel with a ``ReadRetry`` may repeat
    them (the gateway marks its GET requests so)."""
    token = _idempotent.set(True)
    try:
        yield
    finally:
        _idempotent.reset(token)


def make_channel(
    target: str, *, default_timeout_s: float, read_retry: ReadRetry | None = None
) -> grpc.Channel:
    """A channel to ``target`` (``host:port``) that forwards the call context and sets deadlines,
    and retries idempotent unary calls per ``read_retry`` (none: no call is retried).

    Plaintext: services talk on the cluster network; the forwarded token is what they trust.
    The caller owns the channel and closes it (``channel.close()``) when done.
    """
    if default_timeout_s <= 0:
        raise ValueError("default_timeout_s must be positive: every call needs a deadline")
    interceptors: list[Any] = [_ForwardCallContext(default_timeout_s)]
    if read_retry is not None:
        interceptors.append(_RetryIdempotentCalls(read_retry))
    return grpc.intercept_channel(
        grpc.insecure_channel(target, options=_RECONNECT_OPTIONS), *interceptors
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


class _RetryIdempotentCalls(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Wraps each unary call made inside ``idempotent_calls()`` in a ``_RetriedCall``; runs
    after ``_ForwardCallContext``, so the call's metadata and deadline are already set."""

    def __init__(self, policy: ReadRetry) -> None:
        self._policy = policy

    def intercept_unary_unary(
        self, continuation: Callable[[Any, Any], Any], client_call_details: Any, request: Any
    ) -> Any:
        if not _idempotent.get():
            return continuation(client_call_details, request)
        details = client_call_details

        def attempt(timeout: float | None) -> Any:
            return continuation(
                _CallDetails(
                    method=details.method,
                    timeout=timeout,
                    metadata=details.metadata,
                    credentials=details.credentials,
                    wait_for_ready=details.wait_for_ready,
                    compression=details.compression,
                ),
                request,
            )

        return _RetriedCall(self._policy, attempt, details.timeout, details.method)


class _RetriedCall(grpc.Call, grpc.Future):  # type: ignore[misc]  # grpc is untyped
    """A unary call whose first attempt starts at once (a ``.future()`` stays concurrent) and
    which, when its outcome is asked for, tries again while the policy allows, each attempt
    with what is left of the original deadline. The answer is the last attempt's."""

    def __init__(
        self,
        policy: ReadRetry,
        attempt: Callable[[float | None], Any],
        timeout: float | None,
        method: str,
    ) -> None:
        self._policy = policy
        self._attempt = attempt
        self._method = method
        self._started = time.monotonic()
        self._deadline = None if timeout is None else self._started + timeout
        self._current: Any = attempt(timeout)
        self._attempts = 1
        self._settled = False
        self._lock = threading.Lock()

    def _outcome(self) -> Any:
        with self._lock:
            while not self._settled:
                code = self._current.code()
                delay = self._policy.delay_after(
                    code,
                    attempt=self._attempts,
                    elapsed_s=time.monotonic() - self._started,
                )
                left = None if self._deadline is None else self._deadline - time.monotonic()
                if delay is None or (left is not None and left <= delay):
                    self._settled = True
                    break
                log.info(
                    "%s unavailable (attempt %d); trying again in %.2f s",
                    self._method,
                    self._attempts,
                    delay,
                )
                time.sleep(delay)
                self._attempts += 1
                self._current = self._attempt(None if left is None else left - delay)
        return self._current

    # grpc.Future: the outcome, after any retries.
    def result(self, timeout: float | None = None) -> Any:
        return self._outcome().result(timeout)

    def exception(self, timeout: float | None = None) -> Any:
        return self._outcome().exception(timeout)

    def traceback(self, timeout: float | None = None) -> Any:
        return self._outcome().traceback(timeout)

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        self._current.add_done_callback(lambda _: fn(self))

    def cancel(self) -> bool:
        self._settled = True
        return bool(self._current.cancel())

    def cancelled(self) -> bool:
        return bool(self._current.cancelled())

    def running(self) -> bool:
        return bool(self._current.running())

    def done(self) -> bool:
        """Whether the current attempt has ended (a retry may follow when the outcome is asked
        for)."""
        return bool(self._current.done())

    # grpc.Call: the answering attempt's status and metadata.
    def code(self) -> grpc.StatusCode:
        return self._outcome().code()

    def details(self) -> str | None:
        details: str | None = self._outcome().details()
        return details

    def initial_metadata(self) -> Any:
        return self._outcome().initial_metadata()

    def trailing_metadata(self) -> Any:
        return self._outcome().trailing_metadata()

    def is_active(self) -> bool:
        return bool(self._current.is_active())

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return bool(self._current.add_callback(callback))


__all__ = ["ReadRetry", "error_detail", "idempotent_calls", "make_channel"]
