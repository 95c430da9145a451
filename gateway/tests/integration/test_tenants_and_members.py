"""The gateway's public door against real Keycloak tokens, PostgreSQL and Kafka."""

import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer

from gateway.app import GatewayCore, create_app
from shequ.gateway.v1 import events_pb2
from shequ_infra import LocalInfrastructure
from shequ_infra.forged_tokens import claims_of, unsigned, with_tampered_claims
from shequ_kit.relay import OutboxRelay
from shequ_kit.tokens import TokenVerifier

Login = Callable[..., str]
PASSWORD = "shequ-demo"
HUSHAN = "xiaoshan.shushan.hushan"
XIANGYUAN = "xiaoshan.shushan.xiangyuan"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tree_ids(nodes: list[dict[str, object]]) -> set[str]:
    found: set[str] = set()
    for node in nodes:
        found.add(str(node["id"]))
        found |= tree_ids(node["children"])  # type: ignore[arg-type]
    return found


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["detail"]
    assert body["title"]
    assert body["request_id"]
    if code is not None:
        assert body["code"] == code
    return dict(body)


def test_me_shows_the_grants_of_the_token(client: TestClient, token_of: Login) -> None:
    response = client.get("/api/v1/me", headers=auth(token_of("hushan-pii")))
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "hushan-pii"
    assert {(g["tenant"], g["role"]) for g in body["grants"]} == {
        (HUSHAN, "community-staff"),
        (HUSHAN, "pii-reader"),
    }


def hostile_token(kind: str, infra: LocalInfrastructure, token_of: Login) -> str | None:
    real = token_of("hushan-staff")
    makers: dict[str, Callable[[], str | None]] = {
        "missing": lambda: None,
        "garbage": lambda: "not-a-jwt",
        "tampered": lambda: with_tampered_claims(real, groups=["/platform-admin"]),
        "alg-none": lambda: unsigned(real),
        "foreign-realm": infra.keycloak.master_admin_token,
        "other-issuer": lambda: infra.keycloak.token_from_other_issuer("hushan-staff", PASSWORD),
        "no-audience": lambda: infra.keycloak.token_without_audience("hushan-staff", PASSWORD),
    }
    return makers[kind]()


@pytest.mark.parametrize(
    "kind",
    ["missing", "garbage", "tampered", "alg-none", "foreign-realm", "other-issuer", "no-audience"],
)
def test_requests_without_a_valid_token_get_a_401_problem(
    client: TestClient, token_of: Login, infra: LocalInfrastructure, kind: str
) -> None:
    token = hostile_token(kind, infra, token_of)
    response = client.get("/api/v1/tenants", headers=auth(token) if token else {})
    assert_problem(response, 401, "auth.unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_an_expired_token_gets_a_401_problem(core: GatewayCore, token_of: Login) -> None:
    token = token_of("hushan-staff")
    expires_at = float(claims_of(token)["exp"])
    late = TokenVerifier(
        issuer=core.settings.issuer, audience="shequ", clock=lambda: expires_at + 3600
    )
    late_client = TestClient(create_app(replace(core, verifier=late)))
    response = late_client.get("/api/v1/me", headers=auth(token))
    problem = assert_problem(response, 401, "auth.unauthenticated")
    assert "expired" in problem["detail_en"]


def test_community_staff_see_only_their_community(client: TestClient, token_of: Login) -> None:
    response = client.get("/api/v1/tenants", headers=auth(token_of("hushan-staff")))
    assert response.status_code == 200
    assert tree_ids(response.json()["roots"]) == {HUSHAN}


def test_a_street_admin_sees_the_street_and_its_communities_only(
    client: TestClient, token_of: Login
) -> None:
    roots = client.get("/api/v1/tenants", headers=auth(token_of("shushan-admin"))).json()["roots"]
    assert [r["id"] for r in roots] == ["xiaoshan.shushan"]
    ids = tree_ids(roots)
    assert {HUSHAN, XIANGYUAN, "xiaoshan.shushan.junle"} <= ids
    assert "xiaoshan.beigan.shibei" not in ids
    statuses = {c["id"]: c["status"] for c in roots[0]["children"]}
    assert statuses[HUSHAN] == "active"


def test_hushan_staff_cannot_read_xiangyuan(client: TestClient, token_of: Login) -> None:
    headers = auth(token_of("hushan-staff"))
    assert_problem(client.get(f"/api/v1/tenants/{XIANGYUAN}", headers=headers), 403)
    assert_problem(client.get(f"/api/v1/tenants/{XIANGYUAN}/members", headers=headers), 403)
    # An unknown tenant answers the same as a foreign one: no probing.
    assert_problem(client.get("/api/v1/tenants/xiaoshan.nowhere", headers=headers), 403)


def test_hushan_staff_cannot_onboard_a_community(client: TestClient, token_of: Login) -> None:
    response = client.post(
        "/api/v1/tenants",
        headers=auth(token_of("hushan-staff")),
        json={"id": "xiaoshan.shushan.chenxing", "name_zh": "晨星社区", "name_en": "Chenxing"},
    )
    assert_problem(response, 403, "auth.permission_denied")


def test_a_street_admin_cannot_onboard_under_another_street(
    client: TestClient, token_of: Login
) -> None:
    response = client.post(
        "/api/v1/tenants",
        headers=auth(token_of("shushan-admin")),
        json={"id": "xiaoshan.beigan.xinbei", "name_zh": "新北社区", "name_en": "Xinbei"},
    )
    assert_problem(response, 403)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "Xiaoshan..Bad", "name_zh": "坏", "name_en": "Bad"}, "id"),
        ({"id": "xiaoshan.shushan.ok", "name_zh": "", "name_en": "Ok"}, "body.name_zh"),
        (
            {
                "id": "xiaoshan.shushan.ok",
                "name_zh": "好",
                "name_en": "Ok",
                "division_code": "33010",
            },
            "body.division_code",
        ),
        ({"id": "xiaoshan.shushan.hushan.sub", "name_zh": "子", "name_en": "Sub"}, "id"),
    ],
)
def test_invalid_onboarding_input_is_a_problem_naming_the_field(
    client: TestClient, token_of: Login, body: dict[str, str], field: str
) -> None:
    response = client.post("/api/v1/tenants", headers=auth(token_of("shushan-admin")), json=body)
    problem = assert_problem(response, 422)
    assert field in {e["field"] for e in problem["errors"]}


def test_malformed_json_is_a_400_problem(client: TestClient, token_of: Login) -> None:
    response = client.post(
        "/api/v1/tenants",
        headers={**auth(token_of("shushan-admin")), "content-type": "application/json"},
        content=b'{"id": "xiaoshan.shushan.',
    )
    assert_problem(response, 400, "request.malformed_json")


def test_street_admin_onboards_a_community_whose_new_staff_see_only_it(
    client: TestClient, token_of: Login, infra: LocalInfrastructure, core: GatewayCore
) -> None:
    admin = auth(token_of("shushan-admin"))
    onboard = {"id": "xiaoshan.shushan.junle", "name_zh": "郡乐社区", "name_en": "Junle"}

    first = client.post("/api/v1/tenants", headers=admin, json=onboard)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "active"
    assert first.headers["location"] == "/api/v1/tenants/xiaoshan.shushan.junle"
    again = client.post("/api/v1/tenants", headers=admin, json=onboard)
    assert again.status_code == 200
    assert again.json()["onboarded_at"] == first.json()["onboarded_at"]

    username = f"junle-staff-{uuid.uuid4().hex[:6]}"
    created = client.post(
        "/api/v1/tenants/xiaoshan.shushan.junle/members",
        headers=admin,
        json={
            "username": username,
            "display_name": "王晓",
            "role": "community-staff",
            "initial_password": "Junle-2026-start",
            "temporary_password": False,
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["roles"] == ["community-staff"]

    staff = infra.keycloak.password_grant(username, "Junle-2026-start")["access_token"]
    seen = client.get("/api/v1/tenants", headers=auth(staff)).json()["roots"]
    assert tree_ids(seen) == {"xiaoshan.shushan.junle"}
    assert_problem(client.get(f"/api/v1/tenants/{HUSHAN}", headers=auth(staff)), 403)


def test_onboarding_a_brand_new_community_creates_its_groups(
    client: TestClient, token_of: Login, infra: LocalInfrastructure
) -> None:
    slug = f"new-{uuid.uuid4().hex[:6]}"
    response = client.post(
        "/api/v1/tenants",
        headers=auth(token_of("shushan-admin")),
        json={"id": f"xiaoshan.shushan.{slug}", "name_zh": "新社区", "name_en": "New"},
    )
    assert response.status_code == 201, response.text
    admin_token = infra.keycloak.master_admin_token()
    group = httpx.get(
        f"{infra.keycloak.url}/admin/realms/shequ/group-by-path/xiaoshan/shushan/{slug}/resident",
        headers=auth(admin_token),
        timeout=30,
    )
    assert group.status_code == 200


def test_community_staff_add_grid_workers_but_not_staff_or_pii_readers(
    client: TestClient, token_of: Login
) -> None:
    staff = auth(token_of("hushan-staff"))
    url = f"/api/v1/tenants/{HUSHAN}/members"
    name = f"hushan-grid-{uuid.uuid4().hex[:6]}"
    worker = {
        "username": name,
        "display_name": "李网格",
        "role": "grid-worker",
        "initial_password": "Grid-worker-2026",
    }
    assert client.post(url, headers=staff, json=worker).status_code == 201
    assert_problem(
        client.post(
            url, headers=staff, json={**worker, "username": name + "x", "role": "community-staff"}
        ),
        403,
    )
    assert_problem(
        client.post(
            url, headers=staff, json={**worker, "username": name + "y", "pii_reader": True}
        ),
        403,
    )
    duplicate = client.post(url, headers=auth(token_of("shushan-admin")), json=worker)
    assert_problem(duplicate, 409, "gateway.member_exists")


def test_members_are_listed_with_their_roles(client: TestClient, token_of: Login) -> None:
    response = client.get(
        f"/api/v1/tenants/{HUSHAN}/members", headers=auth(token_of("hushan-staff"))
    )
    assert response.status_code == 200
    roles = {m["username"]: set(m["roles"]) for m in response.json()["items"]}
    assert roles["hushan-pii"] == {"community-staff", "pii-reader"}
    assert roles["hushan-resident"] == {"resident"}
    assert "xiangyuan-staff" not in roles


def test_residents_cannot_list_members(client: TestClient, token_of: Login) -> None:
    response = client.get(
        f"/api/v1/tenants/{HUSHAN}/members", headers=auth(token_of("hushan-resident"))
    )
    assert_problem(response, 403)


def test_a_disabled_member_can_no_longer_log_in(
    client: TestClient, token_of: Login, infra: LocalInfrastructure
) -> None:
    admin = auth(token_of("shushan-admin"))
    name = f"xiangyuan-res-{uuid.uuid4().hex[:6]}"
    member = client.post(
        f"/api/v1/tenants/{XIANGYUAN}/members",
        headers=admin,
        json={
            "username": name,
            "display_name": "张居民",
            "role": "resident",
            "initial_password": "Resident-2026-pw",
            "temporary_password": False,
        },
    ).json()
    infra.keycloak.password_grant(name, "Resident-2026-pw")

    disabled = client.post(
        f"/api/v1/tenants/{XIANGYUAN}/members/{member['id']}/disable", headers=admin
    )
    assert disabled.status_code == 200
    assert disabled.json()["enabled"] is False
    with pytest.raises(httpx.HTTPStatusError):
        infra.keycloak.password_grant(name, "Resident-2026-pw")
    # Hushan's staff cannot disable a Xiangyuan member.
    assert_problem(
        client.post(
            f"/api/v1/tenants/{XIANGYUAN}/members/{member['id']}/disable",
            headers=auth(token_of("hushan-staff")),
        ),
        403,
    )


def test_members_of_a_preparing_community_cannot_be_created_yet(
    client: TestClient, token_of: Login
) -> None:
    response = client.post(
        "/api/v1/tenants/xiaoshan.shushan.pinwen/members",
        headers=auth(token_of("shushan-admin")),
        json={
            "username": "pinwen-early",
            "display_name": "早",
            "role": "community-staff",
            "initial_password": "Pinwen-2026-early",
        },
    )
    assert_problem(response, 409, "tenant.not_active")


def test_readiness_checks_keycloak_database_and_kafka(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"keycloak_jwks": "ok", "database": "ok", "kafka": "ok"}
    assert client.get("/healthz").json() == {"status": "ok"}


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    assert len(client.get("/healthz").headers["x-request-id"]) == 32
    problem = client.get("/api/v1/me", headers={"X-Request-ID": "trace-9"}).json()
    assert problem["request_id"] == "trace-9"


def test_unknown_routes_are_problems_too(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/nothing-here"), 404)


def onboarded_events(infra: LocalInfrastructure, topic: str) -> list[events_pb2.TenantOnboarded]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=infra.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"test-{uuid.uuid4().hex}",
        consumer_timeout_ms=5_000,
    )
    found = []
    for record in consumer:
        headers = dict(record.headers)
        assert headers["ce_type"] == b"shequ.gateway.v1.TenantOnboarded"
        event = events_pb2.TenantOnboarded.FromString(record.value)
        assert record.key == f"{event.tenant.tenant_id}/{event.tenant.tenant_id}".encode()
        assert headers["ce_tenant"] == event.tenant.tenant_id.encode()
        found.append(event)
    consumer.close()
    return found


def test_onboarding_publishes_one_tenant_onboarded_event(
    client: TestClient, token_of: Login, infra: LocalInfrastructure, core: GatewayCore
) -> None:
    slug = f"evt-{uuid.uuid4().hex[:6]}"
    body = {
        "id": f"xiaoshan.shushan.{slug}",
        "name_zh": "事件社区",
        "name_en": "Events",
        "division_code": "330109001099",
        "division_code_year": 2023,
    }
    admin = auth(token_of("shushan-admin"))
    assert client.post("/api/v1/tenants", headers=admin, json=body).status_code == 201
    assert client.post("/api/v1/tenants", headers=admin, json=body).status_code == 200

    with OutboxRelay(
        core.engine, service="gateway", bootstrap_servers=infra.kafka.bootstrap_servers
    ) as relay:
        relay.run_once()

    events = [
        e
        for e in onboarded_events(infra, core.settings.events_topic)
        if e.tenant.tenant_id == body["id"]
    ]
    assert len(events) == 1
    assert events[0].parent.tenant_id == "xiaoshan.shushan"
    assert events[0].kind == events_pb2.TENANT_KIND_COMMUNITY
    assert events[0].name_zh == "事件社区"
    assert events[0].division_code == "330109001099"


def test_seeded_active_communities_were_announced_so_services_can_seed_defaults(
    infra: LocalInfrastructure, core: GatewayCore
) -> None:
    with OutboxRelay(
        core.engine, service="gateway", bootstrap_servers=infra.kafka.bootstrap_servers
    ) as relay:
        relay.run_once()
    announced = {e.tenant.tenant_id for e in onboarded_events(infra, core.settings.events_topic)}
    assert {HUSHAN, XIANGYUAN, "xiaoshan.beigan.shibei"} <= announced
    assert "xiaoshan.shushan.pinwen" not in announced  # still preparing
