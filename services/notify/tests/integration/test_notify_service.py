"""The notify service against real PostgreSQL, Keycloak, census and grid: previews counted
against census, notices created once per key, read, listed and cancelled, templates across
built-in, street and community, the inbox of an account and of a role, settings, robots and
contacts with their secrets masked, statistics, and who may do what."""

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from notify.app import NotifyCore
from notify.quiet import SHANGHAI
from notify.seed import SHIBEI_RESIDENT_SUBJECT, seed_community
from shequ.census.v1 import census_pb2 as cpb
from shequ.common.v1 import paging_pb2
from shequ.grid.v1 import grid_pb2 as gpb
from shequ.notify.v1 import notify_pb2 as pb
from shequ_infra import LocalInfrastructure
from shequ_infra.forged_tokens import claims_of, unsigned, with_tampered_claims
from shequ_infra.grpc_calls import Call
from shequ_kit.grpc_client import error_detail
from shequ_kit.tenancy import TenantId

from .conftest import HUSHAN, SHIBEI, SHUSHAN, XIANGYUAN, Sql, deliver_to_inboxes

TEA_PARTY = {"title": "重阳敬老茶话会", "content": "欢迎社区老人参加"}


def refused(action: Callable[[], Any], code: grpc.StatusCode) -> Any:
    with pytest.raises(grpc.RpcError) as caught:
        action()
    assert caught.value.code() == code, caught.value.details()
    return error_detail(caught.value)


def fields_of(detail: Any) -> set[str]:
    return {v.field for v in detail.field_violations}


def subject_of(infra: LocalInfrastructure, user: str) -> str:
    token = infra.keycloak.password_grant(user, "shequ-demo")["access_token"]
    return str(claims_of(token)["sub"])


def census_residents(
    core: NotifyCore, request: cpb.StreamResidentsInPlacesRequest
) -> list[cpb.StreamResidentsInPlacesResponse]:
    """What census itself answers (the oracle the counts are checked against)."""
    metadata = core.upstream_metadata(TenantId(HUSHAN))
    return list(core.census.StreamResidentsInPlaces(request, metadata=metadata, timeout=30))


def complexes(core: NotifyCore) -> list[cpb.Complex]:
    metadata = core.upstream_metadata(TenantId(HUSHAN))
    found = core.census.ListComplexes(cpb.ListComplexesRequest(), metadata=metadata)
    return sorted(found.complexes, key=lambda c: c.name)


def grid_buildings(core: NotifyCore) -> dict[str, list[str]]:
    """Grid id → the buildings it covers, as grid answers."""
    metadata = core.upstream_metadata(TenantId(HUSHAN))
    grids = core.grid.ListGrids(gpb.ListGridsRequest(), metadata=metadata).grids
    return {
        g.id: [
            c.building_id
            for c in core.grid.ListCoverage(
                gpb.ListCoverageRequest(grid_id=g.id, page=paging_pb2.PageRequest(page_size=500)),
                metadata=metadata,
            ).coverage
        ]
        for g in grids
    }


def draft(**fields: Any) -> pb.NoticeDraft:
    defaults: dict[str, Any] = {
        "template_code": "event.invite",
        "variables": {**TEA_PARTY, "time": "10月29日上午9点", "place": "社区活动室"},
        "audience": pb.Audience(whole_community=True),
        "channels": [pb.CHANNEL_INBOX],
    }
    return pb.NoticeDraft(**{**defaults, **fields})


def general(**fields: Any) -> pb.NoticeDraft:
    return draft(**{"template_code": "general.notice", "variables": TEA_PARTY, **fields})


def tomorrow() -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + timedelta(days=1))
    return stamp


def create(call: Call, request_draft: pb.NoticeDraft, key: str = "", **kw: Any) -> pb.Notice:
    response: pb.CreateNoticeResponse = call(
        "CreateNotice", pb.CreateNoticeRequest(draft=request_draft, idempotency_key=key), **kw
    )
    return response.notice


# ---- preview: counted against census ----


def test_preview_counts_the_elderly_of_one_complex_per_channel_as_census_has_them(
    call: Call, notify_core: NotifyCore
) -> None:
    first = complexes(notify_core)[0]
    elderly = census_residents(
        notify_core,
        cpb.StreamResidentsInPlacesRequest(
            complex_ids=[first.id], care_tags=[cpb.CARE_TAG_ELDERLY]
        ),
    )
    assert elderly, "the synthetic complex has elderly residents"
    # Every third elderly resident gets an e-mail address; the rest are reached by SMS when
    # census holds a phone, or not at all.
    with_email = {p.resident_id for p in elderly[::3]}
    for resident_id in with_email:
        call(
            "PutContact",
            pb.PutContactRequest(
                contact=pb.Contact(
                    resident_id=resident_id, email=f"laoren-{resident_id[:6]}@example.org"
                )
            ),
        )
    expected = Counter(
        "email" if p.resident_id in with_email else "sms" if p.has_phone else "none"
        for p in elderly
    )

    preview = call(
        "PreviewNotice",
        pb.PreviewNoticeRequest(
            draft=draft(
                template_code="anti_fraud.alert",
                variables={"title": "谨防冒充公检法诈骗", "content": "公检法机关不会电话办案"},
                audience=pb.Audience(complex_ids=[first.id], care_tags=[cpb.CARE_TAG_ELDERLY]),
                channels=[pb.CHANNEL_EMAIL, pb.CHANNEL_SMS],
                urgent=True,
            )
        ),
    )

    assert preview.recipients == len(elderly)
    assert dict(preview.by_channel) == {k: v for k, v in expected.items() if v}
    assert preview.subject == "【反诈预警】谨防冒充公检法诈骗"
    assert preview.body.startswith(f"{elderly[0].name}您好")
    assert "公检法机关不会电话办案" in preview.body


def test_a_grid_and_a_building_in_it_reach_each_resident_once(
    call: Call, notify_core: NotifyCore
) -> None:
    grid_id, buildings = next((g, b) for g, b in grid_buildings(notify_core).items() if b)
    in_grid = census_residents(
        notify_core, cpb.StreamResidentsInPlacesRequest(building_ids=buildings)
    )
    everyone = census_residents(notify_core, cpb.StreamResidentsInPlacesRequest())
    assert 0 < len(in_grid) < len(everyone)

    def recipients(audience: pb.Audience) -> int:
        preview = call("PreviewNotice", pb.PreviewNoticeRequest(draft=general(audience=audience)))
        return int(preview.recipients)

    assert recipients(pb.Audience(grid_ids=[grid_id])) == len(in_grid)
    assert recipients(pb.Audience(grid_ids=[grid_id], building_ids=buildings[:1])) == len(in_grid)
    assert recipients(pb.Audience(whole_community=True)) == len(everyone)


def test_an_account_linked_to_a_resident_of_the_audience_is_one_recipient(
    call: Call, notify_core: NotifyCore, infra: LocalInfrastructure
) -> None:
    resident = census_residents(notify_core, cpb.StreamResidentsInPlacesRequest())[-1]
    account = subject_of(infra, "hushan-resident")
    call(
        "PutContact",
        pb.PutContactRequest(
            contact=pb.Contact(resident_id=resident.resident_id, account_subject=account)
        ),
    )
    audience = pb.Audience(
        resident_ids=[resident.resident_id],
        account_subjects=[account, "someone-else"],
        roles=["community-staff"],
    )
    preview = call("PreviewNotice", pb.PreviewNoticeRequest(draft=general(audience=audience)))
    # The resident (reached in the inbox of the linked account), the other account, the role.
    assert preview.recipients == 3
    assert dict(preview.by_channel) == {"inbox": 3}


@pytest.fixture
def street_quiet_around_now(call: Call, sql: Sql) -> Iterator[tuple[datetime, str, str]]:
    """Shushan's quiet hours are the hour around now (so the test does not depend on the
    clock), until the test ends: (now in Shanghai, start, end)."""
    local = datetime.now(SHANGHAI)
    start = (local - timedelta(minutes=30)).strftime("%H:%M")
    end = (local + timedelta(minutes=30)).strftime("%H:%M")
    call(
        "PutSettings",
        pb.PutSettingsRequest(settings=pb.Settings(quiet_start=start, quiet_end=end)),
        user="shushan-admin",
        tenant=SHUSHAN,
    )
    yield local, start, end
    sql("DELETE FROM tenant_settings WHERE tenant_id = %s", SHUSHAN)


def test_quiet_hours_hold_a_non_urgent_sms_but_not_an_urgent_one_nor_the_inbox(
    call: Call, notify_core: NotifyCore, street_quiet_around_now: tuple[datetime, str, str]
) -> None:
    local, start, end = street_quiet_around_now
    everyone = pb.Audience(whole_community=True)
    resident = next(
        r
        for r in census_residents(notify_core, cpb.StreamResidentsInPlacesRequest())
        if r.has_phone
    )
    by_phone = pb.Audience(resident_ids=[resident.resident_id])

    def would_send_at(**fields: Any) -> datetime:
        preview = call(
            "PreviewNotice",
            pb.PreviewNoticeRequest(draft=general(**fields)),
            user="shushan-admin",
        )
        return preview.would_send_at.ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]

    before = datetime.now(UTC)
    end_of_window = datetime.combine(local.date(), datetime.strptime(end, "%H:%M").time(), SHANGHAI)
    if end_of_window <= local:  # the window's end is past midnight
        end_of_window += timedelta(days=1)
    assert would_send_at(audience=by_phone, channels=[pb.CHANNEL_SMS]) == end_of_window
    urgent = would_send_at(audience=by_phone, channels=[pb.CHANNEL_SMS], urgent=True)
    assert before - timedelta(seconds=5) <= urgent < end_of_window
    inbox_only = would_send_at(audience=everyone, channels=[pb.CHANNEL_INBOX])
    assert before - timedelta(seconds=5) <= inbox_only < end_of_window
    # Hushan has no window of its own: the street's applies.
    settings = call("GetSettings", pb.GetSettingsRequest()).settings
    assert (settings.quiet_start, settings.quiet_end, settings.version) == (start, end, 0)


# ---- notices ----


def test_a_notice_is_created_read_listed_and_cancelled_before_it_goes_out(
    call: Call, sql: Sql
) -> None:
    notice = create(call, general(send_at=tomorrow(), channels=[pb.CHANNEL_INBOX]))
    assert notice.state == pb.NOTICE_STATE_SCHEDULED
    assert notice.subject == "【通知】重阳敬老茶话会"
    assert notice.counts.recipients == 0
    assert notice.kind == pb.NOTICE_KIND_GENERAL
    assert notice.audience.whole_community

    read = call("GetNotice", pb.GetNoticeRequest(notice_id=notice.notice_id)).notice
    assert read == notice
    listed = call(
        "ListNotices", pb.ListNoticesRequest(states=[pb.NOTICE_STATE_SCHEDULED]), user="hushan-grid"
    ).notices
    assert notice.notice_id in {n.notice_id for n in listed}

    cancelled = call(
        "CancelNotice",
        pb.CancelNoticeRequest(
            notice_id=notice.notice_id, expected_version=notice.version, reason="活动改期"
        ),
    ).notice
    assert cancelled.state == pb.NOTICE_STATE_CANCELLED
    detail = refused(
        lambda: call(
            "CancelNotice",
            pb.CancelNoticeRequest(notice_id=notice.notice_id, expected_version=cancelled.version),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert detail.params["state"] == "cancelled"
    assert "已取消" in detail.message_zh
    facts = sql(
        "SELECT event_type FROM outbox WHERE aggregate_id = %s ORDER BY id", notice.notice_id
    )
    assert [f[0] for f in facts] == [
        "shequ.notify.v1.NoticeCreated",
        "shequ.notify.v1.NoticeCancelled",
    ]
    gone = call("ListNotices", pb.ListNoticesRequest(states=[pb.NOTICE_STATE_SCHEDULED])).notices
    assert notice.notice_id not in {n.notice_id for n in gone}


def test_a_notice_being_sent_can_no_longer_be_cancelled(call: Call, sql: Sql) -> None:
    notice = create(call, general())
    sql("UPDATE notices SET state = 'sending' WHERE id = %s", notice.notice_id)
    detail = refused(
        lambda: call(
            "CancelNotice",
            pb.CancelNoticeRequest(notice_id=notice.notice_id, expected_version=notice.version),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert detail.params["state"] == "sending"


def test_the_same_idempotency_key_answers_the_same_notice(call: Call, sql: Sql) -> None:
    key = f"retry-{uuid.uuid4()}"
    first = create(call, general(), key)
    again = create(call, general(channels=[pb.CHANNEL_EMAIL]), key)
    assert again.notice_id == first.notice_id
    other = create(call, general(), key, user="hushan-pii")  # another sender's key
    assert other.notice_id != first.notice_id
    rows = sql("SELECT count(*) FROM notices WHERE idempotency_key = %s", key)
    assert rows[0][0] == 2


def test_a_notice_keeps_the_texts_its_template_had_when_it_was_written(call: Call) -> None:
    code = f"meeting.owners_{uuid.uuid4().hex[:6]}"
    template = pb.Template(
        code=code,
        name="业委会会议",
        kind=pb.NOTICE_KIND_MEETING,
        subject="【业委会】{{ title }}",
        body="{{ content }}",
        variables=["title", "content"],
    )
    saved = call("PutTemplate", pb.PutTemplateRequest(template=template)).template
    notice = create(call, general(template_code=code, send_at=tomorrow()))
    template.subject = "【已改】{{ title }}"
    call("PutTemplate", pb.PutTemplateRequest(template=template, expected_version=saved.version))
    read = call("GetNotice", pb.GetNoticeRequest(notice_id=notice.notice_id)).notice
    assert read.subject == "【业委会】重阳敬老茶话会"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"template_code": "no.such_template"}, "draft.template_code"),
        ({"variables": {"title": "只有标题"}}, "draft.variables.content"),
        ({"variables": {**TEA_PARTY, "titel": "x"}}, "draft.variables.titel"),
        ({"channels": []}, "draft.channels"),
        ({"channels": [pb.CHANNEL_SMS, pb.CHANNEL_SMS]}, "draft.channels"),
        ({"audience": pb.Audience()}, "draft.audience"),
        ({"audience": pb.Audience(building_ids=["3幢"])}, "draft.audience.building_ids"),
        ({"kind": pb.NOTICE_KIND_CASE_UPDATE}, "draft.kind"),
    ],
)
def test_a_bad_draft_is_refused_naming_the_field(
    call: Call, change: dict[str, Any], field: str
) -> None:
    fields = {"template_code": "general.notice", "variables": TEA_PARTY, **change}
    bad = draft(**fields)
    for method, request in (
        ("CreateNotice", pb.CreateNoticeRequest(draft=bad)),
        ("PreviewNotice", pb.PreviewNoticeRequest(draft=bad)),
    ):
        detail = refused(partial(call, method, request), grpc.StatusCode.INVALID_ARGUMENT)
        assert field in fields_of(detail)
        assert detail.message_zh


def test_a_send_time_in_the_past_is_refused(call: Call) -> None:
    past = Timestamp()
    past.FromDatetime(datetime.now(UTC) - timedelta(hours=1))
    detail = refused(lambda: create(call, general(send_at=past)), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(detail) == {"draft.send_at"}


def test_a_street_sends_notices_through_a_community(call: Call) -> None:
    detail = refused(
        lambda: create(call, general(), user="shushan-admin", tenant=SHUSHAN),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert detail.code == "notify.community_required"
    made = create(call, general(send_at=tomorrow()), user="shushan-admin")
    assert made.state == pb.NOTICE_STATE_SCHEDULED


def test_deliveries_are_listed_masked_and_failed_ones_queued_again(
    call: Call, notify_core: NotifyCore, sql: Sql
) -> None:
    notice = create(call, general(channels=[pb.CHANNEL_SMS]))
    sql("UPDATE notices SET state = 'sent', expanded_at = now() WHERE id = %s", notice.notice_id)
    for recipient, state, masked in (
        ("resident:a", "failed", "138****5678"),
        ("resident:b", "delivered", "139****0000"),
        ("resident:c", "failed", "137****1111"),
    ):
        sql(
            "INSERT INTO deliveries (id, tenant_id, notice_id, recipient, channel,"
            " masked_address, state, attempts, failure_reason)"
            " VALUES (gen_random_uuid(), %s, %s, %s, 'sms', %s, %s, 5, %s)",
            HUSHAN,
            notice.notice_id,
            recipient,
            masked,
            state,
            "号码无效 invalid number" if state == "failed" else "",
        )
    failed = call(
        "ListDeliveries",
        pb.ListDeliveriesRequest(notice_id=notice.notice_id, states=[pb.DELIVERY_STATE_FAILED]),
    ).deliveries
    assert {d.recipient: d.address for d in failed} == {
        "resident:a": "138****5678",
        "resident:c": "137****1111",
    }
    assert all(d.failure_reason.startswith("号码无效") for d in failed)
    read = call("GetNotice", pb.GetNoticeRequest(notice_id=notice.notice_id)).notice
    assert (read.counts.recipients, read.counts.failed, read.counts.delivered) == (3, 2, 1)
    assert read.counts.by_channel["sms"].failed == 2

    resent = call("ResendFailed", pb.ResendFailedRequest(notice_id=notice.notice_id))
    assert resent.queued == 2
    assert resent.notice.state == pb.NOTICE_STATE_SENDING
    assert resent.notice.counts.queued == 2
    rows = sql(
        "SELECT state, attempts, failure_reason FROM deliveries"
        " WHERE notice_id = %s AND recipient <> 'resident:b'",
        notice.notice_id,
    )
    assert rows == [("queued", 0, ""), ("queued", 0, "")]


# ---- templates ----


def test_templates_come_from_the_community_its_street_or_the_builtin_set(call: Call) -> None:
    builtin = call("GetTemplate", pb.GetTemplateRequest(code="meeting.notice")).template
    assert (builtin.defined_by, builtin.version) == ("builtin", 0)
    street_version = pb.Template(
        code="meeting.notice",
        name="会议通知（书山街道）",
        kind=pb.NOTICE_KIND_MEETING,
        subject="【书山街道·会议】{{ title }}",
        body="{{ recipient_name }}：{{ time }}，{{ place }}。{{ content }}",
        variables=["title", "time", "place", "content"],
    )
    call(
        "PutTemplate",
        pb.PutTemplateRequest(template=street_version, expected_version=0),
        user="shushan-admin",
        tenant=SHUSHAN,
    )

    in_hushan = call("GetTemplate", pb.GetTemplateRequest(code="meeting.notice")).template
    assert (in_hushan.defined_by, in_hushan.version) == ("street", 0)
    assert in_hushan.subject.startswith("【书山街道·会议】")
    in_shibei = call(
        "GetTemplate",
        pb.GetTemplateRequest(code="meeting.notice"),
        user="shibei-staff",
        tenant=SHIBEI,
    ).template
    assert in_shibei.defined_by == "builtin"

    own = pb.Template(**{**_fields(street_version), "subject": "【湖山社区】{{ title }}"})
    saved = call("PutTemplate", pb.PutTemplateRequest(template=own, expected_version=0)).template
    assert (saved.defined_by, saved.version) == ("tenant", 1)
    in_xiangyuan = call(
        "GetTemplate",
        pb.GetTemplateRequest(code="meeting.notice"),
        user="xiangyuan-staff",
        tenant=XIANGYUAN,
    ).template
    assert in_xiangyuan.defined_by == "street"
    detail = refused(
        lambda: call("PutTemplate", pb.PutTemplateRequest(template=own, expected_version=0)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert detail.params["current_version"] == str(saved.version)
    listed = call(
        "ListTemplates", pb.ListTemplatesRequest(kind=pb.NOTICE_KIND_MEETING), user="hushan-grid"
    ).templates
    assert {t.code: t.defined_by for t in listed}["meeting.notice"] == "tenant"
    assert {t.kind for t in listed} == {pb.NOTICE_KIND_MEETING}


def _fields(template: pb.Template) -> dict[str, Any]:
    return {f.name: v for f, v in template.ListFields()}


def test_a_template_with_errors_is_refused_naming_each_field(call: Call) -> None:
    bad = pb.Template(
        code="event.bad",
        name="坏模板",
        kind=pb.NOTICE_KIND_EVENT,
        subject="{{ title }",
        body="{{ secret_variable }}",
        variables=["title"],
    )
    detail = refused(
        lambda: call("PutTemplate", pb.PutTemplateRequest(template=bad)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(detail) == {"template.subject", "template.body"}


def test_grid_workers_read_templates_but_do_not_write_them(call: Call) -> None:
    found = call("ListTemplates", pb.ListTemplatesRequest(), user="hushan-grid").templates
    assert "anti_fraud.alert" in {t.code for t in found}
    refused(
        lambda: call(
            "PutTemplate",
            pb.PutTemplateRequest(template=found[0], expected_version=found[0].version),
            user="hushan-grid",
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )


# ---- inbox ----


def test_the_inbox_holds_the_callers_own_and_its_roles_messages(
    call: Call, notify_core: NotifyCore, infra: LocalInfrastructure
) -> None:
    staff = subject_of(infra, "hushan-staff")
    sent = deliver_to_inboxes(
        notify_core,
        HUSHAN,
        [f"account:{staff}", "role:community-staff", "role:grid-worker"],
    )
    mine = sent.messages[f"account:{staff}"]
    shared = sent.messages["role:community-staff"]

    def inbox(user: str, unread_only: bool = False) -> pb.ListInboxResponse:
        return call(  # type: ignore[no-any-return]
            "ListInbox",
            pb.ListInboxRequest(
                unread_only=unread_only, page=paging_pb2.PageRequest(page_size=500)
            ),
            user=user,
        )

    def ids(response: pb.ListInboxResponse) -> set[uuid.UUID]:
        return {uuid.UUID(m.message_id) for m in response.messages}

    staff_inbox = inbox("hushan-staff")
    assert {mine, shared} <= ids(staff_inbox)
    assert sent.messages["role:grid-worker"] not in ids(staff_inbox)
    colleague = inbox("hushan-pii")  # also community staff, another account
    assert shared in ids(colleague)
    assert mine not in ids(colleague)
    assert ids(inbox("hushan-grid")) & {mine, shared} == set()

    marked = call(
        "MarkRead",
        pb.MarkReadRequest(message_ids=[str(mine), str(shared), str(uuid.uuid4())]),
        user="hushan-staff",
    )
    assert marked.marked == 2
    assert marked.unread == staff_inbox.unread - 2
    again = call("MarkRead", pb.MarkReadRequest(message_ids=[str(mine)]), user="hushan-staff")
    assert again.marked == 0
    assert {mine, shared} & ids(inbox("hushan-staff", unread_only=True)) == set()
    read = next(m for m in inbox("hushan-staff").messages if m.message_id == str(mine))
    assert read.HasField("read_at")
    # Each holder of the role reads the shared message for themselves.
    assert shared in ids(inbox("hushan-pii", unread_only=True))
    # The role's first reader counts as the notice's read.
    notice = call("GetNotice", pb.GetNoticeRequest(notice_id=str(sent.notice_id))).notice
    assert (notice.counts.read, notice.counts.by_channel["inbox"].read) == (2, 2)


def test_a_street_admin_reads_its_communities_street_admin_messages(
    call: Call, notify_core: NotifyCore
) -> None:
    sent = deliver_to_inboxes(notify_core, HUSHAN, ["role:street-admin", "role:community-staff"])
    at_street = call(
        "ListInbox", pb.ListInboxRequest(), user="shushan-admin", tenant=SHUSHAN
    ).messages
    found = {m.message_id: m.tenant_id for m in at_street}
    assert found[str(sent.messages["role:street-admin"])] == HUSHAN
    assert str(sent.messages["role:community-staff"]) not in found
    elsewhere = call(
        "ListInbox", pb.ListInboxRequest(), user="beigan-admin", tenant="xiaoshan.beigan"
    ).messages
    assert str(sent.messages["role:street-admin"]) not in {m.message_id for m in elsewhere}


def test_a_foreign_community_sees_none_of_the_messages(call: Call, notify_core: NotifyCore) -> None:
    sent = deliver_to_inboxes(notify_core, HUSHAN, ["role:community-staff"])
    theirs = call(
        "ListInbox", pb.ListInboxRequest(), user="xiangyuan-staff", tenant=XIANGYUAN
    ).messages
    assert str(sent.messages["role:community-staff"]) not in {m.message_id for m in theirs}
    marked = call(
        "MarkRead",
        pb.MarkReadRequest(message_ids=[str(sent.messages["role:community-staff"])]),
        user="xiangyuan-staff",
        tenant=XIANGYUAN,
    )
    assert marked.marked == 0


# ---- settings, robots, contacts ----


def test_quiet_hours_are_the_defaults_until_a_tenant_sets_its_own(call: Call) -> None:
    shown = call(
        "GetSettings", pb.GetSettingsRequest(), user="shibei-staff", tenant=SHIBEI
    ).settings
    assert (shown.quiet_start, shown.quiet_end, shown.version) == ("21:00", "08:00", 0)
    detail = refused(
        lambda: call(
            "PutSettings",
            pb.PutSettingsRequest(
                settings=pb.Settings(quiet_start="25:00", quiet_end="8点"),
                expected_version=shown.version,
            ),
            user="shibei-staff",
            tenant=SHIBEI,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(detail) == {"settings.quiet_start"}
    saved = call(
        "PutSettings",
        pb.PutSettingsRequest(
            settings=pb.Settings(quiet_start="22:00", quiet_end="07:30"),
            expected_version=shown.version,
        ),
        user="shibei-staff",
        tenant=SHIBEI,
    ).settings
    assert (saved.quiet_start, saved.quiet_end, saved.version) == (
        "22:00",
        "07:30",
        shown.version + 1,
    )
    refused(
        lambda: call(
            "PutSettings",
            pb.PutSettingsRequest(settings=saved, expected_version=shown.version),
            user="shibei-staff",
            tenant=SHIBEI,
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )


def test_a_robots_webhook_is_write_only(call: Call, notify_core: NotifyCore, sql: Sql) -> None:
    place = complexes(notify_core)[-1]
    secret = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={uuid.uuid4()}"
    robot = call(
        "PutRobot",
        pb.PutRobotRequest(robot=pb.Robot(name="测试群", complex_id=place.id, webhook_url=secret)),
    ).robot
    assert robot.webhook_url == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + (
        "****" + secret[-4:]
    )
    listed = call("ListRobots", pb.ListRobotsRequest(), user="hushan-grid").robots
    assert secret not in {r.webhook_url for r in listed}
    renamed = call(
        "PutRobot",
        pb.PutRobotRequest(robot=pb.Robot(**{**_fields(robot), "name": "测试小区居民群"})),
    ).robot
    assert renamed.name == "测试小区居民群"
    stored = sql("SELECT webhook_url FROM robots WHERE id = %s", robot.robot_id)
    assert stored == [(secret,)]  # the masked URL sent back kept the real one
    refused(
        lambda: call(
            "PutRobot",
            pb.PutRobotRequest(
                robot=pb.Robot(name="重复", complex_id=place.id, webhook_url=secret)
            ),
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    detail = refused(
        lambda: call(
            "PutRobot", pb.PutRobotRequest(robot=pb.Robot(name="无处", webhook_url=secret))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(detail) == {"robot.building_id"}
    call("RemoveRobot", pb.RemoveRobotRequest(robot_id=robot.robot_id))
    refused(
        lambda: call("RemoveRobot", pb.RemoveRobotRequest(robot_id=robot.robot_id)),
        grpc.StatusCode.NOT_FOUND,
    )


def test_a_contacts_email_is_masked_and_kept_when_sent_back_masked(
    call: Call, notify_core: NotifyCore, sql: Sql
) -> None:
    resident = census_residents(notify_core, cpb.StreamResidentsInPlacesRequest())[1]
    empty = call("GetContact", pb.GetContactRequest(resident_id=resident.resident_id)).contact
    saved = call(
        "PutContact",
        pb.PutContactRequest(
            contact=pb.Contact(
                resident_id=resident.resident_id,
                email="Wang.Fang@Example.org",
                opted_out=[pb.CHANNEL_SMS],
            ),
            expected_version=empty.version,
        ),
    ).contact
    assert saved.email == "w***@example.org"
    assert list(saved.opted_out) == [pb.CHANNEL_SMS]
    kept = call(
        "PutContact",
        pb.PutContactRequest(contact=saved, expected_version=saved.version),
    ).contact
    assert kept.version == saved.version + 1
    stored = sql("SELECT email FROM contacts WHERE resident_id = %s", resident.resident_id)
    assert stored == [("wang.fang@example.org",)]
    detail = refused(
        lambda: call(
            "PutContact",
            pb.PutContactRequest(
                contact=pb.Contact(resident_id=resident.resident_id, email="不是邮箱"),
                expected_version=kept.version,
            ),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(detail) == {"contact.email"}
    refused(
        lambda: call(
            "GetContact", pb.GetContactRequest(resident_id=resident.resident_id), user="hushan-grid"
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )


# ---- statistics ----


def test_statistics_count_per_day_and_channel_and_a_street_per_community(
    call: Call, notify_core: NotifyCore, sql: Sql
) -> None:
    day = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
    sent = deliver_to_inboxes(
        notify_core, XIANGYUAN, ["role:community-staff", "role:grid-worker"], sent_at=day
    )
    for tenant in (HUSHAN, XIANGYUAN):
        deliver_to_inboxes(notify_core, tenant, ["role:street-admin"], sent_at=day)
    sql(
        "UPDATE deliveries SET read_at = %s WHERE id = %s",
        day,
        sent.deliveries["role:grid-worker"],
    )
    request = pb.GetStatisticsRequest(from_date="2026-03-02", to_date="2026-03-02")
    community = call("GetStatistics", request, user="xiangyuan-staff", tenant=XIANGYUAN)
    assert [(r.tenant_id, r.day, r.channel) for r in community.rows] == [
        (XIANGYUAN, "2026-03-02", pb.CHANNEL_INBOX)
    ]
    assert (community.rows[0].delivered, community.rows[0].read) == (3, 1)
    assert community.totals["inbox"].sent == 3
    street = call("GetStatistics", request, user="shushan-admin", tenant=SHUSHAN)
    per_community = {r.tenant_id: r.delivered for r in street.rows}
    assert per_community == {HUSHAN: 1, XIANGYUAN: 3}
    refused(
        lambda: call("GetStatistics", request, user="hushan-grid"),
        grpc.StatusCode.PERMISSION_DENIED,
    )


# ---- who may ----


def test_a_foreign_community_can_neither_read_nor_cancel_a_notice(call: Call) -> None:
    notice = create(call, general(send_at=tomorrow()))
    get = pb.GetNoticeRequest(notice_id=notice.notice_id)
    refused(
        lambda: call("GetNotice", get, user="xiangyuan-staff"), grpc.StatusCode.PERMISSION_DENIED
    )
    refused(
        lambda: call("GetNotice", get, user="xiangyuan-staff", tenant=XIANGYUAN),
        grpc.StatusCode.NOT_FOUND,
    )
    refused(
        lambda: call(
            "CancelNotice",
            pb.CancelNoticeRequest(notice_id=notice.notice_id, expected_version=1),
            user="xiangyuan-staff",
            tenant=XIANGYUAN,
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    refused(
        lambda: call("ListInbox", pb.ListInboxRequest(), user="xiangyuan-staff"),
        grpc.StatusCode.PERMISSION_DENIED,
    )


def test_residents_and_grid_workers_do_not_send_notices(call: Call) -> None:
    for user in ("hushan-resident", "hushan-grid"):
        refused(partial(create, call, general(), user=user), grpc.StatusCode.PERMISSION_DENIED)
    refused(
        lambda: call("ListNotices", pb.ListNoticesRequest(), user="hushan-resident"),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    # A resident still reads their own inbox.
    call("ListInbox", pb.ListInboxRequest(), user="hushan-resident")


def test_a_missing_or_forged_token_is_refused(
    stub: Any, call: Call, infra: LocalInfrastructure
) -> None:
    refused(
        lambda: stub.ListInbox(pb.ListInboxRequest(), metadata=(("x-tenant-id", HUSHAN),)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    real = infra.keycloak.password_grant("hushan-resident", "shequ-demo")["access_token"]
    for forged in (
        unsigned(real),
        with_tampered_claims(real, groups=["/xiaoshan/shushan/hushan/community-staff"]),
    ):
        refused(
            partial(call, "ListNotices", pb.ListNoticesRequest(), token=forged),
            grpc.StatusCode.UNAUTHENTICATED,
        )


# ---- demo seed ----


def test_the_demo_seed_is_idempotent(notify_core: NotifyCore, sql: Sql) -> None:
    """Seeding Hushan (the community this census holds) as Shibei is seeded for `make run`."""

    def seeded() -> tuple[int, int, int]:
        found = sql(
            "SELECT count(*) FILTER (WHERE email LIKE 'jumin-%%'),"
            " count(*) FILTER (WHERE account_subject = %s)"
            " FROM contacts WHERE tenant_id = %s",
            SHIBEI_RESIDENT_SUBJECT,
            HUSHAN,
        )
        robots = sql(
            "SELECT count(*) FROM robots WHERE tenant_id = %s AND name LIKE '%%居民群'", HUSHAN
        )
        return robots[0][0], found[0][0], found[0][1]

    seed_community(notify_core, TenantId(HUSHAN))
    robots, emails, linked = seeded()
    everyone = census_residents(notify_core, cpb.StreamResidentsInPlacesRequest())
    assert robots == len(complexes(notify_core))
    assert 0 < emails < len(everyone) / 4
    assert linked == 1
    seed_community(notify_core, TenantId(HUSHAN))
    assert seeded() == (robots, emails, linked)
