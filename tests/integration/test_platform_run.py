"""What `make run` composes: the gateway's and the services' real processes on the
infrastructure — census, grid, cases and the gateway, with their relays and consumers."""

import time
import uuid
from typing import Any

import grpc
import httpx
import pytest
from kafka import KafkaAdminClient, KafkaConsumer

from shequ.census.v1 import census_pb2, census_pb2_grpc
from shequ.gateway.v1 import events_pb2
from shequ_infra import LocalInfrastructure
from shequ_infra.forged_tokens import claims_of
from shequ_infra.platform import PLATFORM_TOPICS, RunningPlatform, running_platform

pytestmark = pytest.mark.platform  # a session of its own: see the Makefile

SHIBEI = "xiaoshan.beigan.shibei"
STAIRWELL_CLUTTER = "0103"  # 楼道堆积物: handled at the micro-grid level


def test_make_run_serves_the_platform_and_relays_events(
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

        report_reaches_the_micro_grid_leader_and_the_workload(infra, platform)
    assert all(not process.running for process in platform.processes)


def login(infra: LocalInfrastructure, username: str) -> str:
    token: str = infra.keycloak.password_grant(username, "shequ-demo")["access_token"]
    return token


def get(platform: RunningPlatform, path: str, token: str, **params: str) -> Any:
    response = httpx.get(
        f"{platform.gateway_url}/api/v1/tenants/{SHIBEI}{path}",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def report_reaches_the_micro_grid_leader_and_the_workload(
    infra: LocalInfrastructure, platform: RunningPlatform
) -> None:
    """The seeded demo as a user meets it: a resident reports at a building of micro-grid 1 of
    grid 1, the case lands with shibei-grid (who leads it), and grid's workload counts it."""
    staff = login(infra, "shibei-staff")
    grids = get(platform, "/grids", staff)["items"]
    first_grid = next(g for g in grids if g["number"] == 1)
    micro_grids = get(platform, f"/grids/{first_grid['id']}", staff)["micro_grids"]
    micro_grid = next(m for m in micro_grids if m["number"] == 1)
    covered = get(
        platform, f"/grids/{first_grid['id']}/buildings", staff, micro_grid_id=micro_grid["id"]
    )["items"]
    assert covered, "the demo layout leaves micro-grid 1 of grid 1 without buildings"

    def open_cases() -> int:
        parts = get(platform, "/stats/grids", staff)["parts"]
        count: int = next(p for p in parts if p["scope_id"] == micro_grid["id"])["open_cases"]
        return count

    before = open_cases()
    created = httpx.post(
        f"{platform.gateway_url}/api/v1/tenants/{SHIBEI}/cases",
        headers={"Authorization": f"Bearer {login(infra, 'shibei-resident')}"},
        json={
            "category_code": STAIRWELL_CLUTTER,
            "title": "楼道堆放纸箱",
            "place": {"building_id": covered[0]["building_id"]},
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    case = created.json()
    leader_subject = claims_of(login(infra, "shibei-grid"))["sub"]
    assert (case["state"], case["assignee"], case["micro_grid_id"]) == (
        "dispatched",
        leader_subject,
        micro_grid["id"],
    )

    # Case events → Kafka → grid's consumer → the workload, within seconds.
    deadline = time.monotonic() + 10
    while open_cases() != before + 1:
        assert time.monotonic() < deadline, "the workload did not count the new case"
        time.sleep(0.2)
