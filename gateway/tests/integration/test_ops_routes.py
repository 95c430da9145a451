"""/api/v1/ops/… through the gateway against real census, grid and cases servers (the cases
stack of conftest: census relay and grid's consumer running), PostgreSQL, Kafka and Keycloak.

Notify is pointed at a port nobody listens on: the overview must still answer, with notify's
entry saying why it could not.
"""

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition

from gateway.app import GatewayCore, create_app, prepare_core
from gateway.config import GatewaySettings
from gateway.tests.integration.conftest import CasesServices
from shequ_infra import LocalInfrastructure
from shequ_infra.forged_tokens import claims_of, with_tampered_claims
from shequ_infra.processes import free_port
from shequ_infra.rest_checks import assert_problem, auth, fields_of, tenant_url
from shequ_kit.tokens import TokenVerifier

CASES_DATABASE = "gateway_ops"
HUSHAN = "xiaoshan.shushan.hushan"
SHUSHAN = "xiaoshan.shushan"
SHIBEI = "xiaoshan.beigan.shibei"
WAIT_S = 60.0

Headers = dict[str, str]
Login = Callable[..., str]

OPS_ROUTES = [
    ("get", "/api/v1/ops/outbox", None),
    ("post", "/api/v1/ops/outbox/replay", {"service": "census", "since": "2026-01-01T00:00"}),
    ("get", "/api/v1/ops/consumers", None),
    ("post", "/api/v1/ops/projections/grid/census/rebuild", {}),
]


@pytest.fixture(scope="module")
def ops_gateway(
    gateway_settings: GatewaySettings, core: GatewayCore, cases_service: CasesServices
) -> Iterator[GatewayCore]:
    settings = gateway_settings.model_copy(
        update={
            "census_target": cases_service.census_target,
            "grid_target": cases_service.grid_target,
            "cases_target": cases_service.cases_target,
            "notify_target": f"127.0.0.1:{free_port()}",  # nobody listens
        }
    )
    with prepare_core(settings) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def api(ops_gateway: GatewayCore) -> TestClient:
    return TestClient(create_app(ops_gateway), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def platform(token_of: Login) -> Headers:
    return auth(token_of("platform"))


@pytest.fixture(scope="module")
def street_admin(token_of: Login) -> Headers:
    return auth(token_of("shushan-admin"))


@pytest.fixture(scope="module")
def staff(token_of: Login) -> Headers:
    return auth(token_of("hushan-staff"))


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def by_service(overview: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["service"]: entry for entry in overview["services"]}


@pytest.fixture(scope="module")
def hushan_building(api: TestClient, staff: Headers) -> dict[str, Any]:
    """A complex and a building Hushan's staff put into the census; the census relay sends
    their facts and grid's consumer projects them."""
    complex_ = ok(
        api.post(tenant_url(HUSHAN, "/complexes"), headers=staff, json={"name": "运维苑"}), 201
    )
    building = ok(
        api.post(
            tenant_url(HUSHAN, "/buildings"),
            headers=staff,
            json={"complex_id": complex_["id"], "number": "9幢", "floors": 5},
        ),
        201,
    )
    return {"complex": complex_, "building": building}


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def census_outbox(api: TestClient, headers: Headers, **query: str) -> dict[str, Any]:
    return by_service(ok(api.get("/api/v1/ops/outbox", headers=headers, params=query)))["census"]


def census_event_ids(infra: LocalInfrastructure, topic: str) -> list[str]:
    reader = KafkaConsumer(bootstrap_servers=infra.kafka.bootstrap_servers)
    try:
        partitions = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic) or ()]
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


# ---- what an operator sees ----


def test_platform_admin_sees_every_outbox_and_why_one_is_missing(
    api: TestClient,
    platform: Headers,
    cases_service: CasesServices,
    hushan_building: dict[str, Any],
) -> None:
    wait_for(
        lambda: census_outbox(api, platform)["pending"] == 0,
        "the census relay never sent the new building's facts",
    )
    services = by_service(ok(api.get("/api/v1/ops/outbox", headers=platform)))
    assert set(services) == {"gateway", "census", "grid", "cases", "notify"}
    census = services["census"]
    assert census["error"] is None
    assert census["published_last_hour"] >= 1  # the building's BuildingCreated
    assert {t["topic"] for t in census["topics"]} == {cases_service.census.settings.events_topic}
    assert services["notify"]["error"]["code"] == "UNAVAILABLE"
    assert services["notify"]["topics"] == []
    # Publications of another street's tenants are not counted under Shushan.
    assert census_outbox(api, platform, tenant=SHIBEI)["published_last_hour"] == 0


def test_replayed_census_events_reach_kafka_again(
    api: TestClient,
    platform: Headers,
    infra: LocalInfrastructure,
    cases_service: CasesServices,
    hushan_building: dict[str, Any],
) -> None:
    topic = cases_service.census.settings.events_topic
    since = datetime.now(UTC) - timedelta(minutes=10)
    wait_for(lambda: census_outbox(api, platform)["pending"] == 0, "census outbox never drained")
    before = census_event_ids(infra, topic)
    assert before, "the building's facts should be on the census topic"
    reply = ok(
        api.post(
            "/api/v1/ops/outbox/replay",
            headers=platform,
            json={"service": "census", "since": since.isoformat(), "tenant": HUSHAN},
        )
    )
    assert reply["service"] == "census"
    assert reply["replayed"] == len(before)  # every Hushan event of the range, no other
    wait_for(
        lambda: len(census_event_ids(infra, topic)) == 2 * len(before),
        "the replayed events never reached Kafka",
    )
    after = census_event_ids(infra, topic)
    assert sorted(after) == sorted(before * 2)
    # A range in the future replays nothing.
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (
        ok(
            api.post(
                "/api/v1/ops/outbox/replay",
                headers=platform,
                json={"service": "census", "since": later},
            )
        )["replayed"]
        == 0
    )


def test_consumer_lag_shows_grids_group_caught_up(
    api: TestClient,
    platform: Headers,
    cases_service: CasesServices,
    hushan_building: dict[str, Any],
) -> None:
    census_topic = cases_service.census.settings.events_topic

    def grid_group() -> dict[str, Any]:
        services = by_service(ok(api.get("/api/v1/ops/consumers", headers=platform)))
        assert services["notify"]["error"]["code"] == "UNAVAILABLE"
        assert services["census"]["groups"] == []
        [group] = services["grid"]["groups"]
        return dict(group)

    wait_for(
        lambda: (
            (g := grid_group())["processed_events"] >= 1
            and all(p["lag"] == 0 for p in g["partitions"] if p["topic"] == census_topic)
        ),
        "grid's consumer never caught up with the census topic",
    )
    group = grid_group()
    assert census_topic in group["topics"]
    census_partitions = [p for p in group["partitions"] if p["topic"] == census_topic]
    assert census_partitions
    for partition in census_partitions:
        if partition["end_offset"] > 0:
            assert partition["committed_offset"] == partition["end_offset"]


def test_rebuilding_grids_census_projection_finds_the_building(
    api: TestClient, platform: Headers, staff: Headers, hushan_building: dict[str, Any]
) -> None:
    rebuilt = ok(
        api.post(
            "/api/v1/ops/projections/grid/census/rebuild",
            headers=platform,
            json={"tenant": HUSHAN},
        )
    )
    assert rebuilt["tenant_ids"] == [HUSHAN]
    assert rebuilt["rows"] >= 1
    uncovered = ok(api.get(tenant_url(HUSHAN, "/coverage/uncovered?page_size=500"), headers=staff))
    assert hushan_building["building"]["id"] in {b["building_id"] for b in uncovered["items"]}


def test_unknown_projection_is_404_naming_the_known_ones(
    api: TestClient, platform: Headers
) -> None:
    problem = assert_problem(
        api.post("/api/v1/ops/projections/grid/workload/rebuild", headers=platform, json={}),
        404,
        "ops.unknown_projection",
    )
    assert "census" in problem["detail_en"]
    assert_problem(
        api.post("/api/v1/ops/projections/census/residents/rebuild", headers=platform), 404
    )


# ---- who may ----


def test_street_admin_operates_their_own_street_only(
    api: TestClient, street_admin: Headers
) -> None:
    mine = ok(api.get("/api/v1/ops/outbox", headers=street_admin, params={"tenant": HUSHAN}))
    assert by_service(mine)["census"]["error"] is None
    for params in ({}, {"tenant": SHIBEI}):
        assert_problem(
            api.get("/api/v1/ops/outbox", headers=street_admin, params=params),
            403,
            "auth.permission_denied",
        )
    assert_problem(api.get("/api/v1/ops/consumers", headers=street_admin), 403)
    assert_problem(
        api.post(
            "/api/v1/ops/outbox/replay",
            headers=street_admin,
            json={"service": "cases", "since": "2026-01-01T00:00", "tenant": SHIBEI},
        ),
        403,
    )


@pytest.mark.parametrize(("method", "path", "body"), OPS_ROUTES)
def test_community_staff_get_403_on_every_ops_route(
    api: TestClient, staff: Headers, method: str, path: str, body: dict[str, Any] | None
) -> None:
    assert_problem(
        api.request(method, path, headers=staff, json=body), 403, "auth.permission_denied"
    )


@pytest.fixture(scope="module")
def late_api(ops_gateway: GatewayCore, token_of: Login) -> TestClient:
    """The gateway an hour after the platform administrator's token expired."""
    expires_at = float(claims_of(token_of("platform"))["exp"])
    late = TokenVerifier(
        issuer=ops_gateway.settings.issuer, audience="shequ", clock=lambda: expires_at + 3600
    )
    return TestClient(
        create_app(replace(ops_gateway, verifier=late)), raise_server_exceptions=False
    )


@pytest.mark.parametrize("kind", ["missing", "forged", "expired"])
@pytest.mark.parametrize(("method", "path", "body"), OPS_ROUTES)
def test_every_ops_route_needs_a_valid_token(
    api: TestClient,
    late_api: TestClient,
    token_of: Login,
    kind: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    staff_token = token_of("hushan-staff")
    client, headers = {
        "missing": (api, {}),
        "forged": (api, auth(with_tampered_claims(staff_token, groups=["/platform-admin"]))),
        "expired": (late_api, auth(token_of("platform"))),
    }[kind]
    response = client.request(method, path, headers=headers, json=body)
    assert_problem(response, 401, "auth.unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")


# ---- bad input: 422 naming the field, never a 500 ----


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"service": "census"}, "body.since"),
        ({"service": "ledger", "since": "2026-01-01T00:00"}, "body.service"),
        ({"service": "census", "since": "yesterday"}, "body.since"),
        (
            {"service": "census", "since": "2026-01-01T00:00", "tenant": "Not/A/Tenant"},
            "body.tenant",
        ),
        ({"service": "census", "since": "2026-02-01T00:00", "until": "2026-01-01T00:00"}, "until"),
        ({"service": "gateway", "since": "2026-02-01T00:00", "until": "2026-01-01T00:00"}, "until"),
    ],
)
def test_bad_replay_requests_name_the_field(
    api: TestClient, platform: Headers, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(
        api.post("/api/v1/ops/outbox/replay", headers=platform, json=body), 422
    )
    assert field in fields_of(problem)


def test_bad_tenant_query_and_unknown_service_are_422(api: TestClient, platform: Headers) -> None:
    problem = assert_problem(
        api.get("/api/v1/ops/outbox", headers=platform, params={"tenant": "UPPER"}), 422
    )
    assert fields_of(problem) == {"query.tenant"}
    problem = assert_problem(
        api.post("/api/v1/ops/projections/ledger/census/rebuild", headers=platform), 422
    )
    assert "path.service" in fields_of(problem)


def test_the_gateways_own_outbox_replays_locally(api: TestClient, platform: Headers) -> None:
    # The session's seed onboarded the demo communities: TenantOnboarded rows in the gateway's
    # outbox. Nothing relays them here, so a replay finds only rows that were sent.
    reply = ok(
        api.post(
            "/api/v1/ops/outbox/replay",
            headers=platform,
            json={
                "service": "gateway",
                "since": "2000-01-01T00:00",
                "aggregate_id": str(uuid.uuid4()),
            },
        )
    )
    assert reply == {"service": "gateway", "replayed": 0}
