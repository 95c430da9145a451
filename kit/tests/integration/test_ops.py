"""The ops mechanics against real PostgreSQL and Kafka: outbox status, replay through the relay
to the broker, consumer lag and processed counts."""

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from sqlalchemy import Engine, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from shequ.common.v1 import tenant_pb2
from shequ_infra import LocalInfrastructure
from shequ_kit.audit import audit_table
from shequ_kit.cloudevents import ReceivedEvent
from shequ_kit.consumer import EventConsumer, processed_events_table
from shequ_kit.db import TenantOwned, tenant_sessionmaker
from shequ_kit.ops import ConsumerGroup, ReplayRange, consumer_status, outbox_status, replay_outbox
from shequ_kit.outbox import Event, outbox_table, publish
from shequ_kit.relay import OutboxRelay
from shequ_kit.tenancy import TenantId, tenant_scope
from shequ_kit.tokens import Principal, grants_from_groups

if TYPE_CHECKING:
    from kit.tests.integration.conftest import IsolatedDatabase

HUSHAN = TenantId("xiaoshan.shushan.hushan")
XIANGYUAN = TenantId("xiaoshan.shushan.xiangyuan")
SHIBEI = TenantId("xiaoshan.beigan.shibei")
SHUSHAN = TenantId("xiaoshan.shushan")
WAIT_S = 30.0

pytestmark = pytest.mark.timeout(180, func_only=True)

OPERATOR = Principal(
    subject="operator-subject",
    username="operator",
    grants=grants_from_groups(["/platform-admin"]),
    token="t",
    expires_at=datetime.now(UTC) + timedelta(hours=1),
)


class Base(DeclarativeBase):
    pass


outbox_table(Base.metadata)
audit_table(Base.metadata)  # replays are recorded in it
processed_events_table(Base.metadata)


class Seen(TenantOwned, Base):
    __tablename__ = "seen"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40))


@pytest.fixture(scope="module")
def engine(isolated_database: "IsolatedDatabase") -> Engine:
    return isolated_database("kit_ops", Base.metadata)


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE outbox, processed_events, seen"))
    return tenant_sessionmaker(engine)


@pytest.fixture
def topic(infra: LocalInfrastructure) -> str:
    name = f"kit-ops-{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=infra.kafka.bootstrap_servers)
    try:
        admin.create_topics(
            {t: {"num_partitions": 2, "replication_factor": 1} for t in (name, f"{name}.dlq")},
            wait_for_metadata=True,
        )
    finally:
        admin.close()
    return name


def publish_noted(sessions: sessionmaker[Session], topic: str, tenant: TenantId) -> str:
    event = Event(
        type="shequ.kittest.v1.Noted",
        source="/shequ/kittest",
        topic=topic,
        tenant=tenant,
        aggregate_id=f"agg-{uuid.uuid4().hex[:6]}",
        payload=tenant_pb2.TenantRef(tenant_id=tenant.value),
    )
    with tenant_scope(tenant), sessions.begin() as session:
        publish(session, event)
    return str(event.id)


def relay_all(infra: LocalInfrastructure, engine: Engine) -> int:
    servers = infra.kafka.bootstrap_servers
    with OutboxRelay(engine, service="kitops", bootstrap_servers=servers) as relay:
        sent = 0
        while published := relay.run_once():
            sent += published
        return sent


def event_ids_on(infra: LocalInfrastructure, topic: str) -> list[str]:
    """Every ``ce_id`` the topic holds now, in both partitions."""
    reader = KafkaConsumer(bootstrap_servers=infra.kafka.bootstrap_servers)
    try:
        partitions = [TopicPartition(topic, p) for p in (0, 1)]
        reader.assign(partitions)
        total = sum(reader.end_offsets(partitions).values())
        reader.seek_to_beginning(*partitions)
        ids: list[str] = []
        deadline = time.monotonic() + WAIT_S
        while len(ids) < total and time.monotonic() < deadline:
            for batch in reader.poll(timeout_ms=500).values():
                ids += [dict(r.headers)["ce_id"].decode() for r in batch]
        return ids
    finally:
        reader.close()


def test_status_counts_pending_then_published_per_topic(
    infra: LocalInfrastructure, engine: Engine, sessions: sessionmaker[Session], topic: str
) -> None:
    for tenant in (HUSHAN, HUSHAN, SHIBEI):
        publish_noted(sessions, topic, tenant)
    waiting = outbox_status(engine, "kitops", None)
    assert (waiting.pending, waiting.published_last_hour) == (3, 0)
    assert [t.topic for t in waiting.topics] == [topic]
    assert waiting.topics[0].HasField("oldest_pending_at")
    assert 0 <= waiting.oldest_pending_age_seconds < 60
    assert outbox_status(engine, "kitops", SHUSHAN).pending == 2  # Shibei is another street

    assert relay_all(infra, engine) == 3
    sent = outbox_status(engine, "kitops", None)
    assert (sent.pending, sent.published_last_hour, sent.oldest_pending_age_seconds) == (0, 3, 0)
    assert not sent.topics[0].HasField("oldest_pending_at")


def test_replay_publishes_a_tenants_range_again_and_consumers_skip_what_they_had(
    infra: LocalInfrastructure, engine: Engine, sessions: sessionmaker[Session], topic: str
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    hushan = [publish_noted(sessions, topic, HUSHAN) for _ in range(2)]
    xiangyuan = publish_noted(sessions, topic, XIANGYUAN)
    assert relay_all(infra, engine) == 3
    group = f"kit-ops-{uuid.uuid4().hex[:8]}"

    def note(session: Session, event: ReceivedEvent) -> None:
        session.add(Seen(event_id=str(event.id)))

    with EventConsumer(
        group=group,
        topics=[topic],
        handler=note,
        sessions=sessions,
        bootstrap_servers=infra.kafka.bootstrap_servers,
    ) as consumer:
        lagging = consumer_status(
            engine,
            "kitops",
            [ConsumerGroup(group, (topic,))],
            bootstrap_servers=infra.kafka.bootstrap_servers,
        )
        assert lagging.groups[0].lag == 3
        assert {p.committed_offset for p in lagging.groups[0].partitions} == {-1}
        settled, deadline = 0, time.monotonic() + WAIT_S
        while settled < 3 and time.monotonic() < deadline:
            settled += consumer.poll_once(timeout_ms=500)

        # Only Hushan's two events, of the range, become pending again: nothing else moves.
        replay = ReplayRange(since=before, tenant=HUSHAN)
        assert replay_outbox(engine, replay, service="kitops", actor=OPERATOR) == 2
        assert outbox_status(engine, "kitops", None).pending == 2
        nothing = ReplayRange(since=datetime.now(UTC))
        assert replay_outbox(engine, nothing, service="kitops", actor=OPERATOR) == 0
        assert relay_all(infra, engine) == 2
        on_topic = event_ids_on(infra, topic)
        assert sorted(on_topic) == sorted([*hushan, *hushan, xiangyuan])

        settled, deadline = 0, time.monotonic() + WAIT_S
        while settled < 2 and time.monotonic() < deadline:
            settled += consumer.poll_once(timeout_ms=500)
        status = consumer_status(
            engine,
            "kitops",
            [ConsumerGroup(group, (topic,))],
            bootstrap_servers=infra.kafka.bootstrap_servers,
        )
    groups = status.groups
    assert [g.group for g in groups] == [group]
    assert groups[0].lag == 0
    assert sum(p.end_offset for p in groups[0].partitions) == 5
    # Every record read and committed; a partition the keys never hashed to commits nothing (-1).
    assert [p.committed_offset for p in groups[0].partitions if p.end_offset] == [
        p.end_offset for p in groups[0].partitions if p.end_offset
    ]
    # Five records consumed, three events applied: the replayed two were duplicates.
    assert (groups[0].processed_events, groups[0].processed_last_hour) == (3, 3)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM seen")).scalar() == 0  # RLS, no tenant
    with tenant_scope(HUSHAN), sessions() as session:
        assert sorted(s.event_id for s in session.query(Seen)) == sorted(hushan)


def test_a_service_without_consumers_asks_kafka_nothing(engine: Engine) -> None:
    reply = consumer_status(engine, "census", [], bootstrap_servers="127.0.0.1:1")
    assert (reply.service, list(reply.groups)) == ("census", [])
