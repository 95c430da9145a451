"""The loop run modes' liveness probe: the loop's own checks of its stop event are the beat."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from shequ_kit.liveness import LoopStop, ProbeServer, serve_probes
from shequ_kit.metrics import OUTBOX_LAG


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def loop(clock: FakeClock) -> LoopStop:
    return LoopStop(clock=clock)


@pytest.fixture
def probes(loop: LoopStop) -> Iterator[ProbeServer]:
    server = serve_probes(loop, host="127.0.0.1", port=0, max_silence_s=60.0)
    yield server
    server.close()


def healthz(server: ProbeServer) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)


def test_a_turning_loop_is_healthy(clock: FakeClock, loop: LoopStop, probes: ProbeServer) -> None:
    for _ in range(3):
        clock.now += 50  # each turn well inside the allowed silence
        assert not loop.is_set()
        assert healthz(probes).status_code == 200


def test_a_loop_silent_too_long_fails_the_probe(
    clock: FakeClock, loop: LoopStop, probes: ProbeServer
) -> None:
    assert not loop.is_set()
    clock.now += 61
    answer = healthz(probes)
    assert answer.status_code == 503
    assert "stalled" in answer.text
    # The loop turning again brings it back (a slow batch, not a wedged process).
    loop.wait(0)
    assert healthz(probes).status_code == 200


def test_checks_from_other_threads_are_not_the_loops_beat(
    clock: FakeClock, loop: LoopStop, probes: ProbeServer
) -> None:
    clock.now += 61
    helper = threading.Thread(target=loop.is_set)
    helper.start()
    helper.join()
    assert healthz(probes).status_code == 503


def test_the_probe_port_also_serves_the_processes_metrics(probes: ProbeServer) -> None:
    OUTBOX_LAG.labels("probe-test").set(3.5)
    answer = httpx.get(f"http://127.0.0.1:{probes.port}/metrics", timeout=5)
    assert answer.status_code == 200
    assert 'shequ_outbox_lag_seconds{service="probe-test"} 3.5' in answer.text
    assert httpx.get(f"http://127.0.0.1:{probes.port}/other", timeout=5).status_code == 404
