"""Cases through the gateway, as Shibei works them: real census, grid and cases gRPC servers, real
tokens from Keycloak and the real Kafka broker.

Shibei's staff put two new buildings into the census, cover the first with a micro-grid whose
leader is the shibei-grid account, and leave the second uncovered. A resident's report of
stairwell clutter (楼道堆积物) at the first building is routed to that leader, handled,
verified, closed, rated unsatisfied (reopened), handled again and rated satisfied; the timeline,
the statistics and the events on ``shequ.cases.v1`` tell the same story. The headline case is
the module's only case of its category, so its figures can be read off the category group.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer

from cases.catalogue import STAIRWELL_CLUTTER
from gateway.app import GatewayCore, create_app
from gateway.cases import views as case_views
from shequ.cases.v1 import cases_pb2, events_pb2
from shequ_infra import LocalInfrastructure
from shequ_infra.forged_tokens import claims_of, with_tampered_claims
from shequ_infra.rest_checks import (
    assert_problem,
    auth,
    call_route,
    fields_of,
    served_routes,
)
from shequ_infra.rest_checks import tenant_url as url
from shequ_kit.relay import OutboxRelay
from shequ_kit.tokens import TokenVerifier

from .conftest import CasesServices

Login = Callable[..., str]
Headers = dict[str, str]
SHIBEI = "xiaoshan.beigan.shibei"
HUSHAN = "xiaoshan.shushan.hushan"
BEIGAN = "xiaoshan.beigan"
CASES_DATABASE = "gateway_case_routes"
# Every other case of this module is of another class: the headline case is alone in its group.
OTHER_CATEGORY = "0105"  # 废弃家具设备, micro-grid level, 2 working days
EVENTS_TOPIC = "shequ.cases.v1"
CASE_ROUTES = [
    ("post", "/cases"),
    ("get", "/cases"),
    ("get", "/cases/{case_id}"),
    ("post", "/cases/{case_id}/actions"),
    ("get", "/cases/{case_id}/timeline"),
    ("get", "/case-categories"),
    ("get", "/case-categories/{code}"),
    ("put", "/case-categories/{code}"),
    ("post", "/case-categories/seed"),
    ("get", "/case-calendar"),
    ("put", "/case-calendar"),
    ("get", "/stats/cases"),
]


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


# ---- who is who ----


@pytest.fixture(scope="module")
def api(cases_api: TestClient) -> TestClient:
    return cases_api


@pytest.fixture(scope="module")
def staff(token_of: Login) -> Headers:
    return auth(token_of("shibei-staff"))


@pytest.fixture(scope="module")
def worker(token_of: Login) -> Headers:
    return auth(token_of("shibei-grid"))


@pytest.fixture(scope="module")
def resident(token_of: Login) -> Headers:
    return auth(token_of("shibei-resident"))


def subject_of(headers: Headers) -> str:
    return str(claims_of(headers["Authorization"].removeprefix("Bearer "))["sub"])


# ---- Shibei's place: two new buildings, the first covered by shibei-grid's micro-grid ----


@pytest.fixture(scope="module")
def shibei(api: TestClient, staff: Headers, worker: Headers) -> dict[str, Any]:
    complex_ = ok(api.post(url(SHIBEI, "/complexes"), headers=staff, json={"name": "晴川苑"}), 201)
    buildings = [
        ok(
            api.post(
                url(SHIBEI, "/buildings"),
                headers=staff,
                json={"complex_id": complex_["id"], "number": number, "floors": 6},
            ),
            201,
        )
        for number in ("1幢", "2幢")
    ]
    wait_until_grid_knows(api, staff, {b["id"] for b in buildings})
    grid = ok(api.post(url(SHIBEI, "/grids"), headers=staff, json={"name": "晴川网格"}), 201)
    micro_grid = ok(
        api.post(
            url(SHIBEI, "/micro-grids"),
            headers=staff,
            json={"grid_id": grid["id"], "name": "晴川1幢微网格"},
        ),
        201,
    )
    ok(
        api.post(
            url(SHIBEI, f"/grids/{grid['id']}/buildings"),
            headers=staff,
            json={"micro_grid_id": micro_grid["id"], "building_ids": [buildings[0]["id"]]},
        )
    )
    leader = ok(
        api.post(
            url(SHIBEI, f"/grids/{grid['id']}/members"),
            headers=staff,
            json={
                "role": "micro_grid_leader",
                "name": "陈建国",
                "micro_grid_id": micro_grid["id"],
                "account_subject": subject_of(worker),
                "account_username": "shibei-grid",
            },
        ),
        201,
    )
    return {
        "covered": buildings[0]["id"],
        "uncovered": buildings[1]["id"],
        "grid": grid,
        "micro_grid": micro_grid,
        "leader": leader,
    }


def wait_until_grid_knows(api: TestClient, staff: Headers, building_ids: set[str]) -> None:
    """The census's BuildingCreated facts reach grid's projection through Kafka."""
    deadline = time.monotonic() + 60
    while True:
        listed = ok(api.get(url(SHIBEI, "/coverage/uncovered?page_size=500"), headers=staff))
        if building_ids <= {b["building_id"] for b in listed["items"]}:
            return
        assert time.monotonic() < deadline, "grid never learnt of the census's new buildings"
        time.sleep(0.2)


def report(
    api: TestClient, headers: Headers, building: str | None, **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"category_code": OTHER_CATEGORY, "title": "单元门口弃置旧沙发"}
    if building is not None:
        body["place"] = {"building_id": building}
    found: dict[str, Any] = ok(
        api.post(url(SHIBEI, "/cases"), headers=headers, json=body | fields), 201
    )
    return found


def act(
    api: TestClient, headers: Headers, case: dict[str, Any], action: str, **fields: Any
) -> httpx.Response:
    response: httpx.Response = api.post(
        url(SHIBEI, f"/cases/{case['id']}/actions"),
        headers=headers,
        json={"action": action, "expected_version": case["version"], **fields},
    )
    return response


def done(
    api: TestClient, headers: Headers, case: dict[str, Any], action: str, **fields: Any
) -> dict[str, Any]:
    """The action taken; the case as it is after it."""
    taken = ok(act(api, headers, case, action, **fields))
    assert taken["entry"]["action"] == action
    found: dict[str, Any] = taken["case"]
    return found


# ---- the headline: report → route → handle → verify → close → rate (twice) ----


@pytest.fixture(scope="module")
def headline(
    api: TestClient,
    shibei: dict[str, Any],
    staff: Headers,
    worker: Headers,
    resident: Headers,
) -> dict[str, Any]:
    started = datetime.now().astimezone()
    response = api.post(
        url(SHIBEI, "/cases"),
        headers=resident,
        json={
            "category_code": STAIRWELL_CLUTTER,
            "title": "晴川苑1幢楼道堆满纸箱",
            "description": "纸箱从一楼堆到二楼转角，老人下楼不便",
            "place": {"building_id": shibei["covered"], "address": "晴川苑1幢2单元"},
            "reporter_phone": "13812345678",
        },
    )
    reported = ok(response, 201)
    stages = {"reported": reported}
    assert response.headers["location"] == f"/api/v1/tenants/{SHIBEI}/cases/{reported['id']}"

    as_worker = ok(api.get(url(SHIBEI, f"/cases/{reported['id']}"), headers=worker))
    stages["seen_by_worker"] = as_worker
    case = done(api, worker, as_worker, "start")
    case = done(
        api,
        worker,
        case,
        "resolve",
        note="已通知住户搬走纸箱，楼道已清空",
        photos=["cases/qc1-after.jpg"],
    )
    stages["resolved"] = case
    case = done(api, staff, case, "verify", note="现场核查，楼道畅通")
    case = done(api, staff, case, "close")
    stages["closed_once"] = case
    case = done(api, resident, case, "rate", rating="unsatisfied", note="第二天又堆上了")
    stages["reopened"] = case

    case = done(api, worker, case, "resolve", note="联系物业清运，张贴楼道禁堆告示")
    case = done(api, staff, case, "verify")
    case = done(api, staff, case, "close")
    case = done(api, resident, case, "rate", rating="satisfied")
    stages["rated"] = case
    stages["elapsed_s"] = (datetime.now().astimezone() - started).total_seconds()
    return stages


def test_a_report_at_a_covered_building_goes_to_its_micro_grid_leader(
    headline: dict[str, Any], shibei: dict[str, Any], worker: Headers, resident: Headers
) -> None:
    case = headline["reported"]
    assert (case["state"], case["state_label"]) == ("dispatched", "已派遣")
    assert case["source"] == "resident_app"
    assert case["category_code"] == STAIRWELL_CLUTTER
    assert case["category_name"] == "楼道堆积物"
    assert case["assignee"] == subject_of(worker)
    assert case["assignee_member_id"] == shibei["leader"]["id"]
    assert (case["level"], case["level_label"]) == ("micro_grid", "微网格")
    assert (case["grid_id"], case["micro_grid_id"]) == (
        shibei["grid"]["id"],
        shibei["micro_grid"]["id"],
    )
    assert case["reporter_subject"] == subject_of(resident)
    assert case["reporter_phone"] == "138****5678"
    # 3 working days from now: a deadline in the future, shown in Beijing time.
    deadline = datetime.fromisoformat(case["deadline"])
    assert deadline > datetime.fromisoformat(case["dispatched_at"])
    assert case["deadline"].endswith("+08:00")
    assert case["seconds_to_deadline"] > 0
    assert not case["overdue"]
    # The reporter may not handle it; the leader sees the buttons to handle it.
    assert case["allowed_actions"] == []
    assert {"start", "resolve", "suspend", "request_extension"} <= set(
        headline["seen_by_worker"]["allowed_actions"]
    )
    assert "verify" not in headline["seen_by_worker"]["allowed_actions"]


def test_the_case_goes_round_twice_and_ends_rated(headline: dict[str, Any]) -> None:
    resolved = headline["resolved"]
    assert resolved["state"] == "resolved"
    assert resolved["resolved_at"] is not None
    assert headline["closed_once"]["state"] == "closed"
    reopened = headline["reopened"]
    assert (reopened["state"], reopened["reopened_count"]) == ("dispatched", 1)
    assert reopened["rating"] == "unsatisfied"
    assert reopened["resolved_at"] is None
    assert reopened["assignee"] == headline["reported"]["assignee"]
    rated = headline["rated"]
    assert (rated["state"], rated["state_label"]) == ("rated", "已评价")
    assert (rated["rating"], rated["reopened_count"]) == ("satisfied", 1)
    assert rated["closed_at"] is not None
    assert rated["version"] > headline["reported"]["version"]


def test_the_timeline_lists_every_step_in_order(
    api: TestClient,
    headline: dict[str, Any],
    staff: Headers,
    worker: Headers,
    resident: Headers,
) -> None:
    case_id = headline["reported"]["id"]
    timeline = ok(api.get(url(SHIBEI, f"/cases/{case_id}/timeline"), headers=resident))["items"]
    the_worker, the_staff, the_resident = (subject_of(h) for h in (worker, staff, resident))
    assert [(e["action"], e["actor"], e["capacity"]) for e in timeline] == [
        ("report", the_resident, "resident"),
        ("accept", "system:router", "system"),
        ("dispatch", "system:router", "system"),
        ("start", the_worker, "assignee"),
        ("resolve", the_worker, "assignee"),
        ("verify", the_staff, "community-staff"),
        ("close", the_staff, "community-staff"),
        ("rate", the_resident, "reporter"),
        ("resolve", the_worker, "assignee"),
        ("verify", the_staff, "community-staff"),
        ("close", the_staff, "community-staff"),
        ("rate", the_resident, "reporter"),
    ]
    assert [(e["from_state"], e["to_state"]) for e in timeline] == [
        (None, "reported"),
        ("reported", "accepted"),
        ("accepted", "dispatched"),
        ("dispatched", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "verified"),
        ("verified", "closed"),
        ("closed", "dispatched"),
        ("dispatched", "resolved"),
        ("resolved", "verified"),
        ("verified", "closed"),
        ("closed", "rated"),
    ]
    stamps = [datetime.fromisoformat(e["at"]) for e in timeline]
    assert stamps == sorted(stamps)
    first_resolve, reopening = timeline[4], timeline[7]
    assert first_resolve["note"] == "已通知住户搬走纸箱，楼道已清空"
    assert first_resolve["data"]["photos"] == "cases/qc1-after.jpg"
    assert (first_resolve["action_label"], first_resolve["to_state_label"]) == (
        "处置完成",
        "处置完成",
    )
    assert reopening["note"] == "第二天又堆上了"
    assert reopening["data"]["rating"] == "unsatisfied"
    assert reopening["data"]["reopened"] == "true"
    assert timeline[2]["data"]["assignee_id"] == the_worker
    assert timeline[2]["data"]["routing"] == "covered"
    assert timeline[0]["actor_name"]


def test_the_statistics_tell_the_headline_cases_story(
    api: TestClient, headline: dict[str, Any], staff: Headers
) -> None:
    rated = headline["rated"]
    deadline = datetime.fromisoformat(rated["deadline"])
    reported_at = datetime.fromisoformat(rated["reported_at"])
    # A period that holds both the report and the deadline: the case is reported and due in it.
    start = reported_at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = deadline + timedelta(days=1)
    figures = ok(
        api.get(
            url(SHIBEI, "/stats/cases"),
            headers=staff,
            params={"start": start.isoformat(), "end": end.isoformat(), "group_by": "category"},
        )
    )
    group = next(g for g in figures["groups"] if g["key"] == STAIRWELL_CLUTTER)
    assert group["label"] == "楼道堆积物"
    assert (group["reported"], group["by_state"]) == (1, {"rated": 1})
    # Due in the period and closed before its deadline, after one reopening.
    assert (group["due"], group["closed"], group["closed_on_time"]) == (1, 1, 1)
    assert (group["reopened"], group["extended"]) == (1, 0)
    assert (group["ratings"], group["satisfied_ratings"], group["unsatisfied_ratings"]) == (2, 1, 1)
    assert group["closure_rate"] == 1.0  # 结案率 = closed / due = 1 / 1
    assert group["on_time_closure_rate"] == 1.0  # 按期结案率 = 1 / 1
    assert group["rework_rate"] == 1.0  # 返工率 = reopened / closed = 1 / 1
    assert group["extension_rate"] == 0.0  # 延期率 = extended / due = 0 / 1
    assert group["satisfaction_rate"] == 0.5  # 满意率 = satisfied / ratings = 1 / 2
    assert (group["open"], group["overdue"]) == (0, 0)
    # Working time only, so at most the wall-clock time the handling took.
    assert 0 <= group["mean_handling_seconds"] <= headline["elapsed_s"] + 1
    assert figures["total"]["reported"] >= 1
    assert datetime.fromisoformat(figures["start"]) == start


def test_the_default_period_is_the_current_beijing_month(
    api: TestClient, headline: dict[str, Any], staff: Headers
) -> None:
    figures = ok(api.get(url(SHIBEI, "/stats/cases"), headers=staff))
    start = datetime.fromisoformat(figures["start"])
    assert (start.day, start.hour, start.utcoffset()) == (1, 0, timedelta(hours=8))
    reported_at = datetime.fromisoformat(headline["rated"]["reported_at"])
    if reported_at >= start:  # not across a month's turn since the report
        assert figures["total"]["reported"] >= 1
        assert figures["total"]["by_state"].get("rated", 0) >= 1


def test_a_street_reads_the_statistics_per_community(
    api: TestClient, headline: dict[str, Any], staff: Headers, token_of: Login
) -> None:
    street = ok(
        api.get(
            url(BEIGAN, "/stats/cases"),
            headers=auth(token_of("beigan-admin")),
            params={"group_by": "community"},
        )
    )
    community = ok(api.get(url(SHIBEI, "/stats/cases"), headers=staff))
    shibei_group = next(g for g in street["groups"] if g["key"] == SHIBEI)
    assert shibei_group["reported"] == community["total"]["reported"] >= 1
    assert shibei_group["by_state"] == community["total"]["by_state"]


def test_residents_do_not_read_the_statistics(api: TestClient, resident: Headers) -> None:
    assert_problem(api.get(url(SHIBEI, "/stats/cases"), headers=resident), 403)


# ---- routing to the community queue ----


def test_a_report_at_an_uncovered_building_goes_to_the_community_queue(
    api: TestClient, shibei: dict[str, Any], resident: Headers, staff: Headers
) -> None:
    case = report(api, resident, shibei["uncovered"])
    assert case["state"] == "dispatched"
    assert (case["assignee"], case["level"]) == ("queue:community", "community")
    assert case["assignee_member_id"] is None
    timeline = ok(api.get(url(SHIBEI, f"/cases/{case['id']}/timeline"), headers=staff))["items"]
    assert [e["action"] for e in timeline] == ["report", "accept", "dispatch"]
    assert timeline[2]["data"]["routing"] == "not_covered"
    # Staff pick it up from the queue: they may hand it on or handle it themselves.
    as_staff = ok(api.get(url(SHIBEI, f"/cases/{case['id']}"), headers=staff))
    assert {"reassign", "resolve", "escalate"} <= set(as_staff["allowed_actions"])


def test_a_report_without_a_place_waits_for_staff_to_accept_it(
    api: TestClient, resident: Headers, staff: Headers
) -> None:
    case = report(api, resident, None)
    assert (case["state"], case["deadline"]) == ("reported", None)
    as_staff = ok(api.get(url(SHIBEI, f"/cases/{case['id']}"), headers=staff))
    assert {"accept", "reject"} <= set(as_staff["allowed_actions"])
    rejected = done(api, staff, as_staff, "reject", note="经核实为私人物品，已告知本人")
    assert (rejected["state"], rejected["state_label"]) == ("rejected", "不予立案")


# ---- refusals: the lifecycle, the roles, the versions ----


def test_closing_a_dispatched_case_is_a_409_naming_the_state_and_what_is_allowed(
    api: TestClient, shibei: dict[str, Any], resident: Headers, staff: Headers
) -> None:
    case = report(api, resident, shibei["covered"])
    problem = assert_problem(act(api, staff, case, "close"), 409, "cases.illegal_transition")
    assert problem["params"]["state"] == "dispatched"
    allowed = problem["params"]["allowed_actions"].split(",")
    assert {"start", "resolve", "reassign"} <= set(allowed)
    assert "close" not in allowed
    assert "已派遣" in problem["detail"]


def test_a_resident_may_not_verify_even_their_own_case(
    api: TestClient, shibei: dict[str, Any], resident: Headers, worker: Headers
) -> None:
    case = report(api, resident, shibei["covered"])
    resolved = done(api, worker, case, "resolve", note="已清理")
    problem = assert_problem(
        act(api, resident, resolved, "verify"), 403, "cases.action_not_permitted"
    )
    assert problem["params"]["action"] == "verify"


def test_a_grid_worker_may_not_resolve_a_case_not_assigned_to_them(
    api: TestClient, shibei: dict[str, Any], worker: Headers
) -> None:
    # shibei-grid reports it from a visit; nobody covers the building: it is the queue's.
    case = report(api, worker, shibei["uncovered"])
    assert (case["source"], case["assignee"]) == ("visit", "queue:community")
    problem = assert_problem(
        act(api, worker, case, "resolve", note="顺手处理了"), 403, "cases.action_not_permitted"
    )
    assert problem["params"]["action"] == "resolve"


def test_a_stale_expected_version_is_a_409(
    api: TestClient, shibei: dict[str, Any], resident: Headers, worker: Headers
) -> None:
    case = report(api, resident, shibei["covered"])
    started = done(api, worker, case, "start")
    assert started["version"] == case["version"] + 1
    # The worker acts on the version read before starting: someone (they) moved it on since.
    stale = assert_problem(
        act(api, worker, case, "suspend", note="等物业回复"), 409, "cases.stale_version"
    )
    assert stale["params"]["current_version"] == str(started["version"])


def test_a_resident_sees_only_their_own_cases(
    api: TestClient,
    shibei: dict[str, Any],
    resident: Headers,
    worker: Headers,
    staff: Headers,
) -> None:
    own = report(api, resident, shibei["uncovered"], title="单元门口有旧床垫")
    someone_elses = report(api, worker, shibei["uncovered"], title="车棚旁有旧冰箱")
    listed = ok(api.get(url(SHIBEI, "/cases?page_size=500"), headers=resident))["items"]
    ids = {c["id"] for c in listed}
    assert own["id"] in ids
    assert someone_elses["id"] not in ids
    assert {c["reporter_subject"] for c in listed} == {subject_of(resident)}
    # Staff see both; another's case is not found for the resident, not forbidden.
    everything = ok(api.get(url(SHIBEI, "/cases?page_size=500"), headers=staff))["items"]
    assert {own["id"], someone_elses["id"]} <= {c["id"] for c in everything}
    hidden = api.get(url(SHIBEI, f"/cases/{someone_elses['id']}"), headers=resident)
    assert_problem(hidden, 404)


def test_the_list_filters_by_state_mine_and_text(
    api: TestClient,
    headline: dict[str, Any],
    shibei: dict[str, Any],
    worker: Headers,
    staff: Headers,
) -> None:
    rated = ok(
        api.get(url(SHIBEI, "/cases"), headers=staff, params={"state": ["rated", "closed"]})
    )["items"]
    assert headline["rated"]["id"] in {c["id"] for c in rated}
    assert {c["state"] for c in rated} <= {"rated", "closed"}
    mine = ok(api.get(url(SHIBEI, "/cases"), headers=worker, params={"mine": "assigned"}))["items"]
    assert mine
    assert {c["assignee"] for c in mine} == {subject_of(worker)}
    found = ok(api.get(url(SHIBEI, "/cases"), headers=staff, params={"q": "二楼转角"}))["items"]
    assert [c["id"] for c in found] == [headline["rated"]["id"]]
    at_building = ok(
        api.get(
            url(SHIBEI, "/cases"),
            headers=staff,
            params={"building_id": shibei["covered"], "category": STAIRWELL_CLUTTER},
        )
    )["items"]
    assert [c["id"] for c in at_building] == [headline["rated"]["id"]]


def test_a_list_is_paged_newest_first(
    api: TestClient, shibei: dict[str, Any], resident: Headers, staff: Headers
) -> None:
    for _ in range(3):
        report(api, resident, shibei["uncovered"])
    first = ok(api.get(url(SHIBEI, "/cases?page_size=2"), headers=staff))
    assert len(first["items"]) == 2
    assert first["next_page_token"]
    second = ok(
        api.get(
            url(SHIBEI, "/cases"),
            headers=staff,
            params={"page_size": 2, "page_token": first["next_page_token"]},
        )
    )
    assert not {c["id"] for c in first["items"]} & {c["id"] for c in second["items"]}
    times = [datetime.fromisoformat(c["reported_at"]) for c in first["items"] + second["items"]]
    assert times == sorted(times, reverse=True)


def test_a_retried_report_with_the_same_idempotency_key_reports_once(
    api: TestClient, shibei: dict[str, Any], resident: Headers
) -> None:
    key = f"app-{uuid.uuid4()}"
    body = {
        "category_code": OTHER_CATEGORY,
        "title": "楼下弃置旧衣柜",
        "place": {"building_id": shibei["uncovered"]},
    }
    headers = resident | {"Idempotency-Key": key}
    first = ok(api.post(url(SHIBEI, "/cases"), headers=headers, json=body), 201)
    again = ok(api.post(url(SHIBEI, "/cases"), headers=headers, json=body), 201)
    assert again["id"] == first["id"]
    assert again["number"] == first["number"]


# ---- bad input: 422 naming the field, never a 500 ----


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"category_code": "9999", "title": "楼道有杂物"}, "category_code"),
        ({"category_code": "01x3", "title": "楼道有杂物"}, "body.category_code"),
        ({"category_code": OTHER_CATEGORY, "title": "   "}, "body.title"),
        ({"category_code": OTHER_CATEGORY, "title": "x", "source": "fax"}, "body.source"),
        ({"category_code": OTHER_CATEGORY, "title": "x", "place": {"building_id": "1幢"}},
         "body.place.building_id"),
        ({"category_code": OTHER_CATEGORY, "title": "x", "place": {"latitude": 30.2}},
         "body.place"),
    ],
)  # fmt: skip
def test_a_bad_report_is_a_422_naming_the_field(
    api: TestClient, resident: Headers, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(api.post(url(SHIBEI, "/cases"), headers=resident, json=body), 422)
    assert field in fields_of(problem)


def test_an_unknown_source_word_lists_the_allowed_words(api: TestClient, resident: Headers) -> None:
    body = {"category_code": OTHER_CATEGORY, "title": "x", "source": "fax"}
    problem = assert_problem(api.post(url(SHIBEI, "/cases"), headers=resident, json=body), 422)
    assert "hotline_12345" in problem["errors"][0]["detail"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"action": "teleport"}, "body.action"),
        ({"action": "request_extension", "until": "next friday", "note": "等配件"}, "body.until"),
        ({"action": "rate", "rating": "great"}, "body.rating"),
        ({"action": "start", "expected_version": 0}, "body.expected_version"),
    ],
)
def test_a_bad_action_is_a_422_naming_the_field(
    api: TestClient,
    shibei: dict[str, Any],
    resident: Headers,
    worker: Headers,
    fields: dict[str, Any],
    field: str,
) -> None:
    case = report(api, resident, shibei["covered"])
    problem = assert_problem(act(api, worker, case, **fields), 422)
    assert field in fields_of(problem)


def test_an_extension_into_the_past_is_a_422_naming_until(
    api: TestClient, shibei: dict[str, Any], resident: Headers, worker: Headers
) -> None:
    case = report(api, resident, shibei["covered"])
    response = act(
        api, worker, case, "request_extension", until="2020-01-01T09:00:00", note="等配件"
    )
    problem = assert_problem(response, 422)
    assert any("until" in f for f in fields_of(problem))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"state": ["rated", "finished"]}, "query.state.1"),
        ({"mine": "everyone"}, "query.mine"),
        ({"since": "yesterday"}, "query.since"),
        ({"since": "2026-11-02T00:00:00", "until": "2026-11-01T00:00:00"}, "query.until"),
    ],
)
def test_a_bad_list_filter_is_a_422_naming_it(
    api: TestClient, staff: Headers, query: dict[str, Any], field: str
) -> None:
    problem = assert_problem(api.get(url(SHIBEI, "/cases"), headers=staff, params=query), 422)
    assert field in fields_of(problem)


def test_a_case_id_that_is_no_id_is_refused_not_a_500(api: TestClient, staff: Headers) -> None:
    response = api.get(url(SHIBEI, "/cases/not-a-case"), headers=staff)
    assert response.status_code in (404, 422)
    assert_problem(response, response.status_code)


# ---- categories and calendar ----


def test_the_default_catalogue_is_in_force_without_seeding(
    api: TestClient, resident: Headers
) -> None:
    categories = ok(api.get(url(SHIBEI, "/case-categories"), headers=resident))["items"]
    by_code = {c["code"]: c for c in categories}
    clutter = by_code[STAIRWELL_CLUTTER]
    assert (clutter["name"], clutter["major_name"]) == ("楼道堆积物", "市容环境")
    assert (clutter["deadline_amount"], clutter["deadline_unit"]) == (3, "working_days")
    assert clutter["responsible_level"] == "micro_grid"
    assert clutter["acceptance_standard"]
    assert clutter["closing_standard"]
    assert {c["major_code"] for c in categories} == {f"{n:02d}" for n in range(1, 11)}
    assert all(len(c["code"]) == 4 for c in categories)


def test_staff_add_and_edit_their_own_category_with_versions(
    api: TestClient, staff: Headers, resident: Headers
) -> None:
    definition = {
        "name": "楼道电动车充电",
        "acceptance_standard": "楼道、门厅内停放电动自行车或飞线充电",
        "closing_standard": "车辆移出，充电线拆除",
        "deadline_amount": 4,
        "deadline_unit": "working_hours",
        "responsible_level": "micro_grid",
        "urgent": True,
    }
    path = url(SHIBEI, "/case-categories/0199")
    added = ok(api.put(path, headers=staff, json=definition | {"expected_version": 0}))
    assert (added["defined_by"], added["version"], added["urgent"]) == (SHIBEI, 1, True)
    assert added["major_name"] == "市容环境"
    edited = ok(
        api.put(
            path, headers=staff, json=definition | {"deadline_amount": 2, "expected_version": 1}
        )
    )
    assert (edited["deadline_amount"], edited["version"]) == (2, 2)
    assert ok(api.get(path, headers=resident))["deadline_amount"] == 2
    assert_problem(api.put(path, headers=staff, json=definition | {"expected_version": 1}), 409)
    assert_problem(api.put(path, headers=resident, json=definition | {"expected_version": 2}), 403)
    refused = assert_problem(
        api.put(
            path, headers=staff, json=definition | {"deadline_unit": "weeks", "expected_version": 2}
        ),
        422,
    )
    assert "body.deadline_unit" in fields_of(refused)


def test_an_unknown_or_malformed_category_code_is_refused(api: TestClient, staff: Headers) -> None:
    assert_problem(api.get(url(SHIBEI, "/case-categories/9998"), headers=staff), 404)
    malformed = assert_problem(api.get(url(SHIBEI, "/case-categories/01x3"), headers=staff), 422)
    assert "path.code" in fields_of(malformed)


def test_seeding_the_catalogue_twice_adds_nothing_the_second_time(
    api: TestClient, staff: Headers, resident: Headers
) -> None:
    ok(api.post(url(SHIBEI, "/case-categories/seed"), headers=staff))
    assert ok(api.post(url(SHIBEI, "/case-categories/seed"), headers=staff))["added"] == 0
    assert_problem(api.post(url(SHIBEI, "/case-categories/seed"), headers=resident), 403)


def test_staff_add_a_holiday_to_the_calendar(
    api: TestClient, staff: Headers, resident: Headers
) -> None:
    calendar = ok(api.get(url(SHIBEI, "/case-calendar"), headers=staff))
    assert "2026-10-01" in calendar["effective_holidays"]  # National Day, the official table
    put = ok(
        api.put(
            url(SHIBEI, "/case-calendar"),
            headers=staff,
            json={"holidays": ["2027-03-15"], "expected_version": calendar["version"]},
        )
    )
    assert put["holidays"] == ["2027-03-15"]
    assert "2027-03-15" in put["effective_holidays"]
    assert put["version"] == calendar["version"] + 1
    stale = api.put(
        url(SHIBEI, "/case-calendar"),
        headers=staff,
        json={"holidays": [], "expected_version": calendar["version"]},
    )
    assert_problem(stale, 409)
    refused = api.put(
        url(SHIBEI, "/case-calendar"),
        headers=resident,
        json={"holidays": [], "expected_version": put["version"]},
    )
    assert_problem(refused, 403)


# ---- the events on shequ.cases.v1 ----


def case_events(infra: LocalInfrastructure, case_id: str) -> list[tuple[dict[str, bytes], bytes]]:
    consumer = KafkaConsumer(
        EVENTS_TOPIC,
        bootstrap_servers=infra.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"test-{uuid.uuid4().hex}",
        consumer_timeout_ms=5_000,
    )
    try:
        key = f"{SHIBEI}/{case_id}".encode()
        return [(dict(r.headers), r.value) for r in consumer if r.key == key]
    finally:
        consumer.close()


def test_the_case_is_published_without_personal_data(
    infra: LocalInfrastructure,
    cases_service: CasesServices,
    headline: dict[str, Any],
    token_of: Login,
) -> None:
    with OutboxRelay(
        cases_service.cases.engine, service="cases", bootstrap_servers=infra.kafka.bootstrap_servers
    ) as relay:
        while relay.run_once():
            pass
    case_id = headline["rated"]["id"]
    events = case_events(infra, case_id)
    types = [headers["ce_type"].decode() for headers, _ in events]
    assert types[0] == "shequ.cases.v1.CaseReported"
    assert types[1:] == ["shequ.cases.v1.CaseActionTaken"] * 11
    assert {headers["ce_tenant"] for headers, _ in events} == {SHIBEI.encode()}

    reported = events_pb2.CaseReported.FromString(events[0][1])
    assert (reported.tenant.tenant_id, reported.case.case_id) == (SHIBEI, case_id)
    assert reported.case.category_code == STAIRWELL_CLUTTER
    actions = [events_pb2.CaseActionTaken.FromString(value) for _, value in events[1:]]
    assert [a.action for a in actions] == [
        "accept", "dispatch", "start", "resolve", "verify", "close",
        "rate", "resolve", "verify", "close", "rate",
    ]  # fmt: skip
    assert actions[-1].case.state == cases_pb2.CASE_STATE_RATED
    assert not actions[-1].case.open

    resident_claims = claims_of(token_of("shibei-resident"))
    personal = [
        "纸箱从一楼堆到二楼转角",  # the description
        "晴川苑1幢楼道堆满纸箱",  # the title
        "晴川苑1幢2单元",  # the address
        "13812345678",
        "138****5678",
        "第二天又堆上了",  # a note
        str(resident_claims.get("name") or "居民"),
        str(resident_claims["preferred_username"]),
    ]
    for _, value in events:
        for text in personal:
            assert text.encode() not in value, text


# ---- every route: tenants and tokens ----


def test_the_route_list_of_these_tests_is_every_case_route(api: TestClient) -> None:
    openapi = api.app.openapi()  # type: ignore[attr-defined]
    assert served_routes(openapi, case_views.router.tags[0]) == set(CASE_ROUTES)


@pytest.mark.parametrize(("method", "path"), CASE_ROUTES)
def test_hushan_staff_get_403_on_every_shibei_case_route(
    api: TestClient, token_of: Login, headline: dict[str, Any], method: str, path: str
) -> None:
    filled = path.replace("{case_id}", headline["rated"]["id"]).replace("{code}", STAIRWELL_CLUTTER)
    response = call_route(api, method, filled, SHIBEI, auth(token_of("hushan-staff")))
    problem = assert_problem(response, 403, "auth.permission_denied")
    assert problem["params"] == {"tenant": SHIBEI}


@pytest.fixture(scope="module")
def late_api(cases_gateway: GatewayCore, token_of: Login) -> TestClient:
    """The gateway an hour after shibei-staff's token expired."""
    expires_at = float(claims_of(token_of("shibei-staff"))["exp"])
    late = TokenVerifier(
        issuer=cases_gateway.settings.issuer, audience="shequ", clock=lambda: expires_at + 3600
    )
    return TestClient(
        create_app(replace(cases_gateway, verifier=late)), raise_server_exceptions=False
    )


@pytest.mark.parametrize("kind", ["missing", "forged", "expired"])
@pytest.mark.parametrize(("method", "path"), CASE_ROUTES)
def test_every_case_route_needs_a_valid_token(
    api: TestClient, late_api: TestClient, token_of: Login, kind: str, method: str, path: str
) -> None:
    real = token_of("shibei-staff")
    client, headers = {
        "missing": (api, {}),
        "forged": (api, auth(with_tampered_claims(real, groups=["/platform-admin"]))),
        "expired": (late_api, auth(real)),
    }[kind]
    response = call_route(client, method, path, SHIBEI, headers)
    assert_problem(response, 401, "auth.unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")
