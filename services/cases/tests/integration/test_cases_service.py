"""The cases service against real PostgreSQL, Kafka and Keycloak: intake, manual dispatch, the
lifecycle's refusals, who sees what, the catalogue and calendar across street and community,
onboarding from the gateway's event, and the escalation scheduler with two replicas."""

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import grpc
import pytest
from kafka import KafkaProducer

from cases.catalogue import STAIRWELL_CLUTTER
from cases.config import CasesSettings
from cases.sla import SHANGHAI
from shequ.cases.v1 import cases_pb2 as pb
from shequ.gateway.v1 import events_pb2 as gpb
from shequ_infra import LocalInfrastructure
from shequ_infra.grpc_calls import Call
from shequ_kit.cloudevents import event_headers, record_key
from shequ_kit.grpc_client import error_detail
from shequ_kit.tenancy import TenantId

from .conftest import HUSHAN, SHUSHAN, XIANGYUAN, Sql

HUSHAN_GRID_SUBJECT = "5e0c1a2b-9f3d-4c6e-8a71-2b4d6f8e0a13"


def refused(action: Callable[[], Any], code: grpc.StatusCode) -> Any:
    with pytest.raises(grpc.RpcError) as caught:
        action()
    assert caught.value.code() == code, caught.value.details()
    return error_detail(caught.value)


def phone_report(call: Call, **fields: Any) -> pb.Case:
    request = pb.ReportCaseRequest(
        category_code=STAIRWELL_CLUTTER,
        title="3幢2单元楼道堆放纸箱",
        description="居民来电：楼道里堆了很多纸箱，影响通行",
        source=pb.CASE_SOURCE_PHONE,
        reporter_name="王秀英",
        reporter_phone="13812345678",
    )
    for name, value in fields.items():
        setattr(request, name, value)
    return call("ReportCase", request).case  # type: ignore[no-any-return]


def act(
    call: Call, case: pb.Case, action: str, user: str = "hushan-staff", **fields: Any
) -> pb.Case:
    request = pb.TakeActionRequest(
        case_id=case.id, action=action, expected_version=case.version, **fields
    )
    return call("TakeAction", request, user=user).case  # type: ignore[no-any-return]


def test_a_phone_report_waits_in_intake_until_staff_accept_and_dispatch(call: Call) -> None:
    case = phone_report(call)
    assert case.state == pb.CASE_STATE_REPORTED
    assert re.fullmatch(r"\d{8}-\d{4}", case.number)
    # The phone is kept masked; staff recording a call leaves no reporting account behind.
    assert (case.reporter_phone, case.reporter_subject) == ("138****5678", "")
    assert set(case.allowed_actions) == {"accept", "reject", "void", "merge"}
    assert not case.HasField("deadline")

    accepted = act(call, case, "accept")
    dispatched = act(call, accepted, "dispatch", assignee=HUSHAN_GRID_SUBJECT)
    assert dispatched.state == pb.CASE_STATE_DISPATCHED
    assert dispatched.assignee == HUSHAN_GRID_SUBJECT
    assert dispatched.level == pb.LEVEL_MICRO_GRID
    assert dispatched.deadline.ToDatetime(tzinfo=UTC) > dispatched.dispatched_at.ToDatetime(
        tzinfo=UTC
    )
    # The assigned grid worker sees it and may act; staff see what staff may do.
    mine = call("ListCases", pb.ListCasesRequest(assigned_to_me=True), user="hushan-grid").cases
    assert dispatched.id in [c.id for c in mine]
    as_worker = call("GetCase", pb.GetCaseRequest(case_id=case.id), user="hushan-grid").case
    assert {"start", "resolve", "suspend", "request_extension"} <= set(as_worker.allowed_actions)
    assert "verify" not in as_worker.allowed_actions

    timeline = call("ListTimeline", pb.ListTimelineRequest(case_id=case.id)).entries
    assert [e.action for e in timeline] == ["report", "accept", "dispatch"]
    assert [(e.from_state, e.to_state) for e in timeline[1:]] == [
        (pb.CASE_STATE_REPORTED, pb.CASE_STATE_ACCEPTED),
        (pb.CASE_STATE_ACCEPTED, pb.CASE_STATE_DISPATCHED),
    ]
    assert timeline[2].data["assignee_id"] == HUSHAN_GRID_SUBJECT


def test_a_located_case_goes_to_the_community_queue_while_grid_is_unreachable(
    call: Call,
) -> None:
    building = str(uuid.uuid4())
    report = call(
        "ReportCase",
        pb.ReportCaseRequest(
            category_code=STAIRWELL_CLUTTER,
            title="楼道堆物",
            place=pb.Place(building_id=building, address="湖山花园3幢"),
        ),
        user="hushan-resident",
    )
    case = report.case
    assert case.state == pb.CASE_STATE_DISPATCHED
    assert (case.assignee, case.level) == ("queue:community", pb.LEVEL_COMMUNITY)
    assert case.source == pb.CASE_SOURCE_RESIDENT_APP
    assert [e.action for e in report.timeline] == ["report", "accept", "dispatch"]
    assert report.timeline[2].data["routing"] == "grid_unavailable"
    assert report.timeline[2].actor == "system:router"


def test_the_lifecycle_refuses_illegal_steps_wrong_people_and_stale_versions(call: Call) -> None:
    case = act(
        call, act(call, phone_report(call), "accept"), "dispatch", assignee=HUSHAN_GRID_SUBJECT
    )

    detail = refused(lambda: act(call, case, "close"), grpc.StatusCode.FAILED_PRECONDITION)
    assert detail.code == "cases.illegal_transition"
    assert detail.params["state"] == "dispatched"
    assert "close" not in detail.params["allowed_actions"].split(",")
    assert "start" in detail.params["allowed_actions"].split(",")
    assert "处置" in detail.message_zh

    # A resident who did not report it does not even see it.
    refused(lambda: act(call, case, "start", user="hushan-resident"), grpc.StatusCode.NOT_FOUND)
    started = act(call, case, "start", user="hushan-grid")
    resolved = act(call, started, "resolve", user="hushan-grid", note="已清理", photos=["p/1.jpg"])
    # The assignee does not verify their own work.
    detail = refused(
        lambda: act(call, resolved, "verify", user="hushan-grid"), grpc.StatusCode.PERMISSION_DENIED
    )
    assert detail.code == "cases.action_not_permitted"
    # Someone else moved it on since version `started` was read.
    detail = refused(
        lambda: act(call, started, "suspend", note="x"), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert detail.code in ("cases.stale_version", "cases.illegal_transition")
    detail = refused(
        lambda: call(
            "TakeAction",
            pb.TakeActionRequest(case_id=case.id, action="teleport", expected_version=1),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert detail.field_violations[0].field == "action"
    stale = pb.TakeActionRequest(case_id=case.id, action="verify", expected_version=2)
    detail = refused(lambda: call("TakeAction", stale), grpc.StatusCode.FAILED_PRECONDITION)
    assert detail.code == "cases.stale_version"


def test_residents_see_their_own_cases_and_other_communities_see_nothing(call: Call) -> None:
    staff_case = phone_report(call)
    own = call(
        "ReportCase",
        pb.ReportCaseRequest(category_code=STAIRWELL_CLUTTER, title="我家楼道有杂物"),
        user="hushan-resident",
    ).case
    listed = call("ListCases", pb.ListCasesRequest(), user="hushan-resident").cases
    assert own.id in [c.id for c in listed]
    assert all(c.reporter_subject == own.reporter_subject for c in listed)
    refused(
        lambda: call("GetCase", pb.GetCaseRequest(case_id=staff_case.id), user="hushan-resident"),
        grpc.StatusCode.NOT_FOUND,
    )
    for method, request in (
        ("GetCase", pb.GetCaseRequest(case_id=staff_case.id)),
        ("ListCases", pb.ListCasesRequest()),
        ("ListTimeline", pb.ListTimelineRequest(case_id=staff_case.id)),
        (
            "TakeAction",
            pb.TakeActionRequest(case_id=staff_case.id, action="accept", expected_version=1),
        ),
        ("ReportCase", pb.ReportCaseRequest(category_code=STAIRWELL_CLUTTER, title="越权")),
        ("GetStatistics", pb.GetStatisticsRequest()),
        ("ListCategories", pb.ListCategoriesRequest()),
    ):
        refused(
            lambda m=method, r=request: call(m, r, user="xiangyuan-staff"),  # type: ignore[misc]
            grpc.StatusCode.PERMISSION_DENIED,
        )
    # In its own tenant, Xiangyuan's staff cannot reach a Hushan case by id either.
    refused(
        lambda: call(
            "GetCase",
            pb.GetCaseRequest(case_id=staff_case.id),
            user="xiangyuan-staff",
            tenant=XIANGYUAN,
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    refused(
        lambda: call("ListCases", pb.ListCasesRequest(), token="not-a-token"),
        grpc.StatusCode.UNAUTHENTICATED,
    )


def test_a_street_default_applies_to_its_communities_until_one_edits_its_own(call: Call) -> None:
    listed = call("ListCategories", pb.ListCategoriesRequest()).categories
    clutter = next(c for c in listed if c.code == STAIRWELL_CLUTTER)
    assert "楼道" in clutter.name
    assert clutter.acceptance_standard
    assert clutter.closing_standard
    assert {c.major_name for c in listed} >= {
        "市容环境",
        "矛盾纠纷",
        "信访",
        "物业",
        "反诈",
        "为民服务",
    }

    street = pb.Category()
    street.CopyFrom(clutter)
    street.deadline_amount = clutter.deadline_amount + 2
    put = call(
        "PutCategory",
        pb.PutCategoryRequest(category=street, expected_version=0),
        user="shushan-admin",
        tenant=SHUSHAN,
    ).category
    assert put.defined_by == SHUSHAN
    seen = call("GetCategory", pb.GetCategoryRequest(code=STAIRWELL_CLUTTER)).category
    assert (seen.defined_by, seen.deadline_amount) == (SHUSHAN, street.deadline_amount)

    own = pb.Category()
    own.CopyFrom(seen)
    own.deadline_amount = 1
    own.deadline_unit = pb.DEADLINE_UNIT_WORKING_DAYS
    mine = call(
        "PutCategory", pb.PutCategoryRequest(category=own, expected_version=seen.version)
    ).category
    assert (mine.defined_by, mine.deadline_amount) == (HUSHAN, 1)
    # Xiangyuan still follows the street.
    theirs = call(
        "GetCategory",
        pb.GetCategoryRequest(code=STAIRWELL_CLUTTER),
        user="xiangyuan-staff",
        tenant=XIANGYUAN,
    ).category
    assert theirs.defined_by == SHUSHAN
    detail = refused(
        lambda: call("PutCategory", pb.PutCategoryRequest(category=own, expected_version=0)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert detail.code == "cases.stale_version"
    bad = pb.Category()
    bad.CopyFrom(own)
    bad.code = "12A"
    detail = refused(
        lambda: call("PutCategory", pb.PutCategoryRequest(category=bad)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert detail.field_violations[0].field == "category.code"
    refused(
        lambda: call("PutCategory", pb.PutCategoryRequest(category=own), user="hushan-resident"),
        grpc.StatusCode.PERMISSION_DENIED,
    )


def test_a_holiday_the_community_adds_moves_a_working_day_deadline(call: Call) -> None:
    # A one-working-day class, dispatched now: due at the end of the next working day.
    category = call("GetCategory", pb.GetCategoryRequest(code=STAIRWELL_CLUTTER)).category
    one_day = pb.Category()
    one_day.CopyFrom(category)
    one_day.code = "0199"
    one_day.name = "测试一日类"
    one_day.deadline_amount, one_day.deadline_unit = 1, pb.DEADLINE_UNIT_WORKING_DAYS
    call("PutCategory", pb.PutCategoryRequest(category=one_day, expected_version=0))

    def dispatched_due() -> date:
        case = phone_report(call, category_code="0199")
        case = act(call, act(call, case, "accept"), "dispatch", assignee=HUSHAN_GRID_SUBJECT)
        return case.deadline.ToDatetime(tzinfo=UTC).astimezone(SHANGHAI).date()

    before = dispatched_due()
    calendar = call("GetCalendar", pb.GetCalendarRequest()).calendar
    call(
        "PutCalendar",
        pb.PutCalendarRequest(holidays=[before.isoformat()], expected_version=calendar.version),
    )
    after = dispatched_due()
    assert after > before
    assert (
        before.isoformat()
        in call("GetCalendar", pb.GetCalendarRequest()).calendar.effective_holidays
    )
    detail = refused(
        lambda: call(
            "PutCalendar", pb.PutCalendarRequest(holidays=["2026-13-01"], expected_version=1)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert detail.field_violations[0].field == "holidays[0]"
    call("PutCalendar", pb.PutCalendarRequest(expected_version=calendar.version + 1))


def test_an_onboarded_community_gets_the_default_catalogue(
    infra: LocalInfrastructure, settings: CasesSettings, sql: Sql
) -> None:
    tenant = "xiaoshan.shushan.junle"
    producer = KafkaProducer(bootstrap_servers=infra.kafka.bootstrap_servers, acks="all")
    message = gpb.TenantOnboarded()
    message.tenant.tenant_id = tenant
    event_id = uuid.uuid4()
    producer.send(
        settings.gateway_topic,
        key=record_key(TenantId(tenant), tenant).encode(),
        value=message.SerializeToString(),
        headers=event_headers(
            event_id=event_id,
            event_type="shequ.gateway.v1.TenantOnboarded",
            source="/shequ/gateway",
            subject=tenant,
            time=datetime.now(UTC),
            tenant=TenantId(tenant),
        ),
    ).get(timeout=10)
    producer.close()
    deadline = time.monotonic() + 20
    count = 0
    while time.monotonic() < deadline:
        count = sql("SELECT count(*) FROM category WHERE tenant_id = %s", tenant)[0][0]
        if count:
            break
        time.sleep(0.2)
    assert count >= 40
    assert sql("SELECT DISTINCT origin FROM category WHERE tenant_id = %s", tenant) == [
        ("default",)
    ]


def test_street_statistics_break_down_per_community(call: Call) -> None:
    hushan = phone_report(call)
    call(
        "ReportCase",
        pb.ReportCaseRequest(
            category_code=STAIRWELL_CLUTTER, title="湘源楼道堆物", source=pb.CASE_SOURCE_PHONE
        ),
        user="xiangyuan-staff",
        tenant=XIANGYUAN,
    )
    found = call(
        "GetStatistics",
        pb.GetStatisticsRequest(group_by=pb.STATISTICS_GROUPING_COMMUNITY),
        user="shushan-admin",
        tenant=SHUSHAN,
    )
    groups = {g.key: g for g in found.groups}
    assert {HUSHAN, XIANGYUAN} <= set(groups)
    assert found.total.reported == sum(g.reported for g in found.groups)
    hushan_own = call("GetStatistics", pb.GetStatisticsRequest())
    assert hushan_own.total.reported == groups[HUSHAN].reported
    assert hushan.id  # reported this month, so counted above
    refused(
        lambda: call("GetStatistics", pb.GetStatisticsRequest(), user="hushan-resident"),
        grpc.StatusCode.PERMISSION_DENIED,
    )


# -- the scheduler ------------------------------------------------------------------------------


@pytest.fixture
def two_schedulers(settings: CasesSettings) -> Iterator[None]:
    """Two real `python -m cases scheduler` processes, as two replicas would run."""
    env = os.environ | {
        "CASES_DATABASE_URL": settings.database_url,
        "CASES_KEYCLOAK_ISSUER": settings.keycloak_issuer,
        "CASES_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "CASES_GRID_TARGET": settings.grid_target,
        "CASES_SCHEDULER_INTERVAL_S": "0.2",
    }
    replicas = [
        subprocess.Popen([sys.executable, "-m", "cases", "scheduler"], env=env) for _ in range(2)
    ]
    yield
    for replica in replicas:
        replica.terminate()
    for replica in replicas:
        replica.wait(timeout=20)


def _make_overdue(sql: Sql, case_id: str) -> None:
    sql(
        # The first deadline stays: later rounds only bring the watch time forward.
        "UPDATE cases SET deadline = LEAST(deadline, now() - interval '1 hour'), "
        "escalate_at = now() - interval '1 second' WHERE id = %s",
        uuid.UUID(case_id),
    )


def _escalations(call: Call, case_id: str) -> list[pb.TimelineEntry]:
    entries = call("ListTimeline", pb.ListTimelineRequest(case_id=case_id)).entries
    return [e for e in entries if e.action == "escalate"]


def _wait_for(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.usefixtures("two_schedulers")
def test_an_overdue_case_climbs_one_level_per_period_once_with_two_schedulers(
    call: Call, sql: Sql
) -> None:
    case = act(
        call, act(call, phone_report(call), "accept"), "dispatch", assignee=HUSHAN_GRID_SUBJECT
    )
    assert case.level == pb.LEVEL_MICRO_GRID
    climbed: list[pb.TimelineEntry] = []
    for level in ("grid", "community", "street"):
        _make_overdue(sql, case.id)
        expected = len(climbed) + 1
        _wait_for(lambda n=expected: len(_escalations(call, case.id)) == n)  # type: ignore[misc]
        time.sleep(1.0)  # both replicas have polled several times since
        escalations = _escalations(call, case.id)
        assert len(escalations) == len(climbed) + 1
        climbed.append(escalations[-1])
        assert escalations[-1].data["to_level"] == level
        assert escalations[-1].data["reason"] == "overdue"
        assert escalations[-1].actor == "system:escalation-scheduler"
    # At the street there is nowhere higher: overdue again, it stays.
    _make_overdue(sql, case.id)
    time.sleep(1.5)
    assert len(_escalations(call, case.id)) == 3
    now = call("GetCase", pb.GetCaseRequest(case_id=case.id)).case
    assert (now.level, now.assignee) == (pb.LEVEL_STREET, "queue:street")
    assert now.state == pb.CASE_STATE_DISPATCHED  # escalation keeps the state
    # Notified through events: one CaseOverdue per deadline, one CaseActionTaken per climb.
    events = sql(
        "SELECT event_type, count(*) FROM outbox WHERE aggregate_id = %s GROUP BY event_type",
        case.id,
    )
    counted: dict[str, int] = {str(kind): int(n) for kind, n in events}
    assert counted["shequ.cases.v1.CaseOverdue"] == 1
    # Community staff lose their say once the street has it.
    detail = refused(lambda: act(call, now, "start"), grpc.StatusCode.PERMISSION_DENIED)
    assert "街道" in detail.message_zh
