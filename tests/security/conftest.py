"""Fixtures of the security tests: one platform for the whole package (``tests/security`` is a
package so that it stops when the package's last test is done), and the demo users' tokens.

The modules mark themselves ``platform``; they run in the Makefile's platform session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from shequ_infra import LocalInfrastructure
from shequ_infra.platform import RunningPlatform, running_platform

# The fuzz run and the isolation matrix fire thousands of requests as a handful of users: the
# gateway's per-user and per-tenant rate limits (tested on their own) would answer most 429.
WITHOUT_RATE_LIMITS = {"GATEWAY_RATE_LIMIT_USER_PER_S": "0", "GATEWAY_RATE_LIMIT_TENANT_PER_S": "0"}
DEMO_PASSWORD = "shequ-demo"
# Access tokens live 5 minutes in the local realm; one fetched a minute ago is still good.
TOKEN_REUSE_S = 60.0


@pytest.fixture(scope="package")
def platform(infra: LocalInfrastructure) -> Iterator[RunningPlatform]:
    """Every service and the gateway, seeded as `make run` does, without rate limits."""
    with running_platform(infra, environment=WITHOUT_RATE_LIMITS) as running:
        yield running


@dataclass
class DemoTokens:
    """The demo users' access tokens (README's logins), fetched again after a minute."""

    infra: LocalInfrastructure
    _fetched: dict[str, tuple[float, str]] = field(default_factory=dict)

    def __call__(self, user: str) -> str:
        fetched_at, token = self._fetched.get(user, (float("-inf"), ""))
        if time.monotonic() - fetched_at > TOKEN_REUSE_S:
            token = self.infra.keycloak.password_grant(user, DEMO_PASSWORD)["access_token"]
            self._fetched[user] = (time.monotonic(), token)
        return token


@pytest.fixture(scope="package")
def tokens(infra: LocalInfrastructure) -> DemoTokens:
    return DemoTokens(infra)
