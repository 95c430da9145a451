"""A notify gRPC server on the real infrastructure, with real census and grid servers behind it
(audiences resolve through them as notify's own service account), a way to call it as a demo
user, a way to write what the dispatcher and the cases consumer would have written, and
superuser SQL for reading what the API does not show.

The census holds a small synthetic Hushan (about sixty households in four complexes) and grid
lays it out in two grids of four micro-grids, both written as `make run` seeds its demo
communities, on databases of their own.
"""

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import grpc
import psycopg
import pytest

from census.__main__ import MIGRATIONS as CENSUS_MIGRATIONS
from census.app import build_server as build_census_server
from census.app import prepare_core as prepare_census
from census.config import CensusSettings
from census.seed import community_rows, insert_community
from census.synthetic import generate_community
from grid.__main__ import MIGRATIONS as GRID_MIGRATIONS
from grid.app import build_server as build_grid_server
from grid.app import prepare_core as prepare_grid
from grid.config import GridSettings
from grid.seed import seed_demo_layout
from notify.__main__ import MIGRATIONS
from notify.app import NotifyCore, build_server, prepare_core
from notify.config import NotifySettings
from notify.models import DeliveryRow, InboxMessageRow, NoticeRow
from shequ.notify.v1 import notify_pb2_grpc
from shequ_infra import LocalInfrastructure
from shequ_infra.grpc_calls import Call, demo_caller
from shequ_infra.processes import free_port
from shequ_kit.migrations import upgrade
from shequ_kit.tenancy import TenantId, tenant_scope

HUSHAN = "xiaoshan.shushan.hushan"
XIANGYUAN = "xiaoshan.shushan.xiangyuan"
SHUSHAN = "xiaoshan.shushan"
SHIBEI = "xiaoshan.beigan.shibei"
DATABASE = "notify"
CENSUS_TODAY = date(2026, 11, 23)  # ages (and so the elderly) are the same on every run
HOUSEHOLDS = 60
Sql = Callable[..., list[tuple[Any, ...]]]


@dataclass(frozen=True)
class Upstreams:
    """The census and grid servers notify asks, and their cores (for arranging data)."""

    census_target: str
    grid_target: str


@pytest.fixture(scope="session")
def upstreams(infra: LocalInfrastructure) -> Iterator[Upstreams]:
    """Census with a synthetic Hushan, and grid with its layout."""
    for name in ("notify_census", "notify_grid"):
        infra.postgres.create_database(name)
    census_settings = CensusSettings(
        database_url=infra.postgres.dsn("notify_census"),
        keycloak_issuer=infra.keycloak.issuer,
        grpc_port=free_port(),
        kafka_bootstrap_servers=infra.kafka.bootstrap_servers,
        events_topic=f"shequ.census.v1.notify-{uuid.uuid4().hex[:8]}",
    )
    grid_settings = GridSettings(
        database_url=infra.postgres.dsn("notify_grid"),
        keycloak_issuer=infra.keycloak.issuer,
        grpc_port=free_port(),
        kafka_bootstrap_servers=infra.kafka.bootstrap_servers,
        census_target=f"127.0.0.1:{census_settings.grpc_port}",
    )
    upgrade(CENSUS_MIGRATIONS, census_settings.database_url)
    upgrade(GRID_MIGRATIONS, grid_settings.database_url)
    with ExitStack() as stack:
        census = stack.enter_context(prepare_census(census_settings, today=lambda: CENSUS_TODAY))
        grid = stack.enter_context(prepare_grid(grid_settings))
        for server in (build_census_server(census), build_grid_server(grid)):
            server.start()
            stack.callback(server.stop, None)
        tenant = TenantId(HUSHAN)
        with tenant_scope(tenant), census.sessions.begin() as session:
            community = generate_community(
                tenant_id=HUSHAN, seed=7, households=HOUSEHOLDS, today=CENSUS_TODAY
            )
            insert_community(session, community_rows(community, census, tenant), CENSUS_TODAY)
        seed_demo_layout(grid, HUSHAN, 2, 4)
        yield Upstreams(
            census_target=f"127.0.0.1:{census_settings.grpc_port}",
            grid_target=f"127.0.0.1:{grid_settings.grpc_port}",
        )


@pytest.fixture(scope="session")
def settings(infra: LocalInfrastructure, upstreams: Upstreams) -> NotifySettings:
    found = NotifySettings(
        database_url=infra.postgres.dsn(DATABASE),
        keycloak_issuer=infra.keycloak.issuer,
        grpc_port=free_port(),
        kafka_bootstrap_servers=infra.kafka.bootstrap_servers,
        consumer_group=f"notify-test-{uuid.uuid4().hex[:8]}",
        census_target=upstreams.census_target,
        grid_target=upstreams.grid_target,
    )
    upgrade(MIGRATIONS, found.database_url)
    return found


@pytest.fixture(scope="session")
def notify_core(settings: NotifySettings) -> Iterator[NotifyCore]:
    """The notify core with its gRPC server listening on ``settings.grpc_port``."""
    with prepare_core(settings) as core:
        server = build_server(core)
        server.start()
        yield core
        server.stop(grace=None)


@pytest.fixture(scope="session")
def stub(notify_core: NotifyCore) -> Iterator[notify_pb2_grpc.NotifyServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{notify_core.settings.grpc_port}") as channel:
        yield notify_pb2_grpc.NotifyServiceStub(channel)


@pytest.fixture(scope="session")
def call(stub: notify_pb2_grpc.NotifyServiceStub, infra: LocalInfrastructure) -> Call:
    return demo_caller(stub, infra, default_tenant=HUSHAN)


@pytest.fixture(scope="session")
def sql(infra: LocalInfrastructure, settings: NotifySettings) -> Sql:
    """SQL as the database superuser (row-level security does not apply)."""

    def run(statement: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(infra.postgres.superuser_dsn(DATABASE), autocommit=True) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    return run


@dataclass(frozen=True)
class Delivered:
    notice_id: uuid.UUID
    deliveries: dict[str, uuid.UUID]  # recipient key → delivery id
    messages: dict[str, uuid.UUID]  # inbox owner → message id


def deliver_to_inboxes(
    core: NotifyCore,
    tenant: str,
    owners: list[str],
    *,
    subject: str = "【通知】停水通知",
    sent_at: datetime | None = None,
) -> Delivered:
    """A sent in-app notice to ``owners`` ("account:<sub>", "role:<role>") written in one
    transaction, as the cases consumer and the dispatcher's inbox channel write it."""
    now = sent_at or datetime.now(UTC)
    notice = NoticeRow(
        id=uuid.uuid4(),
        tenant_id=tenant,
        kind="general",
        template_code="general.notice",
        template_version=0,
        subject_source=subject,
        body_source="{{ content }}",
        variables={"content": "明日上午停水"},
        audience={},
        channels=["inbox"],
        urgent=False,
        state="sent",
        send_at=now,
        expanded_at=now,
        started_at=now,
        finished_at=now,
        sender="test",
        version=1,
    )
    deliveries: dict[str, uuid.UUID] = {}
    messages: dict[str, uuid.UUID] = {}
    with core.writing(TenantId(tenant)) as session:
        session.add(notice)
        session.flush()
        for owner in owners:
            delivery = DeliveryRow(
                id=uuid.uuid4(),
                notice_id=notice.id,
                recipient=owner,
                channel="inbox",
                masked_address=owner,
                state="delivered",
                attempts=1,
                sent_at=now,
                delivered_at=now,
            )
            session.add(delivery)
            session.flush()
            message = InboxMessageRow(
                id=uuid.uuid4(),
                owner=owner,
                notice_id=notice.id,
                delivery_id=delivery.id,
                kind="general",
                subject=subject,
                body="明日上午停水",
                urgent=False,
                received_at=now,
            )
            session.add(message)
            deliveries[owner], messages[owner] = delivery.id, message.id
    return Delivered(notice.id, deliveries, messages)
