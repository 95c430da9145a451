"""A grid gRPC server and its census consumer on the real infrastructure, a way to call it as
a demo user, and a producer that publishes census (or cases) events through the real Kafka
broker."""

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf.message import Message
from kafka import KafkaProducer

from grid.__main__ import MIGRATIONS
from grid.app import GridCore, build_server, census_consumer, prepare_core
from grid.config import GridSettings
from shequ.grid.v1 import grid_pb2_grpc
from shequ_infra import LocalInfrastructure
from shequ_infra.grpc_calls import Call, demo_caller
from shequ_infra.platform import create_platform_topics
from shequ_infra.processes import free_port
from shequ_kit.cloudevents import event_headers, record_key
from shequ_kit.migrations import upgrade
from shequ_kit.tenancy import TenantId

HUSHAN = "xiaoshan.shushan.hushan"
XIANGYUAN = "xiaoshan.shushan.xiangyuan"
Publish = Callable[..., uuid.UUID]


@pytest.fixture(scope="session")
def core(infra: LocalInfrastructure) -> Iterator[GridCore]:
    create_platform_topics(infra.kafka.bootstrap_servers)
    settings = GridSettings(
        database_url=infra.postgres.dsn("grid"),
        keycloak_issuer=infra.keycloak.issuer,
        grpc_port=free_port(),
        kafka_bootstrap_servers=infra.kafka.bootstrap_servers,
        consumer_group=f"grid-test-{uuid.uuid4().hex[:8]}",
    )
    upgrade(MIGRATIONS, settings.database_url)
    with prepare_core(settings) as core:
        server = build_server(core)
        server.start()
        stop = threading.Event()
        consumer = census_consumer(core)
        worker = threading.Thread(target=consumer.run_forever, args=(stop, 200), daemon=True)
        worker.start()
        yield core
        stop.set()
        worker.join(timeout=10)
        consumer.close()
        server.stop(grace=None)


@pytest.fixture(scope="session")
def stub(core: GridCore) -> Iterator[grid_pb2_grpc.GridServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{core.settings.grpc_port}") as channel:
        yield grid_pb2_grpc.GridServiceStub(channel)


@pytest.fixture(scope="session")
def call(stub: grid_pb2_grpc.GridServiceStub, infra: LocalInfrastructure) -> Call:
    return demo_caller(stub, infra, default_tenant=HUSHAN)


@pytest.fixture(scope="session")
def publish(infra: LocalInfrastructure) -> Iterator[Publish]:
    """Send an event as census's relay would (CloudEvents binary mode); ``topic`` names the
    owner's topic for another service's events (``shequ.cases.v1``)."""
    producer = KafkaProducer(bootstrap_servers=infra.kafka.bootstrap_servers, acks="all")

    def send(
        payload: Message,
        *,
        tenant: str = HUSHAN,
        aggregate_id: str = "",
        event_id: uuid.UUID | None = None,
        header_tenant: str | None = None,
        topic: str = "shequ.census.v1",
    ) -> uuid.UUID:
        event_id = event_id or uuid.uuid4()
        ce_tenant = TenantId(header_tenant or tenant)
        producer.send(
            topic,
            key=record_key(ce_tenant, aggregate_id or str(event_id)).encode(),
            value=payload.SerializeToString(),
            headers=event_headers(
                event_id=event_id,
                event_type=f"{topic}.{type(payload).__name__}",
                source=f"/shequ/{topic.split('.')[1]}",
                subject=aggregate_id or str(event_id),
                time=datetime.now(UTC),
                tenant=ce_tenant,
            ),
        ).get(timeout=10)
        return event_id

    yield send
    producer.close()
