"""Wires settings → engine, token verifier, reference cache, grid client → the gRPC server, the
onboarding consumer and the escalation scheduler."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import grpc
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cases.config import CasesSettings
from cases.grpc_api import SERVICE_NAME, CasesServicer
from cases.handling import Desk
from cases.onboarding import on_gateway_event
from cases.reference import CHANNEL, Reference
from cases.routing import GridClient
from shequ.cases.v1 import cases_pb2_grpc
from shequ_kit.cache import NotifiedCache
from shequ_kit.consumer import EventConsumer
from shequ_kit.db import make_engine, tenant_sessionmaker
from shequ_kit.grpc_server import build_grpc_server
from shequ_kit.ops import ConsumerGroup, Operations
from shequ_kit.service_tokens import ServiceCredentials
from shequ_kit.tokens import TokenVerifier


@dataclass
class CasesCore:
    settings: CasesSettings
    engine: Engine
    sessions: sessionmaker[Session]
    verifier: TokenVerifier
    credentials: ServiceCredentials
    grid: GridClient
    reference_cache: NotifiedCache
    desk: Desk

    def close(self) -> None:
        self.reference_cache.close()
        self.grid.close()
        self.credentials.close()


@contextmanager
def prepare_core(settings: CasesSettings) -> Iterator[CasesCore]:
    engine = make_engine(settings.database_url, timeouts=settings.database_timeouts)
    sessions = tenant_sessionmaker(engine)
    credentials = ServiceCredentials.for_issuer(
        settings.keycloak_issuer,
        settings.service_client_id,
        settings.service_client_secret.get_secret_value(),
        timeout_s=settings.keycloak_timeout_s,
    )
    grid = GridClient(settings.grid_target, credentials, settings.grid_timeout_s)
    cache = NotifiedCache(settings.database_url, CHANNEL)
    # Listening from the start: every process reads the catalogue and calendar (serve, scheduler).
    cache.start()
    # Own catalogue and calendar writes empty the cache explicitly (PutCategory, PutCalendar);
    # emptying it on every commit made each report and action reload both (bench/cases.py).
    core = CasesCore(
        settings=settings,
        engine=engine,
        sessions=sessions,
        verifier=TokenVerifier(
            issuer=settings.keycloak_issuer,
            audience=settings.token_audience,
            timeout_s=settings.keycloak_timeout_s,
        ),
        credentials=credentials,
        grid=grid,
        reference_cache=cache,
        desk=Desk(
            reference=Reference(sessions, cache),
            grid=grid,
            topic=settings.events_topic,
            reopen_window=timedelta(days=settings.reopen_window_days),
        ),
    )
    try:
        yield core
    finally:
        core.close()
        engine.dispose()


def build_server(core: CasesCore) -> grpc.Server:
    return build_grpc_server(
        service="cases",
        registrations=[
            partial(cases_pb2_grpc.add_CasesServiceServicer_to_server, CasesServicer(core))
        ],
        service_names=[SERVICE_NAME],
        verifier=core.verifier,
        host=core.settings.grpc_host,
        port=core.settings.grpc_port,
        operations=Operations(
            service="cases",
            engine=core.engine,
            kafka_bootstrap_servers=core.settings.kafka_bootstrap_servers,
            consumers=[ConsumerGroup(core.settings.consumer_group, (core.settings.gateway_topic,))],
        ),
    )


def onboarding_consumer(core: CasesCore) -> EventConsumer:
    return EventConsumer(
        group=core.settings.consumer_group,
        topics=[core.settings.gateway_topic],
        handler=on_gateway_event,
        sessions=core.sessions,
        bootstrap_servers=core.settings.kafka_bootstrap_servers,
        send_timeout_s=core.settings.kafka_timeout_s,
    )
