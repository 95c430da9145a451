"""Smoke tests: each real component does the one thing the platform needs from it."""

import json
import uuid

import httpx
import jwt
import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer

from shequ_infra import LocalInfrastructure
from shequ_infra.keycloak import demo_users


def test_kafka_delivers_a_produced_message_to_a_consumer(infra: LocalInfrastructure) -> None:
    topic = f"smoke.{uuid.uuid4().hex}"
    producer = KafkaProducer(bootstrap_servers=infra.kafka.bootstrap_servers, acks="all")
    producer.send(
        topic,
        key=b"xiaoshan.shushan.hushan/r-1",
        value="湖山社区：楼道堆积物已清理".encode(),
        headers=[("ce_type", b"shequ.smoke.v1")],
    ).get(timeout=30)
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=infra.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"smoke-{uuid.uuid4().hex}",
        consumer_timeout_ms=20_000,
    )
    received = next(iter(consumer))
    consumer.close()

    assert received.key == b"xiaoshan.shushan.hushan/r-1"
    assert received.value.decode() == "湖山社区：楼道堆积物已清理"
    assert dict(received.headers)["ce_type"] == b"shequ.smoke.v1"


def test_keycloak_token_of_a_demo_user_carries_its_group_grants(infra: LocalInfrastructure) -> None:
    user = next(u for u in demo_users() if u.username == "hushan-pii")
    tokens = infra.keycloak.password_grant(user.username, user.password)

    jwks = jwt.PyJWKClient(f"{infra.keycloak.issuer}/protocol/openid-connect/certs")
    signing_key = jwks.get_signing_key_from_jwt(tokens["access_token"])
    claims = jwt.decode(
        tokens["access_token"],
        signing_key.key,
        algorithms=["RS256"],
        audience="shequ",
        issuer=infra.keycloak.issuer,
    )

    assert sorted(claims["groups"]) == sorted(user.groups)
    assert claims["preferred_username"] == "hushan-pii"


def test_keycloak_refuses_a_wrong_password(infra: LocalInfrastructure) -> None:
    with pytest.raises(httpx.HTTPStatusError) as refused:
        infra.keycloak.password_grant("hushan-staff", "not-the-password")
    # RFC 6749 §5.2: wrong resource-owner credentials are an `invalid_grant` (400).
    assert refused.value.response.status_code == 400
    assert refused.value.response.json()["error"] == "invalid_grant"


def test_postgres_round_trips_a_row_in_a_service_database(infra: LocalInfrastructure) -> None:
    with psycopg.connect(infra.postgres.dsn("census")) as connection:
        connection.execute(
            "CREATE TABLE smoke_complex (id serial PRIMARY KEY, name text, meta jsonb)"
        )
        connection.execute(
            "INSERT INTO smoke_complex (name, meta) VALUES (%s, %s)",
            ("晴庐", json.dumps({"delivered": 2016})),
        )
        row = connection.execute("SELECT name, meta FROM smoke_complex").fetchone()
        connection.rollback()

    assert row == ("晴庐", {"delivered": 2016})


def test_each_service_has_a_database_of_its_own(infra: LocalInfrastructure) -> None:
    with psycopg.connect(infra.postgres.dsn("grid"), autocommit=True) as grid:
        grid.execute("CREATE TABLE only_in_grid (id int)")
    with psycopg.connect(infra.postgres.dsn("cases")) as cases:
        visible = cases.execute("SELECT to_regclass('only_in_grid')").fetchone()
    assert visible == (None,)
    assert set(infra.databases) == {"gateway", "census", "grid", "cases", "notify"}


def test_services_connect_as_roles_that_row_level_security_applies_to(
    infra: LocalInfrastructure,
) -> None:
    with psycopg.connect(infra.postgres.dsn("notify")) as connection:
        row = connection.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    assert row == (False, False)
