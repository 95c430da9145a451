"""pytest integration: the `infra` session fixture and the `integration` marker.

Any test that asks for ``infra`` (directly or through another fixture) is marked
``integration`` automatically, so ``-m "not integration"`` never starts a server. The servers
start once per session and are stopped at its end, also when the run fails or is interrupted
(SIGTERM is turned into KeyboardInterrupt so fixture teardown runs).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from shequ_infra.stack import LocalInfrastructure, running_infrastructure

# The test process runs gRPC servers and clients and also forks servers (Kafka, Keycloak, the
# platform's processes). With gRPC's fork support on, its handlers restart pollers in the child
# between fork and exec, and a child may abort there ("epoll_wait error: Bad file descriptor").
# Read by gRPC when it first initialises, so set before any test module imports it.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs the real local infrastructure (PostgreSQL, Kafka, Keycloak)"
    )
    signal.signal(signal.SIGTERM, _interrupt)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "infra" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def infra(request: pytest.FixtureRequest) -> Iterator[LocalInfrastructure]:
    """Real PostgreSQL, Kafka and Keycloak for the whole test session."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with running_infrastructure() as stack:
        # Shown even under output capture: which versions and ports this run is testing against.
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            print()
            for line in stack.summary():
                print(f"[infra] {line}", flush=True)
        yield stack
