"""Audit entries without a database: who, which tenant and which request an entry names, what
it refuses to hold, and the cursor every process's log pages by."""

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from shequ.common.v1 import paging_pb2
from shequ_kit.audit import (
    PLATFORM,
    Actor,
    AuditEntry,
    AuditQuery,
    MissingActorError,
    acting_as,
    cursor_of,
    record,
)
from shequ_kit.context import call_context
from shequ_kit.errors import DomainError, ErrorKind
from shequ_kit.paging import Page, encode_token, page_of
from shequ_kit.tenancy import MissingTenantError, TenantId, tenant_scope
from shequ_kit.tokens import Principal, grants_from_groups

SHUSHAN = TenantId("xiaoshan.shushan")
HUSHAN = TenantId("xiaoshan.shushan.hushan")
SHIBEI = TenantId("xiaoshan.beigan.shibei")
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

ADMIN = Principal(
    subject="b5e1-subject",
    username="shushan-admin",
    grants=grants_from_groups(["/xiaoshan/shushan/street-admin"]),
    token="t",
    expires_at=NOW + timedelta(hours=1),
)


class RecordingSession:
    """Stands in for a session: keeps the values of every statement it is asked to run."""

    def __init__(self) -> None:
        self.inserted: list[dict[str, Any]] = []

    def execute(self, statement: ClauseElement) -> None:
        self.inserted.append(dict(statement.compile().params))


def recorded(**kwargs: Any) -> tuple[AuditEntry, dict[str, Any]]:
    session = RecordingSession()
    entry = record(
        cast(Session, session),
        kwargs.pop("action", "member.created"),
        summary="新建成员账号 junle-staff-01",
        summary_en="created the account junle-staff-01",
        **kwargs,
    )
    [row] = session.inserted
    return entry, row


def test_an_entry_names_the_calls_actor_request_and_tenant() -> None:
    with call_context(request_id="req-42", principal=ADMIN), tenant_scope(HUSHAN):
        entry, row = recorded(target_kind="member", target_id="u-1", detail={"roles": 2})
    assert (entry.actor_subject, entry.actor_name) == ("b5e1-subject", "shushan-admin")
    assert (entry.tenant, entry.request_id) == (HUSHAN, "req-42")
    assert row["tenant_id"] == HUSHAN.value
    assert row["actor_name"] == "shushan-admin"
    assert row["request_id"] == "req-42"
    assert row["detail"] == {"roles": 2}
    assert row["occurred_at"].tzinfo is not None


def test_a_named_actor_and_tenant_stand_in_for_an_empty_context() -> None:
    # The gateway's routes know the caller but do not bind it in context.
    entry, row = recorded(tenant=HUSHAN, actor=ADMIN)
    assert (entry.actor_name, entry.tenant) == ("shushan-admin", HUSHAN)
    assert row["request_id"] is None


def test_a_street_call_may_record_for_its_community_but_not_another_street() -> None:
    with call_context(request_id="r", principal=ADMIN), tenant_scope(SHUSHAN):
        entry, _ = recorded(tenant=HUSHAN)
        assert entry.tenant == HUSHAN
        with pytest.raises(DomainError) as refused:
            recorded(tenant=SHIBEI)
    assert refused.value.kind is ErrorKind.PERMISSION_DENIED


def test_a_processs_own_work_names_its_actor_unless_a_caller_is_bound() -> None:
    seed = Actor("synthetic-demo", "synthetic-demo")
    with acting_as(seed), tenant_scope(HUSHAN):
        entry, _ = recorded()
        assert entry.actor_name == "synthetic-demo"
        with call_context(request_id="r", principal=ADMIN):
            entry, _ = recorded()
    assert entry.actor_name == "shushan-admin"


def test_an_entry_without_a_tenant_or_an_actor_is_refused() -> None:
    with call_context(request_id="r", principal=ADMIN), pytest.raises(MissingTenantError):
        recorded()
    with tenant_scope(HUSHAN), pytest.raises(MissingActorError):
        recorded()


def test_an_action_on_the_whole_platform_has_no_tenant() -> None:
    with call_context(request_id="r", principal=ADMIN):
        entry, row = recorded(action="ops.outbox_replayed", tenant=PLATFORM)
    assert entry.tenant is None
    assert row["tenant_id"] is None


@pytest.mark.parametrize(
    "detail",
    [
        {"phone": "13812345678"},
        {"resident": {"id_number": "330109195003021241"}},
        {"rows": [{"contact_phone": "13812345678"}]},
    ],
)
def test_details_that_name_personal_data_are_refused(detail: dict[str, Any]) -> None:
    with (
        call_context(request_id="r", principal=ADMIN),
        tenant_scope(HUSHAN),
        pytest.raises(ValueError, match="personal data"),
    ):
        recorded(detail=detail)


@pytest.mark.parametrize("action", ["revealed", "PII.revealed", "pii..revealed", "pii.revealed "])
def test_actions_are_dotted_lower_case_codes(action: str) -> None:
    with (
        call_context(request_id="r", principal=ADMIN),
        tenant_scope(HUSHAN),
        pytest.raises(ValueError, match="dotted"),
    ):
        recorded(action=action)


def entry_at(moment: datetime) -> AuditEntry:
    return AuditEntry(
        id=uuid.uuid4(),
        tenant=HUSHAN,
        occurred_at=moment,
        actor_subject="s",
        actor_name="u",
        action="pii.revealed",
        target_kind="resident",
        target_id="r",
        summary="查看",
        summary_en="revealed",
    )


def test_a_page_token_names_the_last_entrys_place_in_utc() -> None:
    shanghai = datetime(2026, 11, 23, 16, 0, 0, 123456).astimezone()
    entry = entry_at(shanghai)
    after = cursor_of(Page(size=10, after=entry.cursor))
    assert after == (shanghai, entry.id)
    assert after is not None
    assert after[0].utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "after",
    [
        ["2026-11-23T08:00:00", str(uuid.uuid4())],  # no offset: not one we issued
        ["yesterday", str(uuid.uuid4())],
        [NOW.isoformat(), "not-a-uuid"],
        [NOW.isoformat()],
    ],
)
def test_a_cursor_the_log_did_not_issue_is_refused(after: list[str]) -> None:
    with pytest.raises(DomainError) as refused:
        cursor_of(Page(size=10, after=after))
    assert refused.value.code == "paging.page_token"


def test_the_first_page_has_no_cursor_and_a_handed_out_token_comes_back_as_the_entry() -> None:
    assert cursor_of(page_of(paging_pb2.PageRequest(page_size=5))) is None
    entry = entry_at(NOW)
    # What list_entries hands out as next_page_token, as the next request brings it back.
    token = encode_token(entry.cursor)
    assert cursor_of(page_of(paging_pb2.PageRequest(page_token=token))) == (NOW, entry.id)


def test_queries_refuse_wildcards_and_empty_ranges() -> None:
    page = Page(size=10, after=None)
    with pytest.raises(DomainError) as wildcard:
        AuditQuery(page=page, action_prefix="pii%")
    assert wildcard.value.code == "audit.action_prefix"
    with pytest.raises(DomainError) as backwards:
        AuditQuery(page=page, since=NOW, until=NOW - timedelta(days=1))
    assert backwards.value.code == "audit.range"
    first_day_in_beijing = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=8)))
    with pytest.raises(DomainError) as before_time:
        AuditQuery(page=page, since=first_day_in_beijing)
    assert [v.field for v in before_time.value.field_violations] == ["since"]
