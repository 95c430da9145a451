"""A census gRPC server on the real infrastructure, and a way to call it as a demo user."""

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import grpc
import pytest

from census.__main__ import MIGRATIONS
from census.app import CensusCore, build_server, prepare_core
from census.config import CensusSettings
from shequ.census.v1 import census_pb2_grpc
from shequ_infra import LocalInfrastructure
from shequ_infra.processes import free_port
from shequ_kit.migrations import upgrade

TODAY = date(2026, 11, 23)
HUSHAN = "xiaoshan.shushan.hushan"
Call = Callable[..., Any]


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
    tokens: dict[str, str] = {}

    def invoke(
        method: str,
        request: Any,
        *,
        user: str = "hushan-staff",
        tenant: str = HUSHAN,
        password: str = "shequ-demo",
    ) -> Any:
        """Call as ``user`` (a demo user unless another password is given) on ``tenant``."""
        if user not in tokens:
            tokens[user] = infra.keycloak.password_grant(user, password)["access_token"]
        metadata = (("authorization", f"Bearer {tokens[user]}"), ("x-tenant-id", tenant))
        return getattr(stub, method)(request, metadata=metadata, timeout=10)

    return invoke
