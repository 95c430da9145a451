"""A gateway wired to the real local infrastructure, migrated and seeded once per session."""

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date

import pytest
from fastapi.testclient import TestClient

from cases.__main__ import MIGRATIONS as CASES_MIGRATIONS
from cases.app import CasesCore
from cases.app import build_server as build_cases_server
from cases.app import prepare_core as prepare_cases
from cases.config import CasesSettings
from census.__main__ import MIGRATIONS as CENSUS_MIGRATIONS
from census.app import CensusCore, build_server
from census.app import prepare_core as prepare_census
from census.config import CensusSettings
from gateway.__main__ import MIGRATIONS
from gateway.app import GatewayCore, create_app, prepare_core
from gateway.config import GatewaySettings
from gateway.seed import seed_demo_tenants
from grid.__main__ import MIGRATIONS as GRID_MIGRATIONS
from grid.app import build_server as build_grid_server
from grid.app import census_consumer
from grid.app import prepare_core as prepare_grid
from grid.config import GridSettings
from notify.__main__ import MIGRATIONS as NOTIFY_MIGRATIONS
from notify.app import NotifyCore
from notify.app import build_server as build_notify_server
from notify.app import prepare_core as prepare_notify
from notify.config import NotifySettings
from notify.delivery import run_forever as run_dispatcher
from shequ_infra import LocalInfrastructure
from shequ_infra.platform import create_platform_topics
from shequ_infra.processes import free_port
from shequ_kit.migrations import upgrade
from shequ_kit.relay import OutboxRelay

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


# ---- cases: census, grid and cases servers wired together (one set per test module) ----


@dataclass(frozen=True)
class CasesServices:
    """The servers a cases test module talks to through the gateway, and their cores (for a
    test that runs the cases outbox relay or reads a service's settings)."""

    census: CensusCore
    cases: CasesCore
    census_target: str
    grid_target: str
    cases_target: str


def run_in_thread(stack: ExitStack, run: Callable[[threading.Event], None], name: str) -> None:
    """Run ``run(stop)`` in a daemon thread until the stack closes."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(stop,), name=name, daemon=True)
    thread.start()
    stack.callback(thread.join, 10)
    stack.callback(stop.set)


def cases_database_of(module: object) -> str:
    """The module's CASES_DATABASE, else one named after the module: two modules (or the
    cases service's own tests, on database ``cases``) never share cases, numbers or figures."""
    named = getattr(module, "CASES_DATABASE", None)
    if named:
        return str(named)
    short = str(getattr(module, "__name__", "cases")).rpartition(".")[2].removeprefix("test_")
    return f"gateway_{short}"


@pytest.fixture(scope="module")
def cases_service(
    request: pytest.FixtureRequest, infra: LocalInfrastructure
) -> Iterator[CasesServices]:
    """Real census, grid and cases gRPC servers on databases of the module's own
    (``<CASES_DATABASE>``, ``…_grid``, ``…_census``), with the census relay and the grid's
    census consumer running on a census topic of the module's own, so the buildings the test
    creates through the gateway reach grid's coverage as they do in production. Cases asks
    grid who covers a building (routing) as its service account; its events go to
    ``shequ.cases.v1`` once a test runs its outbox relay (``services.cases.engine``)."""
    database = cases_database_of(request.module)
    census_topic = f"shequ.census.v1.{database}-{uuid.uuid4().hex[:8]}"
    for name in (f"{database}_census", f"{database}_grid", database):
        infra.postgres.create_database(name)
    create_platform_topics(infra.kafka.bootstrap_servers)
    census_settings = CensusSettings(
        database_url=infra.postgres.dsn(f"{database}_census"),
        keycloak_issuer=infra.keycloak.issuer,
        grpc_port=free_port(),
        kafka_bootstrap_servers=infra.kafka.bootstrap_servers,
        events_topic=census_topic,
    )
    grid_settings = GridSettings(
        database_url=infra.postgres.dsn(f"{database}_grid"),
        keycloak_issuer=infra.keycloak.issuer,
        grpc_port=free_port(),
        kafka_bootstrap_servers=infra.kafka.bootstrap_servers,
        census_target=f"127.0.0.1:{census_settings.grpc_port}",
        census_topic=census_topic,
        events_topic=f"shequ.grid.v1.{database}-{uuid.uuid4().hex[:8]}",
        consumer_group=f"grid-{uuid.uuid4().hex[:8]}",
    )
    cases_settings = CasesSettings(
        database_url=infra.postgres.dsn(database),
        keycloak_issuer=infra.keycloak.issuer,
        grpc_port=free_port(),
        kafka_bootstrap_servers=infra.kafka.bootstrap_servers,
        grid_target=f"127.0.0.1:{grid_settings.grpc_port}",
        consumer_group=f"cases-{uuid.uuid4().hex[:8]}",
    )
    upgrade(CENSUS_MIGRATIONS, census_settings.database_url)
    upgrade(GRID_MIGRATIONS, grid_settings.database_url)
    upgrade(CASES_MIGRATIONS, cases_settings.database_url)
    with ExitStack() as stack:
        census_core = stack.enter_context(prepare_census(census_settings))
        grid_core = stack.enter_context(prepare_grid(grid_settings))
        cases_core = stack.enter_context(prepare_cases(cases_settings))
        for server in (
            build_server(census_core),
            build_grid_server(grid_core),
            build_cases_server(cases_core),
        ):
            server.start()
            stack.callback(server.stop, None)
        relay = stack.enter_context(
            OutboxRelay(
                census_core.engine,
                service="census",
                bootstrap_servers=census_settings.kafka_bootstrap_servers,
            )
        )
        run_in_thread(stack, lambda stop: relay.run_forever(stop, idle_sleep_s=0.05), "relay")
        consumer = stack.enter_context(census_consumer(grid_core))
        run_in_thread(stack, consumer.run_forever, "census-consumer")
        yield CasesServices(
            census=census_core,
            cases=cases_core,
            census_target=f"127.0.0.1:{census_settings.grpc_port}",
            grid_target=f"127.0.0.1:{grid_settings.grpc_port}",
            cases_target=f"127.0.0.1:{cases_settings.grpc_port}",
        )


@pytest.fixture(scope="module")
def cases_gateway(
    gateway_settings: GatewaySettings, cases_service: CasesServices
) -> Iterator[GatewayCore]:
    """A gateway whose census, grid and cases calls go to the module's servers."""
    settings = gateway_settings.model_copy(
        update={
            "census_target": cases_service.census_target,
            "grid_target": cases_service.grid_target,
            "cases_target": cases_service.cases_target,
        }
    )
    with prepare_core(settings) as core:
        yield core


@pytest.fixture(scope="module")
def cases_api(cases_gateway: GatewayCore) -> TestClient:
    return TestClient(create_app(cases_gateway), raise_server_exceptions=False)


# ---- notify: a notify server and its dispatcher on the cases stack's census and grid ----


@dataclass(frozen=True)
class NotifyServices:
    """The notify server a test module talks to through the gateway (its core: for a test that
    reads the service's settings or tables), and the census, grid and cases servers under it."""

    stack: CasesServices
    notify: NotifyCore
    notify_target: str


@pytest.fixture(scope="module")
def notify_service(
    request: pytest.FixtureRequest, infra: LocalInfrastructure, cases_service: CasesServices
) -> Iterator[NotifyServices]:
    """A real notify gRPC server on a database of the module's own (``<cases database>_notify``)
    whose audiences resolve through the module's census and grid servers as notify's service
    account, with its dispatcher running, so a notice sent now reaches the in-app inbox."""
    database = f"{cases_database_of(request.module)}_notify"
    infra.postgres.create_database(database)
    settings = NotifySettings(
        database_url=infra.postgres.dsn(database),
        keycloak_issuer=infra.keycloak.issuer,
        grpc_port=free_port(),
        kafka_bootstrap_servers=infra.kafka.bootstrap_servers,
        census_target=cases_service.census_target,
        grid_target=cases_service.grid_target,
        consumer_group=f"notify-{uuid.uuid4().hex[:8]}",
        dispatch_interval_s=0.05,
    )
    upgrade(NOTIFY_MIGRATIONS, settings.database_url)
    with ExitStack() as stack:
        core = stack.enter_context(prepare_notify(settings))
        server = build_notify_server(core)
        server.start()
        stack.callback(server.stop, None)
        run_in_thread(stack, lambda stop: run_dispatcher(core, stop), "notify-dispatch")
        yield NotifyServices(
            stack=cases_service, notify=core, notify_target=f"127.0.0.1:{settings.grpc_port}"
        )


@pytest.fixture(scope="module")
def notify_gateway(
    gateway_settings: GatewaySettings, core: GatewayCore, notify_service: NotifyServices
) -> Iterator[GatewayCore]:
    """A gateway whose census, grid, cases and notify calls go to the module's servers, on the
    session's migrated and seeded tenant registry (``core``: a platform administrator's inbox is
    asked at the registry's roots)."""
    stack = notify_service.stack
    settings = gateway_settings.model_copy(
        update={
            "census_target": stack.census_target,
            "grid_target": stack.grid_target,
            "cases_target": stack.cases_target,
            "notify_target": notify_service.notify_target,
        }
    )
    with prepare_core(settings) as core:
        yield core


@pytest.fixture(scope="module")
def notify_api(notify_gateway: GatewayCore) -> TestClient:
    return TestClient(create_app(notify_gateway), raise_server_exceptions=False)
