"""Wires settings → engine, token verifier, census client → the gRPC server and the consumer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import grpc
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from grid.case_projection import PREFIX as CASES_PREFIX
from grid.case_projection import CaseHandler
from grid.census_sync import CensusClient, known_communities, rebuild_tenant
from grid.config import GridSettings
from grid.grpc_api import SERVICE_NAME, GridServicer
from grid.projection import CensusHandler
from shequ.grid.v1 import grid_pb2_grpc
from shequ_kit.cache import NotifiedCache
from shequ_kit.cloudevents import ReceivedEvent
from shequ_kit.consumer import EventConsumer, EventHandler
from shequ_kit.db import make_engine, system_scope, tenant_sessionmaker
from shequ_kit.grpc_server import build_grpc_server
from shequ_kit.ops import ConsumerGroup, Operations, Rebuilt
from shequ_kit.service_tokens import ServiceCredentials
from shequ_kit.tenancy import TenantId, tenant_scope
from shequ_kit.tokens import TokenVerifier

LAYOUT_CHANNEL = "grid_layout"  # notified by the layout tables' triggers (migration 0002)


@dataclass
class GridCore:
    settings: GridSettings
    engine: Engine
    sessions: sessionmaker[Session]
    verifier: TokenVerifier
    credentials: ServiceCredentials
    # WhoCovers answers, emptied by the layout tables' notices (migration 0002); listening only
    # in a process that serves.
    coverage_cache: NotifiedCache
    _census: CensusClient | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def census(self) -> CensusClient:
        """Opened on first use: serving WhoCovers never needs census."""
        with self._lock:
            if self._census is None:
                self._census = CensusClient(
                    self.settings.census_target, self.credentials, self.settings.census_timeout_s
                )
            return self._census

    def resync(self, session: Session, tenant: TenantId) -> object:
        return rebuild_tenant(session, self.census(), tenant)

    def rebuild_census_projection(self, tenant: TenantId | None) -> Rebuilt:
        """The ops hook: ask census again for a community, or for every community grid knows
        in a street's (or the whole platform's) subtree; one transaction per community."""
        if tenant is not None and tenant.is_community:
            communities = [tenant]
        else:
            with system_scope(), self.sessions() as session:
                communities = known_communities(session, tenant)
        rows = 0
        for community in communities:
            with tenant_scope(community), self.sessions.begin() as session:
                rebuilt = rebuild_tenant(session, self.census(), community)
            rows += rebuilt.buildings + rebuilt.households + rebuilt.residents
            rows += rebuilt.enterprises
        return Rebuilt(tuple(communities), rows)

    def close(self) -> None:
        self.coverage_cache.close()
        if self._census is not None:
            self._census.close()
        self.credentials.close()


@contextmanager
def prepare_core(settings: GridSettings) -> Iterator[GridCore]:
    engine = make_engine(settings.database_url, timeouts=settings.database_timeouts)
    core = GridCore(
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
        coverage_cache=NotifiedCache(settings.database_url, LAYOUT_CHANNEL),
    )
    # This process's own writes are seen at once; the notices bring other processes' writes.
    event.listen(core.sessions, "after_commit", lambda _session: core.coverage_cache.invalidate())
    try:
        yield core
    finally:
        core.close()
        engine.dispose()


def build_server(core: GridCore) -> grpc.Server:
    core.coverage_cache.start()
    return build_grpc_server(
        service="grid",
        registrations=[
            partial(grid_pb2_grpc.add_GridServiceServicer_to_server, GridServicer(core))
        ],
        service_names=[SERVICE_NAME],
        verifier=core.verifier,
        host=core.settings.grpc_host,
        port=core.settings.grpc_port,
        operations=Operations(
            service="grid",
            engine=core.engine,
            kafka_bootstrap_servers=core.settings.kafka_bootstrap_servers,
            consumers=[
                ConsumerGroup(
                    core.settings.consumer_group,
                    (core.settings.census_topic, core.settings.cases_topic),
                )
            ],
            projections={"census": core.rebuild_census_projection},
        ),
    )


def projection_handler(census: CensusHandler, cases: CaseHandler) -> EventHandler:
    """One handler for both topics, chosen by the event type (``shequ.cases.v1.…``)."""

    def handle(session: Session, event: ReceivedEvent) -> None:
        if event.type.startswith(CASES_PREFIX):
            cases(session, event)
        else:
            census(session, event)

    return handle


def census_consumer(core: GridCore) -> EventConsumer:
    """The projections' consumer: census facts (buildings, households, residents …) and case
    facts (open cases per building), in one consumer group."""
    return EventConsumer(
        group=core.settings.consumer_group,
        topics=[core.settings.census_topic, core.settings.cases_topic],
        handler=projection_handler(CensusHandler(resync=core.resync), CaseHandler()),
        sessions=core.sessions,
        bootstrap_servers=core.settings.kafka_bootstrap_servers,
        send_timeout_s=core.settings.kafka_timeout_s,
    )
