"""Which failed calls a channel tries again: idempotent ones after UNAVAILABLE, within a budget;
never a call outside ``idempotent_calls()`` (a write whose outcome is unknown)."""

import socket
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc
import pytest

from shequ_kit.grpc_client import ReadRetry, idempotent_calls, make_channel

METHOD = "/test.Flaky/Read"
POLICY = ReadRetry(budget_s=3.0, first_backoff_s=0.1, max_backoff_s=1.0)


def test_unavailable_is_retried_with_doubling_backoff_up_to_the_cap() -> None:
    delays = [
        POLICY.delay_after(grpc.StatusCode.UNAVAILABLE, attempt=n, elapsed_s=0.0)
        for n in range(1, 7)
    ]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.OK,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
    ],
)
def test_answers_other_than_unavailable_are_final(code: grpc.StatusCode) -> None:
    assert POLICY.delay_after(code, attempt=1, elapsed_s=0.0) is None


def test_no_attempt_begins_after_the_budget() -> None:
    unavailable = grpc.StatusCode.UNAVAILABLE
    # The last wait is cut short so the attempt still begins inside the budget.
    assert POLICY.delay_after(unavailable, attempt=3, elapsed_s=2.9) == pytest.approx(0.1)
    assert POLICY.delay_after(unavailable, attempt=3, elapsed_s=3.0) is None
    assert ReadRetry(budget_s=0).delay_after(unavailable, attempt=1, elapsed_s=0) is None


@dataclass
class FlakyService:
    """Answers UNAVAILABLE to the first ``failures`` calls, then echoes the request."""

    failures: int
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        with self.lock:
            self.calls += 1
            failing = self.calls <= self.failures
        if failing:
            context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
        return request


@pytest.fixture
def flaky() -> Iterator[tuple[FlakyService, str]]:
    service = FlakyService(failures=2)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        "test.Flaky", {"Read": grpc.unary_unary_rpc_method_handler(service.read)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield service, f"127.0.0.1:{port}"
    finally:
        server.stop(None)


def test_idempotent_call_succeeds_after_the_service_comes_back(
    flaky: tuple[FlakyService, str],
) -> None:
    service, target = flaky
    with make_channel(target, default_timeout_s=5, read_retry=POLICY) as channel:
        read = channel.unary_unary(METHOD)
        with idempotent_calls():
            assert read(b"ping") == b"ping"
    assert service.calls == 3


def test_idempotent_future_is_retried_when_its_result_is_asked_for(
    flaky: tuple[FlakyService, str],
) -> None:
    service, target = flaky
    with make_channel(target, default_timeout_s=5, read_retry=POLICY) as channel:
        read = channel.unary_unary(METHOD)
        with idempotent_calls():
            pending = read.future(b"ping")
        assert pending.result() == b"ping"
        assert pending.code() == grpc.StatusCode.OK
    assert service.calls == 3


def test_call_outside_idempotent_block_is_not_retried(flaky: tuple[FlakyService, str]) -> None:
    service, target = flaky
    with (
        make_channel(target, default_timeout_s=5, read_retry=POLICY) as channel,
        pytest.raises(grpc.RpcError) as failed,
    ):
        channel.unary_unary(METHOD)(b"write")
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert service.calls == 1


def test_channel_without_policy_never_retries(flaky: tuple[FlakyService, str]) -> None:
    service, target = flaky
    with (
        make_channel(target, default_timeout_s=5) as channel,
        idempotent_calls(),
        pytest.raises(grpc.RpcError) as failed,
    ):
        channel.unary_unary(METHOD)(b"ping")
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert service.calls == 1


def test_retries_give_up_with_unavailable_when_the_service_stays_away(
    flaky: tuple[FlakyService, str],
) -> None:
    service, target = flaky
    service.failures = 1_000
    policy = ReadRetry(budget_s=0.5, first_backoff_s=0.05, max_backoff_s=0.1)
    with (
        make_channel(target, default_timeout_s=5, read_retry=policy) as channel,
        idempotent_calls(),
        pytest.raises(grpc.RpcError) as failed,
    ):
        channel.unary_unary(METHOD)(b"ping")
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    # Tried more than once, and stopped: the budget admits a handful of attempts, not hundreds.
    assert 2 <= service.calls <= 12


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_echo(port: int) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.method_handlers_generic_handler(
        "test.Flaky", {"Read": grpc.unary_unary_rpc_method_handler(lambda r, _c: r)}
    )
    server.add_generic_rpc_handlers((handler,))
    assert server.add_insecure_port(f"127.0.0.1:{port}") == port
    server.start()
    return server


def test_read_issued_while_the_server_is_down_is_answered_once_it_is_back() -> None:
    port = free_port()
    first = serve_echo(port)
    with make_channel(f"127.0.0.1:{port}", default_timeout_s=10, read_retry=POLICY) as channel:
        read = channel.unary_unary(METHOD)
        assert read(b"before") == b"before"
        first.stop(None).wait()
        restarted: list[grpc.Server] = []
        later = threading.Timer(0.5, lambda: restarted.append(serve_echo(port)))
        later.start()
        try:
            with idempotent_calls():
                assert read(b"during") == b"during"
        finally:
            later.join()
            for server in restarted:
                server.stop(None)
