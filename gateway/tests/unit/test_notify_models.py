"""The notify REST bodies become the notify service's requests, and its answers REST documents:
words for enums with Chinese labels beside them, times in Asia/Shanghai, addresses as the
service masked them, fields named on refusal; the inbox merged over the caller's tenants."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import ValidationError

from gateway.notify.models import (
    CHANNEL_ZH,
    CHANNELS,
    DELIVERY_STATE_ZH,
    DELIVERY_STATES,
    KIND_ZH,
    NOTICE_KINDS,
    NOTICE_STATE_ZH,
    NOTICE_STATES,
    DeliveryOut,
    InboxMessageOut,
    NewRobot,
    NoticeDraft,
    NoticeOut,
    PutContact,
    PutSettings,
    PutTemplate,
    UpdateRobot,
)
from gateway.notify.views import inbox_tenants, newest_first
from shequ.census.v1 import census_pb2
from shequ.notify.v1 import notify_pb2 as pb
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Grant, Principal, Role

BEIJING = timezone(timedelta(hours=8))
BUILDING = "6b1a8c54-1111-4000-8000-000000000001"
COMPLEX = "6b1a8c54-2222-4000-8000-000000000002"


def refused_fields(error: pytest.ExceptionInfo[ValidationError]) -> list[tuple[str | int, ...]]:
    return [e["loc"] for e in error.value.errors()]


def stamp(moment: datetime) -> Timestamp:
    found = Timestamp()
    found.FromDatetime(moment)
    return found


def draft(**fields: Any) -> NoticeDraft:
    return NoticeDraft.model_validate(
        {
            "template_code": "anti_fraud.alert",
            "variables": {"title": "警惕退款诈骗", "content": "请勿转账"},
            "audience": {"building_ids": [BUILDING], "care_tags": ["elderly"]},
            "channels": ["sms", "inbox"],
            **fields,
        }
    )


# ---- words and labels ----


def test_every_enum_value_has_a_word_and_a_chinese_label() -> None:
    assert CHANNELS.words == ("inbox", "email", "wecom", "sms")
    assert NOTICE_KINDS.words == ("anti_fraud", "event", "meeting", "general", "case_update")
    assert NOTICE_STATES.words == ("scheduled", "sending", "sent", "cancelled")
    assert DELIVERY_STATES.words == ("queued", "sent", "delivered", "failed", "unreachable")
    for words, labels in (
        (CHANNELS, CHANNEL_ZH),
        (NOTICE_KINDS, KIND_ZH),
        (NOTICE_STATES, NOTICE_STATE_ZH),
        (DELIVERY_STATES, DELIVERY_STATE_ZH),
    ):
        assert {words.number(w) for w in words.words} == set(labels)
        assert all(labels.values())


# ---- notices ----


def test_a_draft_keeps_the_channel_order_and_reads_a_naive_time_as_beijing() -> None:
    request = draft(send_at="2026-11-24T10:00:00", urgent=True).to_proto()
    assert list(request.channels) == [pb.CHANNEL_SMS, pb.CHANNEL_INBOX]
    assert request.send_at.ToDatetime(tzinfo=UTC) == datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    assert request.urgent
    assert request.template_code == "anti_fraud.alert"
    assert dict(request.variables) == {"title": "警惕退款诈骗", "content": "请勿转账"}
    assert list(request.audience.building_ids) == [BUILDING]
    assert list(request.audience.care_tags) == [census_pb2.CARE_TAG_ELDERLY]
    assert request.kind == pb.NOTICE_KIND_UNSPECIFIED  # the template's kind
    assert not draft().to_proto().HasField("send_at")


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"channels": ["sms", "sms"]}, ("channels",)),
        ({"channels": ["pager"]}, ("channels", 0)),
        ({"channels": []}, ("channels",)),
        ({"audience": {"care_tags": ["elderly"]}}, ("audience",)),
        ({"audience": {"roles": ["pii-reader"]}}, ("audience", "roles", 0)),
        ({"kind": "case_update"}, ("kind",)),
        ({"audience": {"complex_ids": ["晴庐"]}}, ("audience", "complex_ids", 0)),
        ({"template_code": "alert"}, ("template_code",)),
        ({"variables": {"1st": "x"}}, ("variables", "1st", "[key]")),
        ({"kind": "spam"}, ("kind",)),
    ],
)
def test_a_bad_draft_names_the_field(fields: dict[str, Any], location: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as refused:
        draft(**fields)
    assert location in refused_fields(refused)


def test_a_notice_is_shown_with_words_labels_counts_and_beijing_times() -> None:
    created = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    notice = pb.Notice(
        notice_id="n1",
        kind=pb.NOTICE_KIND_ANTI_FRAUD,
        template_code="anti_fraud.alert",
        variables={"title": "t", "content": "c"},
        audience=pb.Audience(
            complex_ids=[COMPLEX],
            care_tags=[census_pb2.CARE_TAG_ELDERLY],
            roles=["community-staff"],
        ),
        channels=[pb.CHANNEL_WECOM, pb.CHANNEL_SMS],
        urgent=True,
        state=pb.NOTICE_STATE_SENDING,
        created_at=stamp(created),
        sender="staff-subject",
        subject="【反诈提醒】t",
        body="c",
        counts=pb.DeliveryCounts(
            recipients=3,
            delivered=2,
            unreachable=1,
            by_channel={"sms": pb.ChannelCounts(delivered=2, read=0)},
        ),
        version=2,
    )
    shown = NoticeOut.of(notice)
    assert (shown.kind, shown.kind_label) == ("anti_fraud", "反诈预警")
    assert (shown.state, shown.state_label) == ("sending", "发送中")
    assert (shown.channels, shown.channel_labels) == (["wecom", "sms"], ["企业微信群", "短信"])
    assert shown.created_at == created
    assert shown.created_at is not None
    assert shown.created_at.utcoffset() == timedelta(hours=8)
    assert shown.send_at is None
    assert shown.finished_at is None
    assert shown.audience.care_tags == ["elderly"]
    assert shown.audience.complex_ids == [COMPLEX]
    assert (shown.counts.recipients, shown.counts.unreachable) == (3, 1)
    assert shown.counts.by_channel["sms"].delivered == 2


def test_an_unreachable_delivery_has_no_channel() -> None:
    shown = DeliveryOut.of(
        pb.Delivery(
            delivery_id="d1",
            notice_id="n1",
            recipient="resident:r1",
            recipient_name="李建华",
            state=pb.DELIVERY_STATE_UNREACHABLE,
            failure_reason="无可用渠道 no address on any channel",
        )
    )
    assert (shown.channel, shown.channel_label) == (None, None)
    assert (shown.state, shown.state_label) == ("unreachable", "无法送达")
    assert shown.failure_reason == "无可用渠道 no address on any channel"
    assert shown.read_at is None


# ---- templates and settings ----


def template(**fields: Any) -> PutTemplate:
    return PutTemplate.model_validate(
        {
            "expected_version": 0,
            "name": "一般通知",
            "kind": "general",
            "subject": "【通知】{{ title }}",
            "body": "{{ content }}",
            "variables": ["title", "content"],
            **fields,
        }
    )


def test_a_template_edit_carries_the_path_code_and_the_kind_number() -> None:
    request = template(subject="  【通知】{{ title }}  ").to_proto("general.notice")
    assert request.template.code == "general.notice"
    assert request.template.kind == pb.NOTICE_KIND_GENERAL
    assert request.template.subject == "【通知】{{ title }}"
    assert request.expected_version == 0


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"subject": "两行\n标题"}, ("subject",)),
        ({"body": "   "}, ("body",)),
        ({"variables": ["Title"]}, ("variables", 0)),
        ({"expected_version": -1}, ("expected_version",)),
    ],
)
def test_a_bad_template_names_the_field(fields: dict[str, Any], location: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as refused:
        template(**fields)
    assert location in refused_fields(refused)


@pytest.mark.parametrize("moment", ["24:00", "9:00", "21:60", "2100"])
def test_quiet_hours_are_hh_mm(moment: str) -> None:
    with pytest.raises(ValidationError) as refused:
        PutSettings.model_validate(
            {"quiet_start": moment, "quiet_end": "08:00", "expected_version": 0}
        )
    assert ("quiet_start",) in refused_fields(refused)


def test_a_robot_belongs_to_a_building_or_a_complex_not_both() -> None:
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"
    robot = NewRobot.model_validate({"name": "1幢群", "complex_id": COMPLEX, "webhook_url": url})
    request = robot.to_proto()
    assert (request.robot.robot_id, request.robot.complex_id) == ("", COMPLEX)
    assert (request.robot.building_id, request.robot.webhook_url) == ("", url)
    for places in ({}, {"complex_id": COMPLEX, "building_id": BUILDING}):
        with pytest.raises(ValidationError):
            NewRobot.model_validate({"name": "1幢群", "webhook_url": url, **places})


def test_a_new_robot_needs_its_webhook_and_a_change_may_keep_it() -> None:
    with pytest.raises(ValidationError) as refused:
        NewRobot.model_validate({"name": "1幢群", "building_id": BUILDING})
    assert ("webhook_url",) in refused_fields(refused)
    kept = UpdateRobot.model_validate({"name": "1幢群", "building_id": BUILDING}).to_proto("r1")
    assert (kept.robot.robot_id, kept.robot.webhook_url) == ("r1", "")
    with pytest.raises(ValidationError) as refused:
        UpdateRobot.model_validate(
            {"name": "1幢群", "building_id": BUILDING, "webhook_url": "ftp://example.org/x"}
        )
    assert ("webhook_url",) in refused_fields(refused)


def test_a_contact_sends_each_refused_channel_once() -> None:
    contact = PutContact.model_validate(
        {"email": "wang@example.org", "opted_out": ["sms", "email", "sms"], "expected_version": 1}
    ).to_proto("r1")
    assert list(contact.contact.opted_out) == [pb.CHANNEL_EMAIL, pb.CHANNEL_SMS]
    with pytest.raises(ValidationError) as refused:
        PutContact.model_validate({"email": "wang at example", "expected_version": 0})
    assert ("email",) in refused_fields(refused)


# ---- the inbox over the caller's tenants ----


def principal(*grants: tuple[Role, str]) -> Principal:
    return Principal(
        subject="s",
        username="u",
        grants=frozenset(Grant(role, TenantId(tenant)) for role, tenant in grants),
        token="t",
        expires_at=datetime.now(UTC),
    )


def test_the_inbox_asks_each_granted_subtree_once() -> None:
    caller = principal(
        (Role.STREET_ADMIN, "xiaoshan.beigan"),
        (Role.COMMUNITY_STAFF, "xiaoshan.beigan.shibei"),
        (Role.RESIDENT, "xiaoshan.shushan.hushan"),
    )
    # A street's call covers its communities: Shibei is not asked on its own.
    tenants = inbox_tenants(caller)
    assert [t.value for t in tenants] == ["xiaoshan.beigan", "xiaoshan.shushan.hushan"]


def message(message_id: str, tenant: str, minute: int) -> pb.InboxMessage:
    received = datetime(2026, 11, 23, 9, minute, tzinfo=BEIJING)
    return pb.InboxMessage(message_id=message_id, tenant_id=tenant, received_at=stamp(received))


def test_the_tenants_answers_merge_newest_first_up_to_the_limit() -> None:
    shibei = pb.ListInboxResponse(
        messages=[message("a", "shibei", 50), message("b", "shibei", 10)], unread=2
    )
    hushan = pb.ListInboxResponse(messages=[message("c", "hushan", 30)], unread=1)
    merged = [m.message_id for m in newest_first([shibei, hushan], 10)]
    assert merged == ["a", "c", "b"]
    assert [m.message_id for m in newest_first([shibei, hushan], 2)] == ["a", "c"]
    shown = InboxMessageOut.of(message("a", "shibei", 50))
    assert shown.read is False
    assert shown.received_at == datetime(2026, 11, 23, 9, 50, tzinfo=BEIJING)


def test_a_platform_administrators_inbox_is_asked_at_the_registrys_roots() -> None:
    admin = replace(principal(), grants=frozenset({Grant(Role.PLATFORM_ADMIN, None)}))
    roots = [TenantId("xiaoshan"), TenantId("xiaoshan.beigan")]
    assert [t.value for t in inbox_tenants(admin, roots)] == ["xiaoshan"]
    # Without the global grant the registry's roots are nobody's inbox.
    assert inbox_tenants(principal(), roots) == []
