"""A gateway wired to the real local infrastructure, migrated and seeded once per session."""

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.__main__ import MIGRATIONS
from gateway.app import GatewayCore, create_app, prepare_core
from gateway.config import GatewaySettings
from gateway.seed import seed_demo_tenants
from shequ_infra import LocalInfrastructure
from shequ_kit.migrations import upgrade

DEMO_PASSWORD = "shequ-demo"


@pytest.fixture(scope="session")
def gateway_settings(infra: LocalInfrastructure) -> GatewaySettings:
    return GatewaySettings(
        database_url=infra.postgres.dsn("gateway"),
        keycloak_url=infra.keycloak.url,
        kafka_bootstrap_servers=infra.kafka.bootstrap_servers,
    )


@pytest.fixture(scope="session")
def core(gateway_settings: GatewaySettings) -> Iterator[GatewayCore]:
    upgrade(MIGRATIONS, gateway_settings.database_url)
    with prepare_core(gateway_settings) as core:
        seed_demo_tenants(core.sessions, core.directory, topic=gateway_settings.events_topic)
        yield core


@pytest.fixture(scope="session")
def client(core: GatewayCore) -> TestClient:
    return TestClient(create_app(core), raise_server_exceptions=False)


@pytest.fixture(scope="session")
def token_of(infra: LocalInfrastructure) -> Callable[..., str]:
    """Log a user in through Keycloak (direct grant) and return the access token."""
    cache: dict[tuple[str, str], str] = {}

    def login(username: str, password: str = DEMO_PASSWORD) -> str:
        if (username, password) not in cache:
            tokens = infra.keycloak.password_grant(username, password)
            cache[(username, password)] = tokens["access_token"]
        return cache[(username, password)]

    return login
