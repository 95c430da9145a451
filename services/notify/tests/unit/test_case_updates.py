"""Which case fact tells whom, with which template, and what the text then says."""

from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from notify.builtin import BUILTIN, CASE_VARIABLES
from notify.case_updates import (
    CaseNotice,
    assignee_owner,
    audience_of,
    case_variables,
    notice_for_action,
    notice_for_overdue,
)
from notify.templates import render
from shequ.cases.v1 import cases_pb2 as cpb
from shequ.cases.v1 import events_pb2 as epb
from shequ.common.v1 import tenant_pb2

SHIBEI = "xiaoshan.beigan.shibei"
GRID_WORKER = "5d0f5f7e-1c1b-4a59-9d53-0a3c2f6f0b11"
RESIDENT = "8b4e3d2c-5a6f-4071-8b92-4d6e8f0a2c35"


def facts(**fields: object) -> epb.CaseFacts:
    defaults: dict[str, object] = {
        "case_id": "0b7e2d1c-3f4a-4b5c-8d6e-7f8091a2b3c4",
        "number": "SB-20261123-0007",
        "category_code": "0301",
        "category_name": "占道经营",
        "state": cpb.CASE_STATE_DISPATCHED,
        "level": cpb.LEVEL_MICRO_GRID,
        "assignee": GRID_WORKER,
        "reporter_subject": RESIDENT,
    }
    return epb.CaseFacts(**{**defaults, **fields})  # type: ignore[arg-type]


def action(name: str, **fields: object) -> epb.CaseActionTaken:
    extra = {k: fields.pop(k) for k in ("rating_requested", "rating") if k in fields}
    return epb.CaseActionTaken(
        tenant=tenant_pb2.TenantRef(tenant_id=SHIBEI),
        case=facts(**fields),
        action=name,
        **extra,  # type: ignore[arg-type]
    )


def told(message: epb.CaseActionTaken) -> tuple[str, str] | None:
    notice = notice_for_action(message)
    return None if notice is None else (notice.template_code, notice.owner)


@pytest.mark.parametrize(
    ("name", "template"),
    [
        ("dispatch", "case.dispatched"),
        ("reassign", "case.dispatched"),
        ("escalate", "case.escalated"),
    ],
)
def test_dispatching_reassigning_and_escalating_tell_the_assignee(name: str, template: str) -> None:
    assert told(action(name)) == (template, f"account:{GRID_WORKER}")


@pytest.mark.parametrize(
    ("assignee", "owner"),
    [
        ("member:6a1d6c0e-9a0b-4c47-8a51-2f7b9b0c1d2e", "role:community-staff"),
        ("queue:community", "role:community-staff"),
        ("queue:street", "role:street-admin"),
        (GRID_WORKER, f"account:{GRID_WORKER}"),
        ("", None),
    ],
)
def test_an_assignee_without_a_login_is_the_staffs_shared_inbox(
    assignee: str, owner: str | None
) -> None:
    assert assignee_owner(assignee) == owner


def test_a_case_escalated_to_the_street_queue_reaches_the_street_admins() -> None:
    notice = notice_for_action(action("escalate", assignee="queue:street", level=cpb.LEVEL_STREET))

    assert notice is not None
    assert (notice.owner, notice.greeting) == ("role:street-admin", "街道管理员")


@pytest.mark.parametrize(
    ("name", "template", "extra"),
    [
        ("accept", "case.accepted", {}),
        ("resolve", "case.resolved", {}),
        ("close", "case.rating_requested", {"rating_requested": True}),
    ],
)
def test_accepting_resolving_and_asking_for_a_rating_tell_the_reporter(
    name: str, template: str, extra: dict[str, object]
) -> None:
    assert told(action(name, **extra)) == (template, f"account:{RESIDENT}")
    assert told(action(name, reporter_subject="", **extra)) is None


def test_closing_without_a_rating_request_and_the_handlers_own_steps_tell_nobody() -> None:
    assert told(action("close")) is None
    for name in ("start", "verify", "suspend", "resume", "rate", "extend_deadline", "merge"):
        assert told(action(name)) is None, name


def test_an_overdue_case_tells_the_community_staff() -> None:
    notice = notice_for_overdue(
        epb.CaseOverdue(tenant=tenant_pb2.TenantRef(tenant_id=SHIBEI), case=facts())
    )

    assert (notice.template_code, notice.owner) == ("case.overdue", "role:community-staff")


def test_variables_are_labels_in_chinese_and_the_deadline_in_shanghai_time() -> None:
    deadline = Timestamp()
    deadline.FromDatetime(datetime(2026, 11, 23, 16, 30, tzinfo=UTC))
    notice = notice_for_action(action("reassign", deadline=deadline, level=cpb.LEVEL_GRID))
    assert notice is not None

    variables = case_variables(notice)

    assert set(variables) == set(CASE_VARIABLES)
    assert variables["deadline"] == "2026-11-24 00:30"
    assert (variables["level"], variables["state"], variables["action"]) == (
        "网格",
        "已派遣",
        "改派",
    )
    assert (variables["number"], variables["category"], variables["rating"]) == (
        "SB-20261123-0007",
        "占道经营",
        "",
    )


def test_a_case_without_a_deadline_renders_without_one() -> None:
    notice = notice_for_action(action("dispatch"))
    assert notice is not None
    template = BUILTIN["case.dispatched"]

    subject, body = render(template.subject, template.body, case_variables(notice), notice.greeting)

    assert subject == "【待办】事件 SB-20261123-0007 已派遣给您"
    assert body.startswith("处置人您好：事件 SB-20261123-0007（占道经营）已派遣给您")
    assert "前处置" not in body


def test_the_rendered_overdue_text_names_the_deadline_and_greets_nobody_by_a_wrong_name() -> None:
    deadline = Timestamp()
    deadline.FromDatetime(datetime(2026, 11, 20, 1, 0, tzinfo=UTC))
    notice = CaseNotice(
        "case.overdue",
        "role:community-staff",
        "社区工作人员",
        facts(deadline=deadline, state=cpb.CASE_STATE_IN_PROGRESS),
        "",
    )
    template = BUILTIN["case.overdue"]

    _, body = render(template.subject, template.body, case_variables(notice), notice.greeting)

    assert "已超过处置时限 2026-11-20 09:00" in body
    assert "处置中" in body


def test_a_rating_is_told_by_its_label() -> None:
    notice = notice_for_action(
        action("close", rating_requested=True, rating=cpb.RATING_BASICALLY_SATISFIED)
    )
    assert notice is not None
    assert case_variables(notice)["rating"] == "基本满意"


def test_the_notices_audience_is_its_one_owner() -> None:
    assert list(audience_of("role:community-staff").roles) == ["community-staff"]
    assert list(audience_of(f"account:{RESIDENT}").account_subjects) == [RESIDENT]
    assert not audience_of(f"account:{RESIDENT}").roles
