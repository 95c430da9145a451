"""Notices and the inbox through the gateway, as Shibei's staff use them: real census, grid and
notify gRPC servers (with notify's dispatcher running), real tokens from Keycloak.

Shibei's staff put one household of four into the module's census — two elders (one with a
phone), two younger adults (one with a phone) — preview a fraud alert to the elders, schedule a
meeting notice and cancel it, edit templates, set quiet hours, register a group robot and a
resident's contacts, and send in-app notices to the resident's account and to the staff's shared
inbox, which the resident and the staff then read.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient

from census.identity.codes import id_check_character
from gateway.app import GatewayCore, create_app
from gateway.notify import views as notify_views
from shequ_infra.forged_tokens import claims_of, with_tampered_claims
from shequ_infra.rest_checks import (
    SOME_ID,
    assert_problem,
    auth,
    call_route,
    fields_of,
    served_routes,
)
from shequ_infra.rest_checks import tenant_url as url
from shequ_kit.tokens import TokenVerifier

Login = Callable[..., str]
Headers = dict[str, str]
SHIBEI = "xiaoshan.beigan.shibei"
HUSHAN = "xiaoshan.shushan.hushan"
BEIGAN = "xiaoshan.beigan"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOTIFY_ROUTES = [
    ("post", "/notices"),
    ("get", "/notices"),
    ("post", "/notices/preview"),
    ("get", "/notices/{notice_id}"),
    ("post", "/notices/{notice_id}/cancel"),
    ("get", "/notices/{notice_id}/deliveries"),
    ("post", "/notices/{notice_id}/resend"),
    ("get", "/notification-templates"),
    ("get", "/notification-templates/{code}"),
    ("put", "/notification-templates/{code}"),
    ("get", "/notification-settings"),
    ("put", "/notification-settings"),
    ("get", "/notification-robots"),
    ("post", "/notification-robots"),
    ("put", "/notification-robots/{robot_id}"),
    ("delete", "/notification-robots/{robot_id}"),
    ("get", "/notification-contacts/{resident_id}"),
    ("put", "/notification-contacts/{resident_id}"),
    ("get", "/stats/notices"),
]
INBOX_ROUTES = [("get", "/api/v1/inbox"), ("post", "/api/v1/inbox/read")]
FRAUD_ALERT = {"title": "警惕冒充客服退款诈骗", "content": "客服不会要求您转账，请勿点击陌生链接"}


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def eventually(check: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
    """``check()``'s first truthy answer, polled until ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def id_number(birth: str, sequence: str) -> str:
    first17 = f"330109{birth}{sequence}"
    return first17 + id_check_character(first17)


def subject_of(headers: Headers) -> str:
    return str(claims_of(headers["Authorization"].removeprefix("Bearer "))["sub"])


def tomorrow_at_ten() -> str:
    """Tomorrow 10:00 Beijing time, outside quiet hours, naive (the gateway reads Beijing)."""
    return (datetime.now(SHANGHAI) + timedelta(days=1)).strftime("%Y-%m-%dT10:00:00")


# ---- who is who ----


@pytest.fixture(scope="module")
def api(notify_api: TestClient) -> TestClient:
    return notify_api


@pytest.fixture(scope="module")
def staff(token_of: Login) -> Headers:
    return auth(token_of("shibei-staff"))


@pytest.fixture(scope="module")
def worker(token_of: Login) -> Headers:
    return auth(token_of("shibei-grid"))


@pytest.fixture(scope="module")
def resident(token_of: Login) -> Headers:
    return auth(token_of("shibei-resident"))


@pytest.fixture(scope="module")
def street(token_of: Login) -> Headers:
    return auth(token_of("beigan-admin"))


@pytest.fixture(scope="module")
def hushan_staff(token_of: Login) -> Headers:
    return auth(token_of("hushan-staff"))


# ---- Shibei's census: one household of four ----


@pytest.fixture(scope="module")
def household(api: TestClient, staff: Headers) -> dict[str, Any]:
    """Complex 晴川苑 → 1幢 → 1单元 → 301 → a household of two elders and two younger adults;
    the elder 王秀英 and the younger 张伟 have phones."""
    complex_ = ok(api.post(url(SHIBEI, "/complexes"), headers=staff, json={"name": "晴川苑"}), 201)
    building = ok(
        api.post(
            url(SHIBEI, "/buildings"),
            headers=staff,
            json={"complex_id": complex_["id"], "number": "1幢", "floors": 6},
        ),
        201,
    )
    unit = ok(
        api.post(
            url(SHIBEI, "/units"),
            headers=staff,
            json={"building_id": building["id"], "number": "1单元"},
        ),
        201,
    )
    dwelling = ok(
        api.post(
            url(SHIBEI, "/dwellings"), headers=staff, json={"unit_id": unit["id"], "room": "301"}
        ),
        201,
    )
    home = ok(
        api.post(
            url(SHIBEI, "/households"),
            headers=staff,
            json={"dwelling_id": dwelling["id"], "tenure": "owner"},
        ),
        201,
    )
    people = [
        ("王秀英", "19480302", "self", "13812345678"),
        ("李建华", "19500611", "spouse", None),
        ("张伟", "19850101", "child", "13900001111"),
        ("陈小明", "19900815", "other", None),
    ]
    residents = {}
    for number, (name, birth, relation, phone) in enumerate(people):
        residents[name] = ok(
            api.post(
                url(SHIBEI, "/residents"),
                headers=staff,
                json={
                    "household_id": home["id"],
                    "name": name,
                    "id_number": id_number(birth, f"{number + 21:03d}"),
                    "phone": phone,
                    "relation_to_head": relation,
                    "residence_type": "registered",
                    "tenure": "owner",
                },
            ),
            201,
        )
    return {"complex": complex_, "building": building, "residents": residents}


def draft(**fields: Any) -> dict[str, Any]:
    """A general notice to the staff's shared inbox, in-app, as soon as possible."""
    body: dict[str, Any] = {
        "template_code": "general.notice",
        "variables": {"title": "楼道消防检查", "content": "本周六上午检查各楼道消防设施"},
        "audience": {"roles": ["community-staff"]},
        "channels": ["inbox"],
    }
    return body | fields


def create(api: TestClient, headers: Headers, body: dict[str, Any], **extra: str) -> Any:
    return ok(api.post(url(SHIBEI, "/notices"), headers=headers | extra, json=body), 201)


# ---- preview ----


def test_a_preview_counts_the_elders_and_renders_a_sample_without_sending(
    api: TestClient, staff: Headers, household: dict[str, Any]
) -> None:
    body = draft(
        template_code="anti_fraud.alert",
        variables=FRAUD_ALERT,
        audience={"complex_ids": [household["complex"]["id"]], "care_tags": ["elderly"]},
        channels=["sms", "inbox"],
        urgent=True,
    )
    preview = ok(api.post(url(SHIBEI, "/notices/preview"), headers=staff, json=body))
    # Two elders: 王秀英 has a phone; 李建华 has neither phone nor account.
    assert preview["recipients"] == 2
    assert preview["by_channel"] == {"sms": 1, "none": 1}
    assert FRAUD_ALERT["title"] in preview["subject"]
    assert FRAUD_ALERT["content"] in preview["body"]
    assert preview["would_send_at"].endswith("+08:00")
    # Nothing was created.
    listed = ok(api.get(url(SHIBEI, "/notices?kind=anti_fraud"), headers=staff))["items"]
    assert listed == []


def test_a_whole_community_preview_counts_everyone_on_their_first_reachable_channel(
    api: TestClient, staff: Headers, household: dict[str, Any]
) -> None:
    body = draft(audience={"whole_community": True}, channels=["sms"])
    preview = ok(api.post(url(SHIBEI, "/notices/preview"), headers=staff, json=body))
    assert preview["recipients"] == 4
    assert preview["by_channel"] == {"sms": 2, "none": 2}


# ---- notices: create → get → list → cancel ----


@pytest.fixture(scope="module")
def scheduled(api: TestClient, staff: Headers) -> dict[str, Any]:
    body = draft(
        template_code="meeting.notice",
        variables={
            "title": "业主委员会协调会",
            "time": "周六上午九点",
            "place": "社区二楼会议室",
            "content": "讨论电梯加装事宜",
        },
        send_at=tomorrow_at_ten(),
    )
    response = api.post(url(SHIBEI, "/notices"), headers=staff, json=body)
    found: dict[str, Any] = ok(response, 201)
    found["location"] = response.headers["location"]
    found["asked_send_at"] = body["send_at"]
    return found


def test_a_scheduled_notice_is_created_and_read_back(
    api: TestClient, staff: Headers, worker: Headers, scheduled: dict[str, Any]
) -> None:
    assert scheduled["location"] == f"/api/v1/tenants/{SHIBEI}/notices/{scheduled['id']}"
    assert (scheduled["state"], scheduled["state_label"]) == ("scheduled", "待发送")
    assert (scheduled["kind"], scheduled["kind_label"]) == ("meeting", "会议通知")
    assert (scheduled["channels"], scheduled["channel_labels"]) == (["inbox"], ["站内信"])
    assert scheduled["sender"] == subject_of(staff)
    assert "业主委员会协调会" in scheduled["subject"]
    assert scheduled["send_at"] == scheduled["asked_send_at"] + "+08:00"
    assert scheduled["audience"]["roles"] == ["community-staff"]
    assert scheduled["counts"]["recipients"] == 0  # resolved when it goes out, not before
    # Grid workers read notices.
    read = ok(api.get(url(SHIBEI, f"/notices/{scheduled['id']}"), headers=worker))
    assert (read["id"], read["version"], read["state"]) == (
        scheduled["id"],
        scheduled["version"],
        "scheduled",
    )


def test_the_list_filters_by_state_and_kind(
    api: TestClient, staff: Headers, scheduled: dict[str, Any]
) -> None:
    def ids(**query: Any) -> set[str]:
        listed = ok(api.get(url(SHIBEI, "/notices"), headers=staff, params=query))
        return {n["id"] for n in listed["items"]}

    assert scheduled["id"] in ids()
    assert scheduled["id"] in ids(state=["scheduled", "sending"], kind="meeting")
    assert scheduled["id"] not in ids(kind="event")


def test_a_scheduled_notice_is_cancelled_once(
    api: TestClient, staff: Headers, resident: Headers
) -> None:
    notice = create(api, staff, draft(send_at=tomorrow_at_ten()))
    path = url(SHIBEI, f"/notices/{notice['id']}/cancel")
    refused = api.post(path, headers=resident, json={"expected_version": notice["version"]})
    assert_problem(refused, 403)
    stale = api.post(path, headers=staff, json={"expected_version": notice["version"] + 1})
    assert_problem(stale, 409)
    cancelled = ok(
        api.post(
            path, headers=staff, json={"expected_version": notice["version"], "reason": "活动改期"}
        )
    )
    assert (cancelled["state"], cancelled["state_label"]) == ("cancelled", "已取消")
    again = api.post(path, headers=staff, json={"expected_version": cancelled["version"]})
    assert_problem(again, 409)
    listed = ok(api.get(url(SHIBEI, "/notices?state=cancelled"), headers=staff))["items"]
    assert notice["id"] in {n["id"] for n in listed}


def test_a_retried_create_with_the_same_idempotency_key_creates_once(
    api: TestClient, staff: Headers
) -> None:
    key = {"Idempotency-Key": f"console-{uuid.uuid4()}"}
    body = draft(send_at=tomorrow_at_ten())
    first = create(api, staff, body, **key)
    again = create(api, staff, body, **key)
    assert again["id"] == first["id"]
    other = create(api, staff, body, **{"Idempotency-Key": f"console-{uuid.uuid4()}"})
    assert other["id"] != first["id"]


# ---- sending in-app: the resident's account and the staff's shared inbox ----


@pytest.fixture(scope="module")
def sent(api: TestClient, staff: Headers, resident: Headers) -> dict[str, Any]:
    """Two notices sent now in-app: one to the resident's account, one to the staff's shared
    inbox; both delivered by the dispatcher."""
    to_resident = create(
        api,
        staff,
        draft(
            template_code="event.invite",
            variables={
                "title": "重阳节茶话会",
                "time": "10月29日下午两点",
                "place": "社区活动室",
                "content": "欢迎各位居民参加",
            },
            audience={"account_subjects": [subject_of(resident)]},
        ),
    )
    to_staff = create(api, staff, draft(variables={"title": "周例会", "content": "周一上午九点"}))

    def finished(notice: dict[str, Any]) -> Any:
        found = ok(api.get(url(SHIBEI, f"/notices/{notice['id']}"), headers=staff))
        return found if found["state"] == "sent" else None

    return {
        "to_resident": eventually(
            lambda: finished(to_resident), "the resident's notice never went"
        ),
        "to_staff": eventually(lambda: finished(to_staff), "the staff's notice never went"),
    }


def inbox(api: TestClient, headers: Headers, **query: Any) -> Any:
    return ok(api.get("/api/v1/inbox", headers=headers, params=query))


def test_a_sent_notice_counts_its_delivery(
    api: TestClient, staff: Headers, resident: Headers, sent: dict[str, Any]
) -> None:
    notice = sent["to_resident"]
    counts = notice["counts"]
    assert (counts["recipients"], counts["delivered"], counts["failed"]) == (1, 1, 0)
    assert counts["by_channel"]["inbox"]["delivered"] == 1
    assert notice["finished_at"] is not None
    deliveries = ok(api.get(url(SHIBEI, f"/notices/{notice['id']}/deliveries"), headers=staff))
    [delivery] = deliveries["items"]
    assert delivery["recipient"] == f"account:{subject_of(resident)}"
    assert (delivery["channel"], delivery["channel_label"]) == ("inbox", "站内信")
    assert (delivery["state"], delivery["state_label"]) == ("delivered", "已送达")
    failed = ok(
        api.get(url(SHIBEI, f"/notices/{notice['id']}/deliveries?state=failed"), headers=staff)
    )
    assert failed["items"] == []
    # Nothing failed, so nothing is queued again.
    resent = ok(api.post(url(SHIBEI, f"/notices/{notice['id']}/resend"), headers=staff))
    assert resent["queued"] == 0
    assert resent["notice"]["id"] == notice["id"]


def test_each_person_finds_their_own_message_in_their_inbox(
    api: TestClient, staff: Headers, resident: Headers, sent: dict[str, Any]
) -> None:
    mine = inbox(api, resident)
    by_notice = {m["notice_id"]: m for m in mine["items"]}
    message = by_notice[sent["to_resident"]["id"]]
    assert sent["to_staff"]["id"] not in by_notice
    assert (message["kind"], message["kind_label"]) == ("event", "活动通知")
    assert "重阳节茶话会" in message["subject"]
    assert "社区活动室" in message["body"]
    assert (message["tenant_id"], message["read"], message["read_at"]) == (SHIBEI, False, None)
    assert message["received_at"].endswith("+08:00")
    assert mine["unread"] >= 1
    staffs = {m["notice_id"] for m in inbox(api, staff)["items"]}
    assert sent["to_staff"]["id"] in staffs
    assert sent["to_resident"]["id"] not in staffs


def test_reading_a_message_marks_it_once_and_only_for_its_reader(
    api: TestClient, staff: Headers, resident: Headers, sent: dict[str, Any]
) -> None:
    def message_of(headers: Headers, notice: dict[str, Any]) -> dict[str, Any]:
        return next(m for m in inbox(api, headers)["items"] if m["notice_id"] == notice["id"])

    own = message_of(resident, sent["to_resident"])
    staffs = message_of(staff, sent["to_staff"])
    before = inbox(api, resident)["unread"]
    # Someone else's message is left alone.
    foreign = ok(
        api.post("/api/v1/inbox/read", headers=resident, json={"message_ids": [staffs["id"]]})
    )
    assert foreign == {"marked": 0, "unread": before}
    assert message_of(staff, sent["to_staff"])["read"] is False

    marked = ok(api.post("/api/v1/inbox/read", headers=resident, json={"message_ids": [own["id"]]}))
    assert marked == {"marked": 1, "unread": before - 1}
    again = ok(api.post("/api/v1/inbox/read", headers=resident, json={"message_ids": [own["id"]]}))
    assert again == {"marked": 0, "unread": before - 1}
    read = message_of(resident, sent["to_resident"])
    assert read["read"] is True
    assert read["read_at"] is not None
    unread = {m["id"] for m in inbox(api, resident, unread_only=True)["items"]}
    assert own["id"] not in unread
    # The sender sees it was read.
    notice = ok(api.get(url(SHIBEI, f"/notices/{sent['to_resident']['id']}"), headers=staff))
    assert notice["counts"]["read"] == 1


def test_the_inbox_is_newest_first_and_limited(
    api: TestClient, staff: Headers, sent: dict[str, Any]
) -> None:
    everything = inbox(api, staff)["items"]
    stamps = [datetime.fromisoformat(m["received_at"]) for m in everything]
    assert stamps == sorted(stamps, reverse=True)
    assert inbox(api, staff, limit=1)["items"] == everything[:1]


def test_a_street_admin_reads_the_street_admin_inbox_of_its_communities(
    api: TestClient, staff: Headers, street: Headers, hushan_staff: Headers, sent: dict[str, Any]
) -> None:
    notice = create(
        api,
        staff,
        draft(
            audience={"roles": ["street-admin"]},
            variables={"title": "请街道协调", "content": "电梯加装需街道协调"},
        ),
    )

    def streets_message() -> Any:
        found = inbox(api, street)
        return next((m for m in found["items"] if m["notice_id"] == notice["id"]), None)

    message = eventually(streets_message, "the street admin never got the message")
    assert message["tenant_id"] == SHIBEI
    assert "请街道协调" in message["subject"]
    for others in (staff, hushan_staff):
        assert notice["id"] not in {m["notice_id"] for m in inbox(api, others)["items"]}
    before = inbox(api, street)["unread"]
    marked = ok(
        api.post("/api/v1/inbox/read", headers=street, json={"message_ids": [message["id"]]})
    )
    assert marked == {"marked": 1, "unread": before - 1}


def test_a_platform_administrator_reads_the_platform_admin_inbox_of_every_community(
    api: TestClient, staff: Headers, token_of: Login, sent: dict[str, Any]
) -> None:
    notice = create(
        api,
        staff,
        draft(
            audience={"roles": ["platform-admin"]},
            variables={"title": "系统问题反馈", "content": "短信回执延迟"},
        ),
    )
    platform = auth(token_of("platform"))

    def platforms_message() -> Any:
        found = inbox(api, platform)
        return next((m for m in found["items"] if m["notice_id"] == notice["id"]), None)

    message = eventually(platforms_message, "the platform admin never got the message")
    assert message["tenant_id"] == SHIBEI


def test_another_communitys_staff_see_nothing_of_shibeis_inbox(
    api: TestClient, hushan_staff: Headers, sent: dict[str, Any]
) -> None:
    notices = {m["notice_id"] for m in inbox(api, hushan_staff)["items"]}
    assert not notices & {sent["to_resident"]["id"], sent["to_staff"]["id"]}


# ---- templates: the tenant's own, its street's, the built-in ones ----


def test_the_built_in_templates_are_in_force_without_edits(
    api: TestClient, worker: Headers
) -> None:
    templates = ok(api.get(url(SHIBEI, "/notification-templates"), headers=worker))["items"]
    by_code = {t["code"]: t for t in templates}
    alert = by_code["anti_fraud.alert"]
    assert (alert["kind"], alert["kind_label"], alert["defined_by"]) == (
        "anti_fraud",
        "反诈预警",
        "builtin",
    )
    assert set(alert["variables"]) == {"title", "content"}
    assert {"case.dispatched", "case.overdue", "event.invite"} <= set(by_code)
    cases_only = ok(
        api.get(url(SHIBEI, "/notification-templates?kind=case_update"), headers=worker)
    )["items"]
    assert cases_only
    assert {t["kind"] for t in cases_only} == {"case_update"}


def put_template(
    api: TestClient, tenant: str, headers: Headers, code: str, version: int, **fields: Any
) -> httpx.Response:
    body = {
        "expected_version": version,
        "name": "一般通知",
        "kind": "general",
        "subject": "【石北社区】{{ title }}",
        "body": "{{ recipient_name }}您好：{{ content }}",
        "variables": ["title", "content"],
    }
    response: httpx.Response = api.put(
        url(tenant, f"/notification-templates/{code}"), headers=headers, json=body | fields
    )
    return response


def test_a_community_edits_its_own_template_and_others_keep_the_built_in_one(
    api: TestClient, staff: Headers, resident: Headers, hushan_staff: Headers
) -> None:
    code = "general.notice"
    edited = ok(put_template(api, SHIBEI, staff, code, 0))
    assert (edited["defined_by"], edited["version"]) == ("tenant", 1)
    assert edited["subject"] == "【石北社区】{{ title }}"
    read = ok(api.get(url(SHIBEI, f"/notification-templates/{code}"), headers=staff))
    assert read["subject"] == "【石北社区】{{ title }}"
    elsewhere = ok(api.get(url(HUSHAN, f"/notification-templates/{code}"), headers=hushan_staff))
    assert (elsewhere["defined_by"], elsewhere["version"]) == ("builtin", 0)
    assert_problem(put_template(api, SHIBEI, staff, code, 0), 409)  # stale
    assert_problem(put_template(api, SHIBEI, resident, code, 1), 403)
    # A preview renders the community's own text.
    preview = ok(api.post(url(SHIBEI, "/notices/preview"), headers=staff, json=draft()))
    assert preview["subject"] == "【石北社区】楼道消防检查"


def test_a_streets_template_is_its_communities_default(
    api: TestClient, staff: Headers, street: Headers, hushan_staff: Headers
) -> None:
    code = "event.invite"
    current = ok(api.get(url(BEIGAN, f"/notification-templates/{code}"), headers=street))
    put = put_template(
        api,
        BEIGAN,
        street,
        code,
        current["version"],
        name="活动邀请",
        kind="event",
        subject="【北干街道】{{ title }}",
        body="{{ title }}：{{ time }}，{{ place }}。{{ content }}",
        variables=["title", "time", "place", "content"],
    )
    ok(put)
    in_shibei = ok(api.get(url(SHIBEI, f"/notification-templates/{code}"), headers=staff))
    assert (in_shibei["defined_by"], in_shibei["subject"]) == ("street", "【北干街道】{{ title }}")
    in_hushan = ok(api.get(url(HUSHAN, f"/notification-templates/{code}"), headers=hushan_staff))
    assert in_hushan["defined_by"] == "builtin"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"body": "{{ title }} {{ unknown_thing }}"}, "body"),
        ({"body": "{% if title %}没有结束"}, "body"),
        ({"subject": "第一行\n第二行"}, "body.subject"),
        ({"kind": "newsletter"}, "body.kind"),
        ({"variables": ["Title"]}, "body.variables.0"),
    ],
)
def test_a_bad_template_is_a_422_naming_the_field(
    api: TestClient, staff: Headers, fields: dict[str, Any], field: str
) -> None:
    problem = assert_problem(put_template(api, SHIBEI, staff, "meeting.notice", 0, **fields), 422)
    assert any(field in f for f in fields_of(problem)), problem


def test_a_malformed_template_code_is_a_422_and_an_unknown_one_a_404(
    api: TestClient, staff: Headers
) -> None:
    malformed = api.get(url(SHIBEI, "/notification-templates/Anti-Fraud"), headers=staff)
    assert "path.code" in fields_of(assert_problem(malformed, 422))
    assert_problem(api.get(url(SHIBEI, "/notification-templates/no.such"), headers=staff), 404)


# ---- quiet hours, robots, contacts ----


def test_staff_set_the_quiet_hours_with_versions(
    api: TestClient, staff: Headers, resident: Headers
) -> None:
    path = url(SHIBEI, "/notification-settings")
    current = ok(api.get(path, headers=staff))
    assert (current["quiet_start"], current["quiet_end"]) == ("21:00", "08:00")
    put = ok(
        api.put(
            path,
            headers=staff,
            json={
                "quiet_start": "21:00",
                "quiet_end": "07:30",
                "expected_version": current["version"],
            },
        )
    )
    assert (put["quiet_end"], put["version"]) == ("07:30", current["version"] + 1)
    body = {"quiet_start": "22:00", "quiet_end": "07:00", "expected_version": current["version"]}
    assert_problem(api.put(path, headers=staff, json=body), 409)
    body["expected_version"] = put["version"]
    assert_problem(api.put(path, headers=resident, json=body), 403)
    refused = assert_problem(
        api.put(path, headers=staff, json=body | {"quiet_start": "25:00"}), 422
    )
    assert "body.quiet_start" in fields_of(refused)


def test_a_robots_webhook_is_write_only(
    api: TestClient, staff: Headers, resident: Headers, household: dict[str, Any]
) -> None:
    secret = f"key-{uuid.uuid4().hex}"
    body = {
        "name": "晴川苑1幢业主群",
        "building_id": household["building"]["id"],
        "webhook_url": f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={secret}",
    }
    robots = url(SHIBEI, "/notification-robots")
    assert_problem(api.post(robots, headers=resident, json=body), 403)
    created = ok(api.post(robots, headers=staff, json=body), 201)
    assert created["name"] == "晴川苑1幢业主群"
    assert (created["building_id"], created["complex_id"]) == (household["building"]["id"], None)
    assert secret not in created["webhook_url"]
    listed = api.get(robots, headers=staff)
    assert created["id"] in {r["id"] for r in ok(listed)["items"]}
    assert secret not in listed.text
    # One robot per building.
    assert_problem(api.post(robots, headers=staff, json=body), 409)
    # A change without the URL keeps it (it is still masked the same way).
    path = url(SHIBEI, f"/notification-robots/{created['id']}")
    renamed = ok(
        api.put(
            path,
            headers=staff,
            json={"name": "晴川苑1幢居民群", "building_id": body["building_id"]},
        )
    )
    assert (renamed["name"], renamed["webhook_url"]) == ("晴川苑1幢居民群", created["webhook_url"])
    both = body | {"complex_id": household["complex"]["id"]}
    assert_problem(api.put(path, headers=staff, json=both), 422)
    not_http = body | {"webhook_url": "ftp://example.org/hook"}
    refused = assert_problem(api.post(robots, headers=staff, json=not_http), 422)
    assert "body.webhook_url" in fields_of(refused)
    unknown = api.put(url(SHIBEI, f"/notification-robots/{SOME_ID}"), headers=staff, json=body)
    assert_problem(unknown, 404)
    removed = api.delete(path, headers=staff)
    assert removed.status_code == 204, removed.text
    assert created["id"] not in {r["id"] for r in ok(api.get(robots, headers=staff))["items"]}
    assert_problem(api.delete(path, headers=staff), 404)


def test_a_residents_contact_links_an_account_and_shows_the_email_masked(
    api: TestClient, staff: Headers, resident: Headers, household: dict[str, Any]
) -> None:
    elder = household["residents"]["李建华"]
    path = url(SHIBEI, f"/notification-contacts/{elder['id']}")
    current = ok(api.get(path, headers=staff))
    assert (current["email"], current["account_subject"]) == (None, None)
    body = {
        "account_subject": subject_of(resident),
        "email": "lijianhua@example.org",
        "opted_out": ["sms"],
        "expected_version": current["version"],
    }
    put = ok(api.put(path, headers=staff, json=body))
    assert put["email"].endswith("@example.org")
    assert "lijianhua" not in put["email"]
    assert (put["account_subject"], put["opted_out"]) == (subject_of(resident), ["sms"])
    assert ok(api.get(path, headers=staff))["email"] == put["email"]
    assert_problem(api.put(path, headers=staff, json=body), 409)  # stale
    assert_problem(api.get(path, headers=resident), 403)
    bad_email = body | {"email": "not-an-address", "expected_version": put["version"]}
    assert "body.email" in fields_of(
        assert_problem(api.put(path, headers=staff, json=bad_email), 422)
    )
    not_an_id = api.get(url(SHIBEI, "/notification-contacts/王秀英"), headers=staff)
    assert "path.resident_id" in fields_of(assert_problem(not_an_id, 422))


# ---- statistics ----


def test_the_statistics_count_the_inbox_deliveries(
    api: TestClient, staff: Headers, resident: Headers, sent: dict[str, Any]
) -> None:
    figures = ok(api.get(url(SHIBEI, "/stats/notices"), headers=staff))
    assert figures["notices"] >= 2
    assert figures["totals"]["inbox"]["delivered"] >= 2
    inbox_rows = [r for r in figures["rows"] if r["channel"] == "inbox"]
    assert inbox_rows
    assert {(r["tenant_id"], r["channel_label"]) for r in inbox_rows} == {(SHIBEI, "站内信")}
    assert_problem(api.get(url(SHIBEI, "/stats/notices"), headers=resident), 403)
    backwards = api.get(
        url(SHIBEI, "/stats/notices"),
        headers=staff,
        params={"from_date": "2026-11-02", "to_date": "2026-11-01"},
    )
    assert "query.to_date" in fields_of(assert_problem(backwards, 422))


# ---- who may do what ----


def test_a_resident_may_not_compose_notices(api: TestClient, resident: Headers) -> None:
    assert_problem(api.post(url(SHIBEI, "/notices"), headers=resident, json=draft()), 403)
    assert_problem(api.post(url(SHIBEI, "/notices/preview"), headers=resident, json=draft()), 403)
    assert_problem(api.get(url(SHIBEI, "/notices"), headers=resident), 403)


def test_a_grid_worker_reads_notices_but_does_not_send_them(
    api: TestClient, worker: Headers
) -> None:
    ok(api.get(url(SHIBEI, "/notices"), headers=worker))
    assert_problem(api.post(url(SHIBEI, "/notices"), headers=worker, json=draft()), 403)


def test_a_shibei_notice_is_not_found_under_hushan(
    api: TestClient, hushan_staff: Headers, scheduled: dict[str, Any]
) -> None:
    response = api.get(url(HUSHAN, f"/notices/{scheduled['id']}"), headers=hushan_staff)
    assert_problem(response, 404)


def test_the_route_list_of_these_tests_is_every_notify_route(api: TestClient) -> None:
    openapi = api.app.openapi()  # type: ignore[attr-defined]
    assert served_routes(openapi, notify_views.router.tags[0]) == set(NOTIFY_ROUTES)
    inbox_paths = {
        (method, path)
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
        if notify_views.inbox_router.tags[0] in operation["tags"]
    }
    assert inbox_paths == set(INBOX_ROUTES)


def fill(path: str, scheduled: dict[str, Any]) -> str:
    return (
        path.replace("{notice_id}", scheduled["id"])
        .replace("{code}", "anti_fraud.alert")
        .replace("{robot_id}", SOME_ID)
        .replace("{resident_id}", SOME_ID)
    )


@pytest.mark.parametrize(("method", "path"), NOTIFY_ROUTES)
def test_hushan_staff_get_403_on_every_shibei_notify_route(
    api: TestClient, hushan_staff: Headers, scheduled: dict[str, Any], method: str, path: str
) -> None:
    response = call_route(api, method, fill(path, scheduled), SHIBEI, hushan_staff)
    problem = assert_problem(response, 403, "auth.permission_denied")
    assert problem["params"] == {"tenant": SHIBEI}


@pytest.fixture(scope="module")
def late_api(notify_gateway: GatewayCore, token_of: Login) -> TestClient:
    """The gateway an hour after shibei-staff's token expired."""
    expires_at = float(claims_of(token_of("shibei-staff"))["exp"])
    late = TokenVerifier(
        issuer=notify_gateway.settings.issuer, audience="shequ", clock=lambda: expires_at + 3600
    )
    return TestClient(
        create_app(replace(notify_gateway, verifier=late)), raise_server_exceptions=False
    )


def tokens_of_kind(
    kind: str, api: TestClient, late_api: TestClient, token_of: Login
) -> tuple[TestClient, Headers]:
    real = token_of("shibei-staff")
    return {
        "missing": (api, {}),
        "forged": (api, auth(with_tampered_claims(real, groups=["/platform-admin"]))),
        "expired": (late_api, auth(real)),
    }[kind]


@pytest.mark.parametrize("kind", ["missing", "forged", "expired"])
@pytest.mark.parametrize(("method", "path"), NOTIFY_ROUTES)
def test_every_notify_route_needs_a_valid_token(
    api: TestClient, late_api: TestClient, token_of: Login, kind: str, method: str, path: str
) -> None:
    client, headers = tokens_of_kind(kind, api, late_api, token_of)
    response = call_route(client, method, path, SHIBEI, headers)
    assert_problem(response, 401, "auth.unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("kind", ["missing", "forged", "expired"])
@pytest.mark.parametrize(("method", "path"), INBOX_ROUTES)
def test_the_inbox_needs_a_valid_token(
    api: TestClient, late_api: TestClient, token_of: Login, kind: str, method: str, path: str
) -> None:
    client, headers = tokens_of_kind(kind, api, late_api, token_of)
    body = {"message_ids": [SOME_ID]} if method == "post" else None
    response = client.request(method, path, headers=headers, json=body)
    assert_problem(response, 401, "auth.unauthenticated")


# ---- bad input: 422 naming the field, never a 500 ----


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"template_code": "Anti Fraud"}, "body.template_code"),
        ({"channels": []}, "body.channels"),
        ({"channels": ["fax"]}, "body.channels.0"),
        ({"channels": ["sms", "sms"]}, "body.channels"),
        ({"audience": {}}, "body.audience"),
        (
            {"audience": {"care_tags": ["old"], "whole_community": True}},
            "body.audience.care_tags.0",
        ),
        ({"audience": {"building_ids": ["1幢"]}}, "body.audience.building_ids.0"),
        ({"audience": {"roles": ["mayor"]}}, "body.audience.roles.0"),
        ({"kind": "newsletter"}, "body.kind"),
        ({"send_at": "tomorrow morning"}, "body.send_at"),
        ({"variables": {"Title": "x"}}, "body.variables.Title.[key]"),
        ({"surprise": True}, "body.surprise"),
    ],
)
def test_a_bad_notice_is_a_422_naming_the_field(
    api: TestClient, staff: Headers, changes: dict[str, Any], field: str
) -> None:
    body = draft(**changes)
    for path in ("/notices", "/notices/preview"):
        problem = assert_problem(api.post(url(SHIBEI, path), headers=staff, json=body), 422)
        assert field in fields_of(problem), problem


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"variables": {"title": "只有标题"}}, "content"),  # a declared variable missing
        ({"variables": FRAUD_ALERT | {"extra": "x"}}, "extra"),  # one the template does not use
        ({"send_at": "2020-01-01T09:00:00"}, "send_at"),  # in the past
    ],
)
def test_a_notice_the_service_refuses_is_a_422_naming_the_field(
    api: TestClient, staff: Headers, changes: dict[str, Any], field: str
) -> None:
    body = draft(**changes)
    problem = assert_problem(api.post(url(SHIBEI, "/notices"), headers=staff, json=body), 422)
    assert any(field in f for f in fields_of(problem)), problem


def test_an_unknown_template_is_refused_not_a_500(api: TestClient, staff: Headers) -> None:
    body = draft(template_code="no.such")
    response = api.post(url(SHIBEI, "/notices/preview"), headers=staff, json=body)
    assert response.status_code in (404, 422)
    assert_problem(response, response.status_code)


def test_malformed_json_is_a_400(api: TestClient, staff: Headers) -> None:
    response = api.post(
        url(SHIBEI, "/notices"),
        headers=staff | {"content-type": "application/json"},
        content=b"{not json",
    )
    assert_problem(response, 400, "request.malformed_json")


@pytest.mark.parametrize(
    ("method", "path", "query", "field"),
    [
        ("get", "/notices", {"state": ["bogus"]}, "query.state.0"),
        ("get", "/notices", {"kind": "newsletter"}, "query.kind"),
        ("get", "/notices", {"page_size": 0}, "query.page_size"),
        ("get", "/notices/not-a-notice", {}, "path.notice_id"),
        ("get", f"/notices/{SOME_ID}/deliveries", {"state": ["lost"]}, "query.state.0"),
        ("get", "/notification-templates", {"kind": "newsletter"}, "query.kind"),
        ("get", "/stats/notices", {"from_date": "last week"}, "query.from_date"),
    ],
)
def test_a_bad_query_or_path_is_a_422_naming_it(
    api: TestClient, staff: Headers, method: str, path: str, query: dict[str, Any], field: str
) -> None:
    response = api.request(method, url(SHIBEI, path), headers=staff, params=query)
    assert field in fields_of(assert_problem(response, 422))


def test_an_idempotency_key_too_long_is_a_422(api: TestClient, staff: Headers) -> None:
    response = api.post(
        url(SHIBEI, "/notices"), headers=staff | {"Idempotency-Key": "k" * 201}, json=draft()
    )
    assert "header.Idempotency-Key" in fields_of(assert_problem(response, 422))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message_ids": []}, "body.message_ids"),
        ({"message_ids": ["not-an-id"]}, "body.message_ids.0"),
        ({}, "body.message_ids"),
    ],
)
def test_a_bad_mark_read_is_a_422_naming_the_field(
    api: TestClient, resident: Headers, body: dict[str, Any], field: str
) -> None:
    response = api.post("/api/v1/inbox/read", headers=resident, json=body)
    assert field in fields_of(assert_problem(response, 422))


def test_an_inbox_limit_out_of_range_is_a_422(api: TestClient, resident: Headers) -> None:
    response = api.get("/api/v1/inbox", headers=resident, params={"limit": 1000})
    assert "query.limit" in fields_of(assert_problem(response, 422))
