"""Wires settings → engine, token verifier, the service account's census and grid stubs → the
gRPC server; the dispatcher (``notify.delivery``) and the cases consumer
(``notify.case_updates``) take the same core."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import grpc
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from notify.config import NotifySettings
from notify.grpc_api import SERVICE_NAME, NotifyServicer
from shequ.census.v1 import census_pb2_grpc
from shequ.grid.v1 import grid_pb2_grpc
from shequ.notify.v1 import notify_pb2_grpc
from shequ_kit.db import make_engine, tenant_sessionmaker
from shequ_kit.grpc_client import make_channel
from shequ_kit.grpc_server import build_grpc_server
from shequ_kit.ops import ConsumerGroup, Operations
from shequ_kit.service_tokens import ServiceCredentials
from shequ_kit.tenancy import TenantId, tenant_scope
from shequ_kit.tokens import TokenVerifier


@dataclass
class NotifyCore:
    settings: NotifySettings
    engine: Engine
    sessions: sessionmaker[Session]
    verifier: TokenVerifier
    # Census and grid are asked as this service's own account: a scheduled notice is resolved
    # long after the request that created it, and the dispatcher and consumer have no caller.
    credentials: ServiceCredentials
    census_channel: grpc.Channel
    grid_channel: grpc.Channel
    census: census_pb2_grpc.CensusServiceStub
    grid: grid_pb2_grpc.GridServiceStub

    def upstream_metadata(self, tenant: TenantId) -> tuple[tuple[str, str], ...]:
        """Metadata of a call to census or grid on ``tenant``'s behalf, as the service account."""
        return self.credentials.metadata(tenant.value)

    @contextmanager
    def reading(self, tenant: TenantId) -> Iterator[Session]:
        """A read-only session bound to ``tenant`` (for work no request scoped: the dispatcher,
        the consumer, a street reading its communities one by one)."""
        with tenant_scope(tenant), self.sessions() as session:
            yield session

    @contextmanager
    def writing(self, tenant: TenantId) -> Iterator[Session]:
        """One transaction bound to ``tenant``, committed when the block ends."""
        with tenant_scope(tenant), self.sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.census_channel.close()
        self.grid_channel.close()
        self.credentials.close()


@contextmanager
def prepare_core(settings: NotifySettings) -> Iterator[NotifyCore]:
    engine = make_engine(settings.database_url, timeouts=settings.database_timeouts)
    census_channel = make_channel(
        settings.census_target, default_timeout_s=settings.upstream_timeout_s
    )
    grid_channel = make_channel(settings.grid_target, default_timeout_s=settings.upstream_timeout_s)
    core = NotifyCore(
        settings=settings,
        engine=engine,
        sessions=tenant_sessionmaker(engine),
        verifier=TokenVerifier(
            issuer=settings.keycloak_issuer,
            audience=settings.token_audience,
            timeout_s=settings.keycloak_timeout_s,
        ),
        credentials=ServiceCredentials.for_issuer(
            settings.keycloak_issuer,
            settings.service_client_id,
            settings.service_client_secret.get_secret_value(),
            timeout_s=settings.keycloak_timeout_s,
        ),
        census_channel=census_channel,
        grid_channel=grid_channel,
        census=census_pb2_grpc.CensusServiceStub(census_channel),
        grid=grid_pb2_grpc.GridServiceStub(grid_channel),
    )
    try:
        yield core
    finally:
        core.close()
        engine.dispose()


def build_server(core: NotifyCore) -> grpc.Server:
    return build_grpc_server(
        service="notify",
        registrations=[
            partial(notify_pb2_grpc.add_NotifyServiceServicer_to_server, NotifyServicer(core))
        ],
        service_names=[SERVICE_NAME],
        verifier=core.verifier,
        host=core.settings.grpc_host,
        port=core.settings.grpc_port,
        operations=Operations(
            service="notify",
            engine=core.engine,
            kafka_bootstrap_servers=core.settings.kafka_bootstrap_servers,
            consumers=[ConsumerGroup(core.settings.consumer_group, (core.settings.cases_topic,))],
        ),
    )
