"""Case notifications: the cases service's facts (``shequ.cases.v1``) turned into in-app
messages, in the ``consume`` run mode.

- Dispatched, reassigned or escalated → the assignee (``case.dispatched`` / ``case.escalated``);
  accepted, resolved, closed with a rating requested → the reporter (``case.accepted``,
  ``case.resolved``, ``case.rating_requested``); overdue → the community's staff
  (``case.overdue``). A report alone says nothing new: routing follows it with actions.
- Who reads it: an account subject has its own inbox; a grid member without a login
  ("member:<id>") and the community queue are the community staff's shared inbox, the street
  queue the street admins'. A reporter without an account (a phone or hotline report recorded
  by staff) gets nothing: there is no inbox to write to.
- One notice per event (``source_event`` = the CloudEvent id, unique), its one delivery
  already delivered, the inbox message and the notice's NoticeCreated and NoticeSent facts, all
  in the consumer's transaction with the event's processed-id row: no dispatcher hop between a
  dispatch and the assignee's inbox, and a redelivered event creates nothing.
- The texts are the tenant's templates (own → street's → built-in), filled with
  ``notify.builtin.CASE_VARIABLES``; the facts carry no names, so an assignee is greeted as
  处置人, a shared inbox by its role and a reporter as residents are.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from notify import notices, templates
from notify.audiences import ROLE_LABELS, audience_json
from notify.channels.inbox import InboxEntry, store_in_inbox
from notify.models import DeliveryRow, NoticeRow
from notify.quiet import SHANGHAI
from shequ.cases.v1 import cases_pb2 as cpb
from shequ.cases.v1 import events_pb2 as cepb
from shequ.notify.v1 import events_pb2 as epb
from shequ.notify.v1 import notify_pb2 as pb
from shequ_kit.cloudevents import ReceivedEvent
from shequ_kit.consumer import EventConsumer
from shequ_kit.outbox import fact, publish, tenant_ref
from shequ_kit.tenancy import TenantId

if TYPE_CHECKING:
    from notify.app import NotifyCore

TYPE_PREFIX: Final = "shequ.cases.v1."
SENDER: Final = "system:cases"
KIND: Final = "case_update"
CHANNEL: Final = "inbox"

COMMUNITY_STAFF: Final = "role:community-staff"
STREET_ADMIN: Final = "role:street-admin"
# How the texts greet an assignee's account: the facts carry no names at all.
ASSIGNEE_GREETING: Final = "处置人"

# The words of the cases proto as the texts show them (the proto's own Chinese names).
STATE_LABELS: Final[Mapping[int, str]] = {
    cpb.CASE_STATE_REPORTED: "已上报",
    cpb.CASE_STATE_ACCEPTED: "已立案",
    cpb.CASE_STATE_REJECTED: "不予立案",
    cpb.CASE_STATE_VOIDED: "已作废",
    cpb.CASE_STATE_DISPATCHED: "已派遣",
    cpb.CASE_STATE_IN_PROGRESS: "处置中",
    cpb.CASE_STATE_SUSPENDED: "缓办",
    cpb.CASE_STATE_RESOLVED: "处置完成",
    cpb.CASE_STATE_VERIFIED: "已核查",
    cpb.CASE_STATE_CLOSED: "已结案",
    cpb.CASE_STATE_RATED: "已评价",
    cpb.CASE_STATE_MERGED: "已并案",
}
LEVEL_LABELS: Final[Mapping[int, str]] = {
    cpb.LEVEL_MICRO_GRID: "微网格",
    cpb.LEVEL_GRID: "网格",
    cpb.LEVEL_COMMUNITY: "社区",
    cpb.LEVEL_STREET: "街道",
}
RATING_LABELS: Final[Mapping[int, str]] = {
    cpb.RATING_SATISFIED: "满意",
    cpb.RATING_BASICALLY_SATISFIED: "基本满意",
    cpb.RATING_UNSATISFIED: "不满意",
}
OVERDUE_LABEL: Final = "超期"


@dataclass(frozen=True, slots=True)
class Rule:
    """Which template an action is told with, and to whom."""

    template_code: str
    to_assignee: bool  # else the reporter


# Actions not listed tell nobody (start, verify, suspend, … are the handlers' own steps).
ACTION_RULES: Final[Mapping[str, Rule]] = {
    "dispatch": Rule("case.dispatched", to_assignee=True),
    "reassign": Rule("case.dispatched", to_assignee=True),
    "escalate": Rule("case.escalated", to_assignee=True),
    "accept": Rule("case.accepted", to_assignee=False),
    "resolve": Rule("case.resolved", to_assignee=False),
    "close": Rule("case.rating_requested", to_assignee=False),
}
# The action words as the texts show them ("已派遣给您", "已改派给您").
ACTION_LABELS: Final[Mapping[str, str]] = {
    "dispatch": "派遣",
    "reassign": "改派",
    "escalate": "上报",
    "accept": "受理",
    "resolve": "处置完成",
    "close": "结案",
}
OVERDUE_TEMPLATE: Final = "case.overdue"


@dataclass(frozen=True, slots=True)
class CaseNotice:
    """One case notification: the template, whose inbox it lands in, how the text greets them,
    and the case facts it tells."""

    template_code: str
    owner: str  # "account:<subject>" or "role:<role>"
    greeting: str
    facts: cepb.CaseFacts
    action: str  # the action word, or "" for an overdue case
    rating: int = cpb.RATING_UNSPECIFIED


def assignee_owner(assignee: str) -> str | None:
    """The inbox a case assignee reads: their account's, or the staff's shared one for a member
    without a login and for the community queue; the street admins' for the street queue."""
    if not assignee:
        return None
    if assignee == "queue:street":
        return STREET_ADMIN
    if assignee.startswith(("member:", "queue:")):
        return COMMUNITY_STAFF
    return f"account:{assignee}"


def notice_for_action(message: cepb.CaseActionTaken) -> CaseNotice | None:
    """The notification an action gives rise to, if any."""
    rule = ACTION_RULES.get(message.action)
    if rule is None or (message.action == "close" and not message.rating_requested):
        return None
    facts = message.case
    if rule.to_assignee:
        owner = assignee_owner(facts.assignee)
        greeting = greeting_of(owner or "")
    else:
        owner = f"account:{facts.reporter_subject}" if facts.reporter_subject else None
        greeting = ""  # the template's default greeting for residents
    if owner is None:
        return None
    return CaseNotice(rule.template_code, owner, greeting, facts, message.action, message.rating)


def notice_for_overdue(message: cepb.CaseOverdue) -> CaseNotice:
    return CaseNotice(
        OVERDUE_TEMPLATE, COMMUNITY_STAFF, greeting_of(COMMUNITY_STAFF), message.case, ""
    )


def greeting_of(owner: str) -> str:
    """A role's label for a shared inbox (as audiences name role recipients), else how an
    assignee is greeted."""
    kind, _, role = owner.partition(":")
    return ROLE_LABELS.get(role, role) if kind == "role" else ASSIGNEE_GREETING


def case_variables(notice: CaseNotice) -> dict[str, str]:
    """Every variable a case template may use (``notify.builtin.CASE_VARIABLES``), as text."""
    facts = notice.facts
    deadline = ""
    if facts.HasField("deadline"):
        moment = facts.deadline.ToDatetime(tzinfo=UTC).astimezone(SHANGHAI)
        deadline = moment.strftime("%Y-%m-%d %H:%M")
    return {
        "number": facts.number,
        "category": facts.category_name or facts.category_code,
        "deadline": deadline,
        "level": LEVEL_LABELS.get(facts.level, ""),
        "state": STATE_LABELS.get(facts.state, ""),
        "action": ACTION_LABELS.get(notice.action, OVERDUE_LABEL),
        "rating": RATING_LABELS.get(notice.rating, ""),
    }


def audience_of(owner: str) -> pb.Audience:
    """The one owner as a notice's audience."""
    kind, _, name = owner.partition(":")
    return pb.Audience(roles=[name]) if kind == "role" else pb.Audience(account_subjects=[name])


def write_case_notice(
    sessions: sessionmaker[Session],
    session: Session,
    tenant: TenantId,
    notice: CaseNotice,
    *,
    topic: str,
    source_event: uuid.UUID,
    now: datetime,
) -> uuid.UUID | None:
    """The notice, its delivered inbox delivery, the inbox message and the notice's facts
    (created, sent) in ``session``'s transaction; None when this event's notice exists already
    (then nothing is written)."""
    found = templates.find(sessions, session, tenant, notice.template_code)
    variables = case_variables(notice)
    definition = found.definition
    subject, body = templates.render(
        definition.subject, definition.body, variables, notice.greeting
    )
    case_id = uuid.UUID(notice.facts.case_id)
    notice_id = session.execute(
        insert(NoticeRow)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant.value,
            kind=KIND,
            template_code=definition.code,
            template_version=found.source_version,
            subject_source=definition.subject,
            body_source=definition.body,
            variables=variables,
            audience=audience_json(audience_of(notice.owner)),
            channels=[CHANNEL],
            urgent=notice.facts.urgent,
            state="sent",
            send_at=now,
            expanded_at=now,
            created_at=now,
            started_at=now,
            finished_at=now,
            sender=SENDER,
            source_event=str(source_event),
            case_id=case_id,
            version=1,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "source_event"])
        .returning(NoticeRow.id)
    ).scalar()
    if notice_id is None:
        return None
    delivery = DeliveryRow(
        id=uuid.uuid4(),
        tenant_id=tenant.value,
        notice_id=notice_id,
        recipient=notice.owner,
        recipient_name=notice.greeting,
        channel=CHANNEL,
        address=None,  # final at once: nothing to keep
        masked_address=notice.owner,
        state="delivered",
        attempts=1,
        sent_at=now,
        delivered_at=now,
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    store_in_inbox(
        session,
        [
            InboxEntry(
                tenant_id=tenant.value,
                owner=notice.owner,
                notice_id=notice_id,
                delivery_id=delivery.id,
                kind=KIND,
                subject=subject,
                body=body,
                urgent=notice.facts.urgent,
                case_id=case_id,
            )
        ],
        received_at=now,
    )
    _publish_facts(session, tenant, notice_id, urgent=notice.facts.urgent, topic=topic, now=now)
    return notice_id


def _publish_facts(
    session: Session,
    tenant: TenantId,
    notice_id: uuid.UUID,
    *,
    urgent: bool,
    topic: str,
    now: datetime,
) -> None:
    # Born sent: a case notice's creation and completion are published together, so the
    # notify topic counts every notice alike.
    at = notices.timestamp(now)
    for payload in (
        epb.NoticeCreated(
            tenant=tenant_ref(tenant),
            notice_id=str(notice_id),
            kind=pb.NOTICE_KIND_CASE_UPDATE,
            urgent=urgent,
            sender=SENDER,
            send_at=at,
        ),
        epb.NoticeSent(
            tenant=tenant_ref(tenant),
            notice_id=str(notice_id),
            counts=notices.counts(session, [notice_id])[notice_id],
            finished_at=at,
        ),
    ):
        publish(
            session,
            fact(
                payload, source=notices.SOURCE, topic=topic, tenant=tenant, aggregate_id=notice_id
            ),
        )


@dataclass
class CaseNotifier:
    """The consumer's handler for the cases topic; counts the notices written per template."""

    sessions: sessionmaker[Session]
    topic: str  # notify's own events topic, for the notices' facts
    written: dict[str, int] = field(default_factory=dict)

    def __call__(self, session: Session, event: ReceivedEvent) -> None:
        if not event.type.startswith(TYPE_PREFIX):
            return
        name = event.type.removeprefix(TYPE_PREFIX)
        notice: CaseNotice | None = None
        if name == "CaseActionTaken":
            notice = notice_for_action(event.decode_for_tenant(cepb.CaseActionTaken))
        elif name == "CaseOverdue":
            notice = notice_for_overdue(event.decode_for_tenant(cepb.CaseOverdue))
        if notice is None:
            return
        written = write_case_notice(
            self.sessions,
            session,
            event.tenant,
            notice,
            topic=self.topic,
            source_event=event.id,
            now=_now(),
        )
        if written is not None:
            self.written[notice.template_code] = self.written.get(notice.template_code, 0) + 1


def _now() -> datetime:
    return datetime.now(UTC)


def consumer(core: NotifyCore) -> EventConsumer:
    """The ``consume`` run mode's consumer of the cases facts."""
    return EventConsumer(
        group=core.settings.consumer_group,
        topics=[core.settings.cases_topic],
        handler=CaseNotifier(core.sessions, core.settings.events_topic),
        sessions=core.sessions,
        bootstrap_servers=core.settings.kafka_bootstrap_servers,
        send_timeout_s=core.settings.kafka_timeout_s,
    )
