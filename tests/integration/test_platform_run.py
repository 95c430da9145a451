"""What `make run` composes: the gateway's real processes (serve, relay) on the infrastructure."""

import uuid

import grpc
import httpx
import pytest
from kafka import KafkaAdminClient, KafkaConsumer

from shequ.census.v1 import census_pb2, census_pb2_grpc
from shequ.gateway.v1 import events_pb2
from shequ_infra import LocalInfrastructure
from shequ_infra.platform import PLATFORM_TOPICS, running_platform

pytestmark = pytest.mark.platform  # a session of its own: see the Makefile


def test_make_run_serves_the_gateway_and_census_and_relays_events(
    infra: LocalInfrastructure,
) -> None:
    with running_platform(infra) as platform:
        admin = KafkaAdminClient(bootstrap_servers=infra.kafka.bootstrap_servers)
        assert set(PLATFORM_TOPICS) <= set(admin.list_topics())
        admin.close()

        ready = httpx.get(f"{platform.gateway_url}/readyz", timeout=10)
        assert ready.status_code == 200

        token = infra.keycloak.password_grant("shibei-staff", "shequ-demo")["access_token"]
        tree = httpx.get(
            f"{platform.gateway_url}/api/v1/tenants",
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert [root["id"] for root in tree["roots"]] == ["xiaoshan.beigan.shibei"]

        # The census service runs, seeded with Shibei's synthetic base numbers.
        with grpc.insecure_channel(platform.census_target) as channel:
            complexes = (
                census_pb2_grpc.CensusServiceStub(channel)
                .ListComplexes(
                    census_pb2.ListComplexesRequest(),
                    timeout=10,
                    metadata=(
                        ("authorization", f"Bearer {token}"),
                        ("x-tenant-id", "xiaoshan.beigan.shibei"),
                    ),
                )
                .complexes
            )
        assert {c.name for c in complexes} == {"晴庐", "望海潮", "汇雅轩", "和雅轩"}

        # The relay process publishes what the seed wrote to the outbox.
        consumer = KafkaConsumer(
            "shequ.gateway.v1",
            bootstrap_servers=infra.kafka.bootstrap_servers,
            auto_offset_reset="earliest",
            group_id=f"run-{uuid.uuid4().hex}",
            consumer_timeout_ms=20_000,
        )
        announced = set()
        for record in consumer:
            announced.add(events_pb2.TenantOnboarded.FromString(record.value).tenant.tenant_id)
            if "xiaoshan.beigan.shibei" in announced:
                break
        consumer.close()
        assert "xiaoshan.beigan.shibei" in announced
    assert all(not process.running for process in platform.processes)
