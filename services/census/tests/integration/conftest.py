"""A census gRPC server on the real infrastructure, and a way to call it as a demo user."""

from collections.abc import Iterator
from datetime import date

import grpc
import pytest

from census.__main__ import MIGRATIONS
from census.app import CensusCore, build_server, prepare_core
from census.config import CensusSettings
from shequ.census.v1 import census_pb2_grpc
from shequ_infra import LocalInfrastructure
from shequ_infra.grpc_calls import Call, demo_caller
from shequ_infra.processes import free_port
from shequ_kit.migrations import upgrade

TODAY = date(2026, 11, 23)
HUSHAN = "xiaoshan.shushan.hushan"


@pytest.fixture(scope="session")
def core(infra: LocalInfrastructure) -> Iterator[CensusCore]:
    settings = CensusSettings(
        database_url=infra.postgres.dsn("census"),
        keycloak_issuer=infra.keycloak.issuer,
        grpc_port=free_port(),
        kafka_bootstrap_servers=infra.kafka.bootstrap_servers,
    )
    upgrade(MIGRATIONS, settings.database_url)
    with prepare_core(settings, today=lambda: TODAY) as core:
        server = build_server(core)
        server.start()
        yield core
        server.stop(grace=None)


@pytest.fixture(scope="session")
def stub(core: CensusCore) -> Iterator[census_pb2_grpc.CensusServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{core.settings.grpc_port}") as channel:
        yield census_pb2_grpc.CensusServiceStub(channel)


@pytest.fixture(scope="session")
def call(stub: census_pb2_grpc.CensusServiceStub, infra: LocalInfrastructure) -> Call:
    return demo_caller(stub, infra, default_tenant=HUSHAN)
