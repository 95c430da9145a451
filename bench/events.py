"""Publishing events: the platform's outbox → relay → Kafka, next to the Kafka producer alone.

The platform: EVENTS outbox rows written in one transaction to the cases service's outbox (as
``shequ_kit.outbox.publish`` writes them, the relay woken on commit), timed from the commit until
the running ``cases relay`` has had every one acknowledged by Kafka and marked sent (it claims
batches of 100, produces them, waits for the acknowledgements and commits the marks).
The reference: the same client library with the relay's settings (idempotent, ``acks=all``)
producing the same records (keys, headers, payloads) from this process and flushing once.
The payloads are real events' (the demo seed's census events, cycled), each test to a fresh
topic of its own so no consumer of the platform sees them.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from bench.results import Figure, Reference
from shequ_infra import LocalInfrastructure
from shequ_infra.platform import TOPIC_PARTITIONS
from shequ_kit.cloudevents import event_headers, record_key
from shequ_kit.tenancy import TenantId

EVENTS = 5_000
TENANT = TenantId("xiaoshan.shushan.hushan")
EVENT_TYPE = "shequ.bench.v1.Probe"
SOURCE = "/shequ/bench"
PUBLISHED_TIMEOUT_S = 300.0


def run(infra: LocalInfrastructure) -> list[Figure]:
    payloads = seeded_payloads(infra)
    relay_topic, producer_topic = (
        f"bench.{kind}.{uuid.uuid4().hex}" for kind in ("relay", "kafka")
    )
    create_topics(infra.kafka.bootstrap_servers, relay_topic, producer_topic)
    alone = producer_alone(infra.kafka.bootstrap_servers, producer_topic, payloads)
    relayed = through_the_relay(infra, relay_topic, payloads)
    for topic in (producer_topic, relay_topic):
        if (found := records_on(infra.kafka.bootstrap_servers, topic)) != EVENTS:
            raise RuntimeError(f"{topic} holds {found} records, not {EVENTS}")
    size = sum(len(p) for p in payloads) / len(payloads)
    return [
        Figure(
            f"publish {EVENTS:,} events of ~{size:.0f} bytes: outbox → cases relay → Kafka",
            relayed,
            "events/s",
            reference=Reference("Kafka producer alone (idempotent, acks=all)", alone),
        )
    ]


def seeded_payloads(infra: LocalInfrastructure) -> list[bytes]:
    with psycopg.connect(infra.postgres.superuser_dsn("census")) as connection:
        rows = connection.execute("SELECT payload FROM outbox ORDER BY id LIMIT 1000").fetchall()
    if not rows:
        raise RuntimeError("the census outbox is empty: the demo seed writes events there")
    return [bytes(row[0]) for row in rows]


def create_topics(bootstrap_servers: str, *topics: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    try:
        admin.create_topics(
            [
                NewTopic(name=t, num_partitions=TOPIC_PARTITIONS, replication_factor=1)
                for t in topics
            ]
        )
    finally:
        admin.close()


def records(payloads: list[bytes]) -> list[dict[str, Any]]:
    """EVENTS events as the relay sends them: key, value and CloudEvents headers."""
    now = datetime.now(UTC)
    events = []
    for n in range(EVENTS):
        aggregate = str(uuid.uuid4())
        event_id = uuid.uuid4()
        events.append(
            {
                "event_id": event_id,
                "aggregate_id": aggregate,
                "payload": payloads[n % len(payloads)],
                "key": record_key(TENANT, aggregate).encode(),
                "headers": event_headers(
                    event_id=event_id,
                    event_type=EVENT_TYPE,
                    source=SOURCE,
                    subject=aggregate,
                    time=now,
                    tenant=TENANT,
                ),
            }
        )
    return events


def producer_alone(bootstrap_servers: str, topic: str, payloads: list[bytes]) -> float:
    """Events per second from send of the first to the acknowledgement of the last."""
    events = records(payloads)
    # shequ_kit.relay.OutboxRelay's producer settings.
    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id="shequ-bench-producer",
        enable_idempotence=True,
        acks="all",
        delivery_timeout_ms=30_000,
        request_timeout_ms=30_000,
    )
    try:
        producer.partitions_for(topic)  # metadata first, as a running relay has it
        began = time.perf_counter()
        for event in events:
            producer.send(topic, key=event["key"], value=event["payload"], headers=event["headers"])
        producer.flush(timeout=PUBLISHED_TIMEOUT_S)
        return EVENTS / (time.perf_counter() - began)
    finally:
        producer.close()


def through_the_relay(infra: LocalInfrastructure, topic: str, payloads: list[bytes]) -> float:
    """Events per second from the outbox commit until the relay has marked the last sent."""
    events = records(payloads)
    now = datetime.now(UTC)
    with psycopg.connect(infra.postgres.superuser_dsn("cases")) as connection:
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO outbox (event_id, tenant_id, aggregate_id, event_type, source, topic,"
                " payload, occurred_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        e["event_id"],
                        TENANT.value,
                        e["aggregate_id"],
                        EVENT_TYPE,
                        SOURCE,
                        topic,
                        e["payload"],
                        now,
                    )
                    for e in events
                ],
            )
            cursor.execute("SELECT pg_notify('shequ_outbox', '')")
        connection.commit()
        began = time.perf_counter()
        pending = EVENTS
        while pending:
            if time.perf_counter() - began > PUBLISHED_TIMEOUT_S:
                raise RuntimeError(f"{pending} of {EVENTS} outbox rows still pending")
            time.sleep(0.02)
            row = connection.execute(
                "SELECT count(*) FROM outbox WHERE topic = %s AND sent_at IS NULL", (topic,)
            ).fetchone()
            connection.commit()
            pending = int(row[0]) if row else 0
        return EVENTS / (time.perf_counter() - began)


def records_on(bootstrap_servers: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers)
    try:
        partitions = [TopicPartition(topic, p) for p in range(TOPIC_PARTITIONS)]
        return int(sum(consumer.end_offsets(partitions).values()))
    finally:
        consumer.close()
