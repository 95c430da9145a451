"""A gateway wired to the real local infrastructure, migrated and seeded once per session."""

from collections.abc import Callable, Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient

from census.__main__ import MIGRATIONS as CENSUS_MIGRATIONS
from census.app import CensusCore, build_server
from census.app import prepare_core as prepare_census
from census.config import CensusSettings
from gateway.__main__ import MIGRATIONS
from gateway.app import GatewayCore, create_app, prepare_core
from gateway.config import GatewaySettings
from gateway.seed import seed_demo_tenants
from shequ_infra import LocalInfrastructure
from shequ_infra.processes import free_port
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


CENSUS_TODAY = date(2026, 11, 23)  # the census servers' calendar: ages and dates are stable


@pytest.fixture(scope="module")
def census(request: pytest.FixtureRequest, infra: LocalInfrastructure) -> Iterator[CensusCore]:
    """A real census gRPC server on the database the test module names in CENSUS_DATABASE (one
    per module, so the modules' data never meet), its calendar fixed at CENSUS_TODAY."""
    database: str = request.module.CENSUS_DATABASE
    infra.postgres.create_database(database)
    settings = CensusSettings(
        database_url=infra.postgres.dsn(database),
        keycloak_issuer=infra.keycloak.issuer,
        grpc_port=free_port(),
        kafka_bootstrap_servers=infra.kafka.bootstrap_servers,
    )
    upgrade(CENSUS_MIGRATIONS, settings.database_url)
    with prepare_census(settings, today=lambda: CENSUS_TODAY) as core:
        server = build_server(core)
        server.start()
        try:
            yield core
        finally:
            server.stop(grace=None)


@pytest.fixture(scope="module")
def gateway(gateway_settings: GatewaySettings, census: CensusCore) -> Iterator[GatewayCore]:
    """A gateway whose census calls go to the module's census server."""
    settings = gateway_settings.model_copy(
        update={"census_target": f"127.0.0.1:{census.settings.grpc_port}"}
    )
    with prepare_core(settings) as core:
        yield core


@pytest.fixture(scope="module")
def api(gateway: GatewayCore) -> TestClient:
    return TestClient(create_app(gateway), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def staff(token_of: Callable[..., str]) -> dict[str, str]:
    """Hushan's community staff, as request headers."""
    return {"Authorization": f"Bearer {token_of('hushan-staff')}"}
