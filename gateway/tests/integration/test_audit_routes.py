"""/api/v1/tenants/{tenant}/audit through the gateway against real census, grid, cases and
notify servers, PostgreSQL, Kafka and Keycloak: a street administrator sees the administrative
actions of their communities — the gateway's own (onboarding, member accounts) merged with the
census's (an import, a reveal) — newest first and paginated; nobody else does."""

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from census.imports.template import COLUMNS
from gateway.app import GatewayCore, create_app, prepare_core
from gateway.config import GatewaySettings
from gateway.tests.integration.conftest import NotifyServices
from shequ_infra.forged_tokens import claims_of, unsigned, with_tampered_claims
from shequ_infra.processes import free_port
from shequ_infra.rest_checks import assert_problem, auth, tenant_url
from shequ_kit.tokens import TokenVerifier

CASES_DATABASE = "gateway_audit"
SHUSHAN = "xiaoshan.shushan"
HUSHAN = "xiaoshan.shushan.hushan"
BEIGAN = "xiaoshan.beigan"
REASON = "核实独居老人紧急联系人"

Headers = dict[str, str]
Login = Callable[..., str]


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def with_request_id(headers: Headers, request_id: str) -> Headers:
    return {**headers, "X-Request-ID": request_id}


@pytest.fixture(scope="module")
def api(notify_api: TestClient) -> TestClient:
    """The gateway of conftest's full stack: every service answers its part of the log."""
    return notify_api


@pytest.fixture(scope="module")
def street_admin(token_of: Login) -> Headers:
    return auth(token_of("shushan-admin"))


@pytest.fixture(scope="module")
def platform(token_of: Login) -> Headers:
    return auth(token_of("platform"))


def chinese(suffix: str) -> str:
    """The hex suffix in characters: a name has no digits or Latin letters."""
    return "".join("甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳"[int(digit, 16)] for digit in suffix)


def import_file(name: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([column.header_zh for column in COLUMNS])
    writer.writerow(
        [
            name,
            "330110198001016014",
            "13900003333",
            "户主",
            "户籍",
            "自有",
            f"{name}苑",
            "1幢",
            "1单元",
            "101",
            "2020-05-01",
            "",
            "",
            "2026-11-01",
        ]
    )
    return buffer.getvalue().encode("utf-8-sig")


@pytest.fixture(scope="module")
def actions(
    api: TestClient, street_admin: Headers, token_of: Login, notify_service: NotifyServices
) -> dict[str, str]:
    """Administrative actions of every kind the gateway and the census record, each with a
    request id of its own: action → request id."""
    suffix = uuid.uuid4().hex[:6]
    name = f"审计{chinese(suffix)}"
    staff, pii = auth(token_of("hushan-staff")), auth(token_of("hushan-pii"))
    ids = {name: f"audit-{name}-{suffix}" for name in ("onboard", "member", "disable", "import")}
    ids["reveal"] = f"audit-reveal-{suffix}"
    ok(
        api.post(
            "/api/v1/tenants",
            headers=with_request_id(street_admin, ids["onboard"]),
            json={"id": f"{SHUSHAN}.audit{suffix}", "name_zh": "审计社区", "name_en": "Audit"},
        ),
        201,
    )
    member = ok(
        api.post(
            tenant_url(HUSHAN, "/members"),
            headers=with_request_id(street_admin, ids["member"]),
            json={
                "username": f"audit-{suffix}",
                "display_name": "审计员",
                "role": "grid-worker",
                "initial_password": "Audit-2026-password",
            },
        ),
        201,
    )
    ok(
        api.post(
            tenant_url(HUSHAN, f"/members/{member['id']}/disable"),
            headers=with_request_id(street_admin, ids["disable"]),
        )
    )
    report = ok(
        api.post(
            tenant_url(HUSHAN, "/imports"),
            headers=with_request_id(staff, ids["import"]),
            files={"file": ("审计.csv", import_file(name), "text/csv")},
        )
    )
    assert report["rows_imported"] == 1, report
    [resident] = ok(
        api.get(tenant_url(HUSHAN, "/residents"), headers=staff, params={"name": name})
    )["items"]
    ok(
        api.post(
            tenant_url(HUSHAN, f"/residents/{resident['id']}/reveal"),
            headers=with_request_id(pii, ids["reveal"]),
            json={"reason": REASON},
        )
    )
    return ids


def every_page(api: TestClient, headers: Headers, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every entry, following next_page_token page by page."""
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        page = ok(api.get(path, headers=headers, params={**params, "page_token": token}))
        items += page["items"]
        token = page["next_page_token"]
        if not token:
            return items


def in_subtree(tenant_id: str | None, root: str) -> bool:
    return tenant_id is not None and (tenant_id == root or tenant_id.startswith(f"{root}."))


def by_request(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["request_id"]: item for item in items if item["request_id"]}


def test_a_street_admin_sees_the_gateways_and_the_censuss_entries_merged_newest_first(
    api: TestClient, street_admin: Headers, actions: dict[str, str]
) -> None:
    page = ok(
        api.get(tenant_url(SHUSHAN, "/audit"), headers=street_admin, params={"page_size": 500})
    )
    mine = by_request(page["items"])
    expected = {
        "onboard": ("gateway", "tenant.onboarded", "shushan-admin"),
        "member": ("gateway", "member.created", "shushan-admin"),
        "disable": ("gateway", "member.disabled", "shushan-admin"),
        "import": ("census", "import.committed", "hushan-staff"),
        "reveal": ("census", "pii.revealed", "hushan-pii"),
    }
    for name, (service, action, actor) in expected.items():
        entry = mine[actions[name]]
        assert (entry["service"], entry["action"], entry["actor_name"]) == (service, action, actor)
        assert entry["summary"]
        assert entry["summary_en"]
    assert mine[actions["member"]]["detail"]["roles"] == ["grid-worker"]
    assert mine[actions["reveal"]]["detail"] == {"reason": REASON}
    assert mine[actions["import"]]["detail"]["rows_imported"] == 1
    # The resident's name, ID number and phone stay out of the log.
    revealed = str(mine[actions["reveal"]])
    assert "13900003333" not in revealed
    assert "330110198001016014" not in revealed
    # Times in Asia/Shanghai, newest first across the sources.
    stamps = [datetime.fromisoformat(item["occurred_at"]) for item in page["items"]]
    assert all(stamp.utcoffset() == timedelta(hours=8) for stamp in stamps)
    assert stamps == sorted(stamps, reverse=True)
    assert all(in_subtree(item["tenant_id"], SHUSHAN) for item in page["items"])


def test_a_refused_account_or_onboarding_writes_no_entry(
    api: TestClient, street_admin: Headers, token_of: Login, actions: dict[str, str]
) -> None:
    suffix = uuid.uuid4().hex[:6]
    refused = {"role": f"audit-refused-role-{suffix}", "rights": f"audit-refused-rights-{suffix}"}
    assert_problem(
        api.post(
            tenant_url(HUSHAN, "/members"),
            headers=with_request_id(street_admin, refused["role"]),
            json={
                "username": f"audit-x-{suffix}",
                "display_name": "不存在",
                "role": "street-admin",  # not a role a community has
                "initial_password": "Audit-2026-password",
            },
        ),
        422,
        "member.role_not_available",
    )
    assert_problem(
        api.post(
            "/api/v1/tenants",
            headers=with_request_id(auth(token_of("beigan-admin")), refused["rights"]),
            json={"id": f"{SHUSHAN}.refused{suffix}", "name_zh": "越权社区", "name_en": "No"},
        ),
        403,
    )
    logged = ok(
        api.get(tenant_url(SHUSHAN, "/audit"), headers=street_admin, params={"page_size": 500})
    )
    assert not set(refused.values()) & set(by_request(logged["items"]))


def test_pages_of_the_merged_log_follow_each_other_without_gaps_or_repeats(
    api: TestClient, street_admin: Headers, actions: dict[str, str]
) -> None:
    path = tenant_url(SHUSHAN, "/audit")
    whole = ok(api.get(path, headers=street_admin, params={"page_size": 500}))["items"]
    paged = every_page(api, street_admin, path, page_size=2)
    assert [item["id"] for item in paged] == [item["id"] for item in whole]
    assert len(whole) >= len(actions)


def test_filters_narrow_the_merged_log(
    api: TestClient, street_admin: Headers, actions: dict[str, str]
) -> None:
    path = tenant_url(SHUSHAN, "/audit")
    pii = ok(api.get(path, headers=street_admin, params={"action": "pii."}))["items"]
    assert actions["reveal"] in by_request(pii)
    assert {item["action"] for item in pii} == {"pii.revealed"}
    by_actor = ok(api.get(path, headers=street_admin, params={"actor": "hushan-staff"}))["items"]
    assert actions["import"] in by_request(by_actor)
    assert {item["actor_name"] for item in by_actor} == {"hushan-staff"}
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    later = ok(api.get(path, headers=street_admin, params={"since": future}))
    assert later == {"items": [], "next_page_token": ""}
    # A community's log holds its own entries: the new community's onboarding is not Hushan's.
    hushan = ok(api.get(tenant_url(HUSHAN, "/audit"), headers=street_admin))["items"]
    assert {item["tenant_id"] for item in hushan} == {HUSHAN}
    assert actions["onboard"] not in by_request(hushan)


def test_another_streets_admin_and_community_staff_are_refused(
    api: TestClient, token_of: Login, actions: dict[str, str]
) -> None:
    beigan = auth(token_of("beigan-admin"))
    for tenant in (SHUSHAN, HUSHAN):
        assert_problem(
            api.get(tenant_url(tenant, "/audit"), headers=beigan), 403, "auth.permission_denied"
        )
    own = every_page(api, beigan, tenant_url(BEIGAN, "/audit"), page_size=500)
    assert all(in_subtree(item["tenant_id"], BEIGAN) for item in own)
    assert not set(by_request(own)) & set(actions.values())
    for user in ("hushan-staff", "hushan-pii", "hushan-grid", "hushan-resident"):
        assert_problem(
            api.get(tenant_url(HUSHAN, "/audit"), headers=auth(token_of(user))),
            403,
            "auth.permission_denied",
        )


def test_platform_wide_actions_are_the_platform_administrators_only(
    api: TestClient, platform: Headers, street_admin: Headers
) -> None:
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    ok(
        api.post(
            "/api/v1/ops/outbox/replay",
            headers=with_request_id(platform, "audit-replay-everything"),
            json={"service": "gateway", "since": since},
        )
    )
    everything = ok(api.get("/api/v1/audit", headers=platform, params={"action": "ops."}))
    [replay] = [i for i in everything["items"] if i["request_id"] == "audit-replay-everything"]
    assert (replay["action"], replay["tenant_id"], replay["service"]) == (
        "ops.outbox_replayed",
        None,
        "gateway",
    )
    street = ok(api.get(tenant_url(SHUSHAN, "/audit"), headers=street_admin))["items"]
    assert "audit-replay-everything" not in by_request(street)
    assert_problem(api.get("/api/v1/audit", headers=street_admin), 403, "auth.permission_denied")


def test_bad_requests_are_problems(api: TestClient, platform: Headers) -> None:
    path = tenant_url(SHUSHAN, "/audit")
    assert_problem(
        api.get(tenant_url(f"{SHUSHAN}.nowhere", "/audit"), headers=platform),
        404,
        "tenant.not_found",
    )
    assert_problem(
        api.get(path, headers=platform, params={"page_token": "bm90LWEtY3Vyc29y"}),
        422,
        "paging.page_token",
    )
    assert_problem(
        api.get(path, headers=platform, params={"action": "pii%"}), 422, "audit.action_prefix"
    )
    now = datetime.now(UTC)
    assert_problem(
        api.get(
            path,
            headers=platform,
            params={"since": now.isoformat(), "until": (now - timedelta(days=1)).isoformat()},
        ),
        422,
        "audit.range",
    )


@pytest.fixture(scope="module")
def late_api(notify_gateway: GatewayCore, token_of: Login) -> TestClient:
    """The gateway an hour after the street administrator's token expired."""
    expires_at = float(claims_of(token_of("shushan-admin"))["exp"])
    late = TokenVerifier(
        issuer=notify_gateway.settings.issuer, audience="shequ", clock=lambda: expires_at + 3600
    )
    return TestClient(
        create_app(replace(notify_gateway, verifier=late)), raise_server_exceptions=False
    )


@pytest.mark.parametrize("kind", ["missing", "forged", "unsigned", "expired"])
def test_the_log_needs_a_valid_token(
    api: TestClient, late_api: TestClient, token_of: Login, kind: str
) -> None:
    staff = token_of("hushan-staff")
    client, headers = {
        "missing": (api, {}),
        "forged": (api, auth(with_tampered_claims(staff, groups=["/platform-admin"]))),
        "unsigned": (api, auth(unsigned(token_of("shushan-admin")))),
        "expired": (late_api, auth(token_of("shushan-admin"))),
    }[kind]
    response = client.get(tenant_url(SHUSHAN, "/audit"), headers=headers)
    assert_problem(response, 401, "auth.unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.fixture(scope="module")
def notify_down_api(
    gateway_settings: GatewaySettings, notify_service: NotifyServices
) -> Iterator[TestClient]:
    """The same stack, but the gateway's notify calls go where nobody listens."""
    stack = notify_service.stack
    settings = gateway_settings.model_copy(
        update={
            "census_target": stack.census_target,
            "grid_target": stack.grid_target,
            "cases_target": stack.cases_target,
            "notify_target": f"127.0.0.1:{free_port()}",
        }
    )
    with prepare_core(settings) as core:
        yield TestClient(create_app(core), raise_server_exceptions=False)


def test_a_service_that_cannot_answer_fails_the_page_rather_than_hide_its_entries(
    notify_down_api: TestClient, street_admin: Headers
) -> None:
    response = notify_down_api.get(tenant_url(SHUSHAN, "/audit"), headers=street_admin)
    assert_problem(response, 503)
    assert int(response.headers["retry-after"]) > 0
