"""How fast the local infrastructure comes up and answers: the floor every later figure sits on."""

from __future__ import annotations

import statistics
import time
import uuid

import psycopg
from kafka import KafkaConsumer, KafkaProducer

from bench.results import Figure
from shequ_infra import LocalInfrastructure

KAFKA_MESSAGES = 5_000
LOGINS = 20
PG_ROWS = 5_000


def kafka_throughput(infra: LocalInfrastructure) -> list[Figure]:
    topic = f"bench.{uuid.uuid4().hex}"
    payload = b"x" * 1024
    producer = KafkaProducer(
        bootstrap_servers=infra.kafka.bootstrap_servers, acks="all", linger_ms=5
    )
    began = time.perf_counter()
    for i in range(KAFKA_MESSAGES):
        producer.send(topic, key=f"xiaoshan.shushan.hushan/{i % 100}".encode(), value=payload)
    producer.flush()
    produced = time.perf_counter() - began
    producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=infra.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"bench-{uuid.uuid4().hex}",
        consumer_timeout_ms=30_000,
    )
    began = time.perf_counter()
    received = 0
    for _ in consumer:
        received += 1
        if received == KAFKA_MESSAGES:
            break
    consumed = time.perf_counter() - began
    consumer.close()
    return [
        Figure("kafka produce 1 KiB, acks=all", KAFKA_MESSAGES / produced, "msg/s"),
        Figure("kafka consume 1 KiB", received / consumed, "msg/s"),
    ]


def keycloak_logins(infra: LocalInfrastructure) -> list[Figure]:
    infra.keycloak.password_grant("hushan-staff", "shequ-demo")  # warm the realm's caches
    durations = []
    for _ in range(LOGINS):
        began = time.perf_counter()
        infra.keycloak.password_grant("hushan-staff", "shequ-demo")
        durations.append((time.perf_counter() - began) * 1000)
    return [Figure("keycloak password grant, median", statistics.median(durations), "ms")]


def postgres_inserts(infra: LocalInfrastructure) -> list[Figure]:
    with psycopg.connect(infra.postgres.dsn("census")) as connection:
        connection.execute("CREATE TABLE bench_resident (id bigserial PRIMARY KEY, name text)")
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO bench_resident (name) VALUES (%s)",
                [(f"居民{i}",) for i in range(PG_ROWS)],
            )
        connection.commit()
        elapsed = time.perf_counter() - began
    return [Figure("postgres insert (one transaction)", PG_ROWS / elapsed, "rows/s")]


def run(infra: LocalInfrastructure) -> list[Figure]:
    return kafka_throughput(infra) + keycloak_logins(infra) + postgres_inserts(infra)
