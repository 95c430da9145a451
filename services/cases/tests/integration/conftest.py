"""A cases gRPC server and its onboarding consumer on the real infrastructure, a way to call it
as a demo user, superuser SQL for arranging time (an overdue deadline) and reading the outbox,
and a producer that publishes gateway events through the real Kafka broker.

Grid is not running here: routing falls back to the community queue, as it must when grid is
down. Routing to the covering micro-grid is tested through the gateway with grid running."""

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import psycopg
import pytest

from cases.__main__ import MIGRATIONS
from cases.app import CasesCore, build_server, onboarding_consumer, prepare_core
from cases.config import CasesSettings
from shequ.cases.v1 import cases_pb2_grpc
from shequ_infra import LocalInfrastructure
from shequ_infra.grpc_calls import Call, demo_caller
from shequ_infra.platform import create_platform_topics
from shequ_infra.processes import free_port
from shequ_kit.migrations import upgrade

HUSHAN = "xiaoshan.shushan.hushan"
XIANGYUAN = "xiaoshan.shushan.xiangyuan"
SHUSHAN = "xiaoshan.shushan"
DATABASE = "cases"
Sql = Callable[..., list[tuple[Any, ...]]]


@pytest.fixture(scope="session")
def settings(infra: LocalInfrastructure) -> CasesSettings:
    create_platform_topics(infra.kafka.bootstrap_servers)
    found = CasesSettings(
        database_url=infra.postgres.dsn(DATABASE),
        keycloak_issuer=infra.keycloak.issuer,
        grpc_port=free_port(),
        kafka_bootstrap_servers=infra.kafka.bootstrap_servers,
        consumer_group=f"cases-test-{uuid.uuid4().hex[:8]}",
        # Nothing listens here: grid is down, so routing falls back to the community queue.
        grid_target=f"127.0.0.1:{free_port()}",
        scheduler_interval_s=0.2,
    )
    upgrade(MIGRATIONS, found.database_url)
    return found


@pytest.fixture(scope="session")
def core(settings: CasesSettings) -> Iterator[CasesCore]:
    with prepare_core(settings) as core:
        server = build_server(core)
        server.start()
        stop = threading.Event()
        consumer = onboarding_consumer(core)
        worker = threading.Thread(target=consumer.run_forever, args=(stop, 200), daemon=True)
        worker.start()
        yield core
        stop.set()
        worker.join(timeout=10)
        consumer.close()
        server.stop(grace=None)


@pytest.fixture(scope="session")
def stub(core: CasesCore) -> Iterator[cases_pb2_grpc.CasesServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{core.settings.grpc_port}") as channel:
        yield cases_pb2_grpc.CasesServiceStub(channel)


@pytest.fixture(scope="session")
def call(stub: cases_pb2_grpc.CasesServiceStub, infra: LocalInfrastructure) -> Call:
    return demo_caller(stub, infra, default_tenant=HUSHAN)


@pytest.fixture(scope="session")
def sql(infra: LocalInfrastructure, settings: CasesSettings) -> Sql:
    """SQL as the database superuser (row-level security does not apply): for arranging what
    only time would do, and for reading what a service test cannot see through the API."""

    def run(statement: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(infra.postgres.superuser_dsn(DATABASE), autocommit=True) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    return run
