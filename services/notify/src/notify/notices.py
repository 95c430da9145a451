"""Notices: composing one (template + variables + audience + channels), previewing it, creating
it (once per idempotency key), reading it with its delivery counts, cancelling it before it
goes out and queueing its failed deliveries again.

A notice keeps the template's texts as they were when it was created: editing the template
later does not change a notice already written. Its audience is resolved when it is sent (by
the dispatcher, ``notify.delivery``), so a resident who moves in before then is reached.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from notify import audiences, preferences, templates
from notify.models import DeliveryRow, NoticeRow
from notify.quiet import next_allowed
from notify.templates import FoundTemplate
from notify.vocabulary import (
    CHANNELS,
    DELIVERY_STATES,
    KINDS,
    NOTICE_STATE_LABELS,
    NOTICE_STATES,
    value_of,
    word_of,
)
from shequ.census.v1 import census_pb2 as cpb
from shequ.notify.v1 import events_pb2 as epb
from shequ.notify.v1 import notify_pb2 as pb
from shequ_kit.checks import RequestChecks
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input, not_found
from shequ_kit.outbox import fact, publish, tenant_ref
from shequ_kit.paging import Page, sort_key
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Role

if TYPE_CHECKING:
    from notify.app import NotifyCore

CHECK = RequestChecks("notify")
SOURCE: Final = "/shequ/notify"
# A send time this far in the past is a clock's difference, not a mistake: it means now.
SEND_AT_TOLERANCE: Final = timedelta(minutes=1)
MAX_SCHEDULE_AHEAD: Final = timedelta(days=366)
MAX_AUDIENCE_ITEMS: Final = 10_000
MAX_IDEMPOTENCY_KEY: Final = 200
UNREACHABLE: Final = "none"
# Deliveries still on their way count as queued in every answer.
PENDING: Final = ("queued", "sending")
INBOX_ROLES: Final = frozenset(r.value for r in Role if r is not Role.PII_READER)


@dataclass(frozen=True)
class Draft:
    """A notice as composed, checked: everything creating or previewing it needs."""

    kind: str
    template: FoundTemplate
    variables: dict[str, str]
    audience: pb.Audience
    channels: list[str]
    urgent: bool
    send_at: datetime  # now when not scheduled


# ---- composing ----


def check_draft(
    core: NotifyCore, session: Session, tenant: TenantId, draft: pb.NoticeDraft, now: datetime
) -> Draft:
    """The draft, or a 422 naming what is wrong with it: the template exists, the variables
    fit it, at least one channel and each once, an audience that names someone, a send time
    not in the past."""
    if not tenant.is_community:
        raise invalid_input(
            "notify.community_required",
            "通知须以社区名义发送，请选择社区",
            f"notices are sent by a community; {tenant} is not one",
            FieldViolation("x-tenant-id", "a community"),
        )
    code = draft.template_code.strip()
    if not code:
        raise invalid_input(
            "notify.template_code_required",
            "请选择通知模板",
            "draft.template_code is required",
            FieldViolation("draft.template_code", "required"),
        )
    try:
        template = templates.find(core.sessions, session, tenant, code)
    except DomainError as missing:
        raise invalid_input(
            "notify.template_code_invalid",
            f"没有通知模板 {code}",
            f"no notification template {code!r}",
            FieldViolation("draft.template_code", "not a template of this community"),
        ) from missing
    kind = word_of(KINDS, draft.kind) or template.definition.kind
    if kind == "case_update":
        raise invalid_input(
            "notify.kind_invalid",
            "事件进展通知由系统根据事件办理自动发送",
            "case updates are sent by the system from the cases' events",
            FieldViolation("draft.kind", "anti_fraud, event, meeting or general"),
        )
    return Draft(
        kind=kind,
        template=template,
        variables=templates.check_variables(template.definition, draft.variables),
        audience=checked_audience(draft.audience),
        channels=checked_channels(draft.channels),
        urgent=draft.urgent,
        send_at=send_at_of(draft, now),
    )


def checked_channels(given: Sequence[int]) -> list[str]:
    words: list[str] = []
    for value in given:
        word = word_of(CHANNELS, value)
        if word is None or word in words:
            raise invalid_input(
                "notify.channels_invalid",
                "通知渠道无效或重复",
                "draft.channels: each of inbox, email, wecom, sms at most once",
                FieldViolation("draft.channels", "inbox, email, wecom or sms, each once"),
            )
        words.append(word)
    if not words:
        raise invalid_input(
            "notify.channels_required",
            "请至少选择一个通知渠道",
            "draft.channels must name at least one channel",
            FieldViolation("draft.channels", "at least one channel"),
        )
    return words


def checked_audience(given: pb.Audience) -> pb.Audience:
    """The audience with ids checked and repeats dropped; one that names nobody is refused."""
    audience = pb.Audience(whole_community=given.whole_community)
    problems: list[FieldViolation] = []
    for name in ("grid_ids", "micro_grid_ids", "complex_ids", "building_ids", "resident_ids"):
        values = list(dict.fromkeys(v.strip() for v in getattr(given, name)))
        for value in values:
            try:
                uuid.UUID(value)
            except ValueError:
                problems.append(FieldViolation(f"draft.audience.{name}", f"{value!r} is no id"))
        getattr(audience, name).extend(values)
    subjects = list(dict.fromkeys(s.strip() for s in given.account_subjects if s.strip()))
    audience.account_subjects.extend(subjects)
    roles = list(dict.fromkeys(r.strip() for r in given.roles))
    problems += [
        FieldViolation("draft.audience.roles", f"{role!r} is not a role with an inbox")
        for role in roles
        if role not in INBOX_ROLES
    ]
    audience.roles.extend(roles)
    for name, known in (("care_tags", cpb.CareTag), ("residence_types", cpb.ResidenceType)):
        values = list(dict.fromkeys(getattr(given, name)))
        if any(v not in known.values() or v == 0 for v in values):
            problems.append(FieldViolation(f"draft.audience.{name}", "unknown value"))
        getattr(audience, name).extend(values)
    items = sum(len(getattr(audience, f.name)) for f in pb.Audience.DESCRIPTOR.fields[1:])
    if items > MAX_AUDIENCE_ITEMS:
        problems.append(FieldViolation("draft.audience", f"at most {MAX_AUDIENCE_ITEMS} items"))
    if problems:
        raise invalid_input(
            "notify.audience_invalid",
            "通知对象有误：" + "；".join(f"{p.field} {p.description}" for p in problems),
            "the audience is not valid: " + "; ".join(p.field for p in problems),
            *problems,
        )
    if not (audiences.names_residents(audience) or audience.account_subjects or audience.roles):
        raise invalid_input(
            "notify.audience_empty",
            "请选择通知对象：全社区、网格、小区、楼栋、居民、账号或角色",
            "the audience names nobody",
            FieldViolation("draft.audience", "name someone, or whole_community"),
        )
    return audience


def send_at_of(draft: pb.NoticeDraft, now: datetime) -> datetime:
    if not draft.HasField("send_at"):
        return now
    wanted = draft.send_at.ToDatetime(tzinfo=UTC)
    if wanted < now - SEND_AT_TOLERANCE or wanted > now + MAX_SCHEDULE_AHEAD:
        raise invalid_input(
            "notify.send_at_invalid",
            "发送时间不能早于现在，且不超过一年",
            "draft.send_at must be from now to a year ahead",
            FieldViolation("draft.send_at", "not in the past, at most a year ahead"),
        )
    return max(wanted, now)


def sample(draft: Draft, recipient_name: str = "") -> tuple[str, str]:
    """The texts as one recipient would read them."""
    d = draft.template.definition
    return templates.render(d.subject, d.body, draft.variables, recipient_name)


# ---- preview ----


def preview(
    core: NotifyCore, session: Session, tenant: TenantId, draft: Draft, now: datetime
) -> pb.PreviewNoticeResponse:
    """Who would get it on which channel (after fallback; "none" for nobody reachable), the
    texts for the first recipient, and when it would go out. No phone is asked for."""
    counts: dict[str, int] = defaultdict(int)
    first_name: str | None = None
    for recipient in audiences.resolve(
        core, tenant, draft.audience, draft.channels, purpose="", with_phones=False
    ):
        if first_name is None:
            first_name = recipient.name
        chosen = audiences.choose_channel(recipient, draft.channels)
        counts[chosen[0] if chosen else UNREACHABLE] += 1
    subject, body = sample(draft, first_name or "")
    would_send_at = draft.send_at
    held = any(c not in {"inbox", UNREACHABLE} and n for c, n in counts.items())
    if held and not draft.urgent:
        quiet = preferences.quiet_hours(core.sessions, session, tenant, core.settings)
        would_send_at = next_allowed(draft.send_at, quiet.start, quiet.end)
    return pb.PreviewNoticeResponse(
        recipients=sum(counts.values()),
        by_channel=dict(counts),
        subject=subject,
        body=body,
        would_send_at=timestamp(would_send_at),
    )


# ---- creating ----


def create(
    core: NotifyCore,
    session: Session,
    tenant: TenantId,
    draft: Draft,
    *,
    sender: str,
    idempotency_key: str,
) -> NoticeRow:
    """Write the notice and its NoticeCreated fact in the caller's transaction. The same
    sender's same key answers the notice written the first time (a retried request)."""
    key = CHECK.optional_text(idempotency_key, "idempotency_key", "幂等键", MAX_IDEMPOTENCY_KEY)
    if key and (earlier := _by_key(session, sender, key)) is not None:
        return earlier
    d = draft.template.definition
    row = NoticeRow(
        id=uuid.uuid4(),
        tenant_id=tenant.value,
        kind=draft.kind,
        template_code=d.code,
        template_version=draft.template.source_version,
        subject_source=d.subject,
        body_source=d.body,
        variables=draft.variables,
        audience=audiences.audience_json(draft.audience),
        channels=draft.channels,
        urgent=draft.urgent,
        state="scheduled",
        send_at=draft.send_at,
        sender=sender,
        idempotency_key=key or None,
        version=1,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        # The same key won a race a moment ago: that request's notice is the answer.
        if key and (earlier := _by_key(session, sender, key)) is not None:
            return earlier
        raise
    publish(
        session,
        fact(
            epb.NoticeCreated(
                tenant=tenant_ref(tenant),
                notice_id=str(row.id),
                kind=value_of(KINDS, row.kind),  # type: ignore[arg-type]
                urgent=row.urgent,
                sender=sender,
                send_at=timestamp(row.send_at),
            ),
            source=SOURCE,
            topic=core.settings.events_topic,
            tenant=tenant,
            aggregate_id=row.id,
        ),
    )
    return row


def _by_key(session: Session, sender: str, key: str) -> NoticeRow | None:
    return session.scalar(
        select(NoticeRow).where(NoticeRow.sender == sender, NoticeRow.idempotency_key == key)
    )


# ---- reading ----


def load(session: Session, notice_id: str, *, lock: bool = False) -> NoticeRow:
    """The tenant's notice; 404 for an unknown id and for another community's."""
    query = select(NoticeRow).where(NoticeRow.id == CHECK.uuid(notice_id.strip(), "notice_id"))
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise not_found("notify.notice_not_found", "没有该通知", f"no notice {notice_id}")
    return row


def list_query(states: Iterable[int], kind: int, page: Page) -> Any:
    """The tenant's notices, newest first, filtered by state and kind."""
    query = select(NoticeRow).order_by(NoticeRow.created_at.desc(), NoticeRow.id.desc())
    words = [word for word, value in NOTICE_STATES.items() if value in set(states)]
    if words:
        query = query.where(NoticeRow.state.in_(words))
    if kind:
        query = query.where(NoticeRow.kind == word_of(KINDS, kind))
    if (after := sort_key(page, datetime.fromisoformat, uuid.UUID)) is not None:
        query = query.where(tuple_(NoticeRow.created_at, NoticeRow.id) < after)
    return query.limit(page.size + 1)


def notice_sort_key(row: NoticeRow) -> list[str]:
    return [row.created_at.isoformat(), str(row.id)]


def counts(session: Session, notice_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, pb.DeliveryCounts]:
    """Deliveries per notice by state and by channel, and how many were read."""
    found = {notice_id: pb.DeliveryCounts() for notice_id in notice_ids}
    if not notice_ids:
        return found
    grouped = session.execute(
        select(
            DeliveryRow.notice_id,
            DeliveryRow.state,
            DeliveryRow.channel,
            func.count(),
            func.count(DeliveryRow.read_at),
        )
        .where(DeliveryRow.notice_id.in_(notice_ids))
        .group_by(DeliveryRow.notice_id, DeliveryRow.state, DeliveryRow.channel)
    )
    for notice_id, state, channel, number, read in grouped:
        total = found[notice_id]
        total.recipients += number
        total.read += read
        word = "queued" if state in PENDING else state
        setattr(total, word, getattr(total, word) + number)
        if channel is not None:
            per_channel = total.by_channel[channel]
            per_channel.read += read
            if word != "unreachable":
                setattr(per_channel, word, getattr(per_channel, word) + number)
    return found


def notice_pb(row: NoticeRow, delivered: pb.DeliveryCounts | None = None) -> pb.Notice:
    """The notice as answered; its texts rendered for an unnamed recipient."""
    subject, body = templates.render(row.subject_source, row.body_source, row.variables, "")
    notice = pb.Notice(
        notice_id=str(row.id),
        kind=value_of(KINDS, row.kind),  # type: ignore[arg-type]
        template_code=row.template_code,
        variables=row.variables,
        audience=audiences.audience_of(row.audience),
        channels=[value_of(CHANNELS, c) for c in row.channels],  # type: ignore[misc]
        urgent=row.urgent,
        state=value_of(NOTICE_STATES, row.state),  # type: ignore[arg-type]
        send_at=timestamp(row.send_at),
        created_at=timestamp(row.created_at),
        sender=row.sender,
        subject=subject,
        body=body,
        counts=delivered or pb.DeliveryCounts(),
        version=row.version,
    )
    for name in ("started_at", "finished_at", "held_until"):
        if (moment := getattr(row, name)) is not None:
            getattr(notice, name).CopyFrom(timestamp(moment))
    return notice


def deliveries_query(notice_id: uuid.UUID, states: Iterable[int], page: Page) -> Any:
    query = (
        select(DeliveryRow)
        .where(DeliveryRow.notice_id == notice_id)
        .order_by(DeliveryRow.created_at, DeliveryRow.id)
    )
    wanted = set(states)
    words = [word for word, value in DELIVERY_STATES.items() if value in wanted]
    if words:
        query = query.where(DeliveryRow.state.in_(words))
    if (after := sort_key(page, datetime.fromisoformat, uuid.UUID)) is not None:
        query = query.where(tuple_(DeliveryRow.created_at, DeliveryRow.id) > after)
    return query.limit(page.size + 1)


def delivery_sort_key(row: DeliveryRow) -> list[str]:
    return [row.created_at.isoformat(), str(row.id)]


def delivery_pb(row: DeliveryRow) -> pb.Delivery:
    delivery = pb.Delivery(
        delivery_id=str(row.id),
        notice_id=str(row.notice_id),
        recipient=row.recipient,
        recipient_name=row.recipient_name,
        channel=value_of(CHANNELS, row.channel),  # type: ignore[arg-type]
        address=row.masked_address,
        state=value_of(DELIVERY_STATES, row.state),  # type: ignore[arg-type]
        attempts=row.attempts,
        failure_reason=row.failure_reason,
    )
    for name in ("next_attempt_at", "sent_at", "delivered_at", "read_at"):
        if (moment := getattr(row, name)) is not None:
            getattr(delivery, name).CopyFrom(timestamp(moment))
    return delivery


# ---- changing ----


def cancel(
    core: NotifyCore,
    session: Session,
    notice_id: str,
    *,
    expected_version: int,
    reason: str,
    by: str,
    now: datetime,
) -> NoticeRow:
    """Cancel a notice that has not begun to go out; once sending began it cannot be taken
    back (409 naming its state)."""
    row = load(session, notice_id, lock=True)
    CHECK.version(row, expected_version)
    if row.state != "scheduled":
        label = NOTICE_STATE_LABELS[row.state]
        raise DomainError(
            "notify.notice_not_cancellable",
            f"通知{label}，不能取消",
            f"the notice is {row.state}; only a scheduled notice can be cancelled",
            ErrorKind.CONFLICT,
            params={"state": row.state},
        )
    row.state = "cancelled"
    row.cancelled_by = by
    row.cancel_reason = CHECK.optional_text(reason, "reason", "取消原因", 500) or None
    row.finished_at = now
    row.version += 1
    tenant = TenantId(row.tenant_id)
    publish(
        session,
        fact(
            epb.NoticeCancelled(
                tenant=tenant_ref(tenant), notice_id=str(row.id), cancelled_by=by, at=timestamp(now)
            ),
            source=SOURCE,
            topic=core.settings.events_topic,
            tenant=tenant,
            aggregate_id=row.id,
        ),
    )
    return row


def resend_failed(session: Session, notice_id: str, now: datetime) -> tuple[int, NoticeRow]:
    """Queue the notice's failed deliveries again with fresh attempts, on all its channels.
    Their clear addresses were dropped when they failed: the dispatcher resolves the
    recipient again. A finished notice is sending again until they are settled."""
    row = load(session, notice_id, lock=True)
    if row.state == "cancelled":
        raise DomainError(
            "notify.notice_cancelled",
            "通知已取消，不能重发",
            "the notice was cancelled",
            ErrorKind.CONFLICT,
            params={"state": row.state},
        )
    requeued = session.scalars(
        update(DeliveryRow)
        .where(DeliveryRow.notice_id == row.id, DeliveryRow.state == "failed")
        .values(
            state="queued",
            attempts=0,
            next_attempt_at=now,
            lease_until=None,
            failure_reason="",
            tried_channels=[],
        )
        .returning(DeliveryRow.id)
        .execution_options(synchronize_session=False)
    ).all()
    if requeued and row.state == "sent":
        row.state = "sending"
        row.finished_at = None
        row.version += 1
    return len(requeued), row


# ---- shared ----


def timestamp(moment: datetime) -> Timestamp:
    found = Timestamp()
    found.FromDatetime(moment.astimezone(UTC))
    return found
