"""Wires settings → engine, personal-data protection, token verifier → the gRPC server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from zoneinfo import ZoneInfo

import grpc
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from census.config import CensusSettings
from census.grpc_api import SERVICE_NAME, CensusServicer
from census.identity.pii import KeyRing, LookupHasher, PiiCipher
from census.people.service import Protection
from shequ.census.v1 import census_pb2_grpc
from shequ_kit.db import make_engine, tenant_sessionmaker
from shequ_kit.grpc_server import build_grpc_server
from shequ_kit.ops import Operations
from shequ_kit.tokens import TokenVerifier

SHANGHAI = ZoneInfo("Asia/Shanghai")


def today_in_shanghai() -> date:
    """Ages and 'in the future' are judged by the residents' calendar, not UTC's."""
    return datetime.now(SHANGHAI).date()


@dataclass
class CensusCore:
    settings: CensusSettings
    engine: Engine
    sessions: sessionmaker[Session]
    protection: Protection
    verifier: TokenVerifier
    today: Callable[[], date]


@contextmanager
def prepare_core(
    settings: CensusSettings, *, today: Callable[[], date] = today_in_shanghai
) -> Iterator[CensusCore]:
    engine = make_engine(settings.database_url, timeouts=settings.database_timeouts)
    try:
        yield CensusCore(
            settings=settings,
            engine=engine,
            sessions=tenant_sessionmaker(engine),
            protection=Protection(
                cipher=PiiCipher(KeyRing.from_setting(settings.pii_keys.get_secret_value())),
                hasher=LookupHasher.from_setting(settings.pii_lookup_key.get_secret_value()),
            ),
            verifier=TokenVerifier(
                issuer=settings.keycloak_issuer,
                audience=settings.token_audience,
                timeout_s=settings.keycloak_timeout_s,
            ),
            today=today,
        )
    finally:
        engine.dispose()


def build_server(core: CensusCore) -> grpc.Server:
    return build_grpc_server(
        service="census",
        registrations=[
            partial(census_pb2_grpc.add_CensusServiceServicer_to_server, CensusServicer(core))
        ],
        service_names=[SERVICE_NAME],
        verifier=core.verifier,
        host=core.settings.grpc_host,
        port=core.settings.grpc_port,
        operations=Operations(
            service="census",
            engine=core.engine,
            kafka_bootstrap_servers=core.settings.kafka_bootstrap_servers,
        ),
    )
