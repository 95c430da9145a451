"""Fixtures of the fault tests: each module stops and restarts parts of the platform, so each
gets infrastructure and a platform of its own (module scope) instead of the session's.

The modules mark themselves ``platform`` and ``faults``; the Makefile runs them apart
(``pytest -m faults``). Stopping and starting a server goes through
``shequ_infra.stack.outage``, from the test's own (main) thread: a restarted server dies with
the thread that launched it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from shequ_infra import LocalInfrastructure
from shequ_infra.platform import RunningPlatform, running_platform
from shequ_infra.stack import running_infrastructure

# Steady traffic from one demo user would meet the gateway's per-user and per-tenant rate
# limits; these tests are about faults, not limits (tests/security covers those).
WITHOUT_RATE_LIMITS = {"GATEWAY_RATE_LIMIT_USER_PER_S": "0", "GATEWAY_RATE_LIMIT_TENANT_PER_S": "0"}


@pytest.fixture(scope="module")
def infra() -> Iterator[LocalInfrastructure]:
    """PostgreSQL, Kafka and Keycloak for this module alone (it will stop some of them)."""
    with running_infrastructure() as stack:
        yield stack


@pytest.fixture(scope="module")
def platform(infra: LocalInfrastructure) -> Iterator[RunningPlatform]:
    """Every service and the gateway, seeded as `make run` does, on this module's infrastructure."""
    with running_platform(infra, environment=WITHOUT_RATE_LIMITS) as running:
        yield running


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Prints a line also under output capture: what a fault test did and what it counted."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def say(line: str) -> None:
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            print(f"[faults] {line}", flush=True)

    return say
