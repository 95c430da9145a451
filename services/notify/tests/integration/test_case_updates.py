"""Case notifications from the cases service's facts through the real Kafka broker into the
notify database: who finds which message in which inbox, that a redelivered event (same
CloudEvent id) writes nothing more, and that a fact smuggled under another community's header
writes nothing at all.

The facts are produced as the cases relay produces them: ``shequ_kit.outbox.fact`` gives the
CloudEvent, ``shequ_kit.cloudevents`` the record's key and headers.
"""

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import func, select

from notify.__main__ import MIGRATIONS
from notify.app import NotifyCore, prepare_core
from notify.case_updates import CaseNotifier, consumer
from notify.config import NotifySettings
from notify.models import DeliveryRow, InboxMessageRow, NoticeRow, outbox, processed_events
from shequ.cases.v1 import cases_pb2 as cpb
from shequ.cases.v1 import events_pb2 as epb
from shequ.notify.v1 import events_pb2 as notify_events
from shequ_infra import LocalInfrastructure
from shequ_infra.platform import create_platform_topics
from shequ_kit.cloudevents import ReceivedEvent, event_headers, record_key
from shequ_kit.db import system_scope
from shequ_kit.migrations import upgrade
from shequ_kit.outbox import Event, fact, tenant_ref
from shequ_kit.tenancy import TenantId, tenant_scope

SHIBEI = TenantId("xiaoshan.beigan.shibei")
HUSHAN = TenantId("xiaoshan.shushan.hushan")
CASES_TOPIC = "shequ.cases.v1"
GRID_WORKER = "3c9a1f0e-7b2d-4e58-9a61-5f0c2d8e4b17"
RESIDENT = "8b4e3d2c-5a6f-4071-8b92-4d6e8f0a2c35"
ARRIVAL_S = 2.0


@dataclass(frozen=True)
class Inbox:
    owner: str
    subject: str
    body: str
    urgent: bool


class CaseFeed:
    """Publishes case facts as the cases relay does, and reads what notify made of them."""

    def __init__(self, core: NotifyCore, producer: KafkaProducer) -> None:
        self.core = core
        self.producer = producer

    def send(
        self,
        payload: Message,
        case_id: str,
        *,
        header_tenant: TenantId | None = None,
        event_id: uuid.UUID | None = None,
    ) -> Event:
        # Every case fact names its tenant; the relay keys and heads it with that tenant.
        tenant = TenantId(getattr(payload, "tenant").tenant_id)  # noqa: B009 - any case fact
        event = fact(
            payload, source="/shequ/cases", topic=CASES_TOPIC, tenant=tenant, aggregate_id=case_id
        )
        if event_id is not None:
            event = dataclasses.replace(event, id=event_id)
        ce_tenant = header_tenant or tenant
        self.producer.send(
            event.topic,
            key=record_key(ce_tenant, event.aggregate_id).encode("utf-8"),
            value=event.payload.SerializeToString(),
            headers=event_headers(
                event_id=event.id,
                event_type=event.type,
                source=event.source,
                subject=event.aggregate_id,
                time=event.time,
                tenant=ce_tenant,
            ),
        ).get(timeout=10)
        return event

    def inbox(self, case_id: str) -> list[Inbox]:
        """Every inbox message about the case, in any tenant, oldest first."""
        with system_scope(), self.core.sessions() as session:
            rows = session.scalars(
                select(InboxMessageRow)
                .where(InboxMessageRow.case_id == uuid.UUID(case_id))
                .order_by(InboxMessageRow.received_at, InboxMessageRow.owner)
            )
            return [Inbox(r.owner, r.subject, r.body, r.urgent) for r in rows]

    def handled(self, *events: Event) -> bool:
        with system_scope(), self.core.sessions() as session:
            done = session.scalar(
                select(func.count())
                .select_from(processed_events)
                .where(
                    processed_events.c.consumer_group == self.core.settings.consumer_group,
                    processed_events.c.event_id.in_([e.id for e in events]),
                )
            )
        return done == len(events)


def eventually(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def core(infra: LocalInfrastructure) -> Iterator[NotifyCore]:
    create_platform_topics(infra.kafka.bootstrap_servers)
    settings = NotifySettings(
        database_url=infra.postgres.dsn("notify"),
        keycloak_issuer=infra.keycloak.issuer,
        kafka_bootstrap_servers=infra.kafka.bootstrap_servers,
        consumer_group=f"notify-cases-test-{uuid.uuid4().hex[:8]}",
    )
    upgrade(MIGRATIONS, settings.database_url)
    with prepare_core(settings) as prepared:
        yield prepared


@pytest.fixture(scope="module")
def feed(core: NotifyCore, infra: LocalInfrastructure) -> Iterator[CaseFeed]:
    """The ``consume`` run mode's consumer in a thread, and a producer of case facts; the
    consumer has joined its group once this returns (a first fact went through)."""
    stop = threading.Event()
    cases_consumer = consumer(core)
    worker = threading.Thread(target=cases_consumer.run_forever, args=(stop, 100), daemon=True)
    worker.start()
    producer = KafkaProducer(bootstrap_servers=infra.kafka.bootstrap_servers, acks="all")
    feed = CaseFeed(core, producer)
    warm_up = str(uuid.uuid4())
    feed.send(action(SHIBEI, warm_up, "dispatch"), warm_up)
    eventually(lambda: len(feed.inbox(warm_up)) == 1, 60)
    yield feed
    stop.set()
    worker.join(timeout=10)
    cases_consumer.close()
    producer.close()


def facts(case_id: str, **fields: object) -> epb.CaseFacts:
    deadline = Timestamp()
    deadline.FromDatetime(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    defaults: dict[str, object] = {
        "case_id": case_id,
        "number": f"SB-{case_id[:6]}",
        "category_code": "0301",
        "category_name": "占道经营",
        "state": cpb.CASE_STATE_DISPATCHED,
        "level": cpb.LEVEL_MICRO_GRID,
        "assignee": GRID_WORKER,
        "reporter_subject": RESIDENT,
        "deadline": deadline,
        "open": True,
        "version": 3,
    }
    return epb.CaseFacts(**{**defaults, **fields})  # type: ignore[arg-type]


def action(tenant: TenantId, case_id: str, name: str, **fields: object) -> epb.CaseActionTaken:
    requested = bool(fields.pop("rating_requested", False))
    return epb.CaseActionTaken(
        tenant=tenant_ref(tenant),
        case=facts(case_id, **fields),
        action=name,
        actor="system:router",
        rating_requested=requested,
    )


# --- who is told what ----------------------------------------------------------------------


def test_a_dispatch_reaches_the_assignees_inbox_within_two_seconds(feed: CaseFeed) -> None:
    case_id = str(uuid.uuid4())
    sent_at = time.monotonic()
    feed.send(action(SHIBEI, case_id, "dispatch"), case_id)
    eventually(lambda: len(feed.inbox(case_id)) == 1, ARRIVAL_S)
    took = time.monotonic() - sent_at

    [message] = feed.inbox(case_id)
    assert message.owner == f"account:{GRID_WORKER}"
    assert message.subject == f"【待办】事件 SB-{case_id[:6]} 已派遣给您"
    assert "处置人您好" in message.body
    assert "请在 2026-11-24 10:00 前处置" in message.body
    print(f"dispatch → assignee's inbox in {took * 1000:.0f} ms")


def test_a_routed_report_tells_the_reporter_and_the_staff_for_a_member_without_a_login(
    feed: CaseFeed,
) -> None:
    case_id = str(uuid.uuid4())
    member = f"member:{uuid.uuid4()}"
    reported = epb.CaseReported(
        tenant=tenant_ref(SHIBEI),
        case=facts(case_id, state=cpb.CASE_STATE_REPORTED, assignee="queue:community"),
    )
    accepted = action(SHIBEI, case_id, "accept", state=cpb.CASE_STATE_ACCEPTED)
    dispatched = action(SHIBEI, case_id, "dispatch", assignee=member)
    events = [feed.send(m, case_id) for m in (reported, accepted, dispatched)]
    eventually(lambda: feed.handled(*events))

    told = {(m.owner, m.subject) for m in feed.inbox(case_id)}
    assert told == {
        (f"account:{RESIDENT}", f"【已受理】您反映的事件 SB-{case_id[:6]} 已受理"),
        ("role:community-staff", f"【待办】事件 SB-{case_id[:6]} 已派遣给您"),
    }


def test_overdue_and_escalation_to_the_street_reach_the_shared_inboxes(feed: CaseFeed) -> None:
    case_id = str(uuid.uuid4())
    overdue = epb.CaseOverdue(
        tenant=tenant_ref(SHIBEI), case=facts(case_id, state=cpb.CASE_STATE_IN_PROGRESS)
    )
    escalated = action(
        SHIBEI, case_id, "escalate", assignee="queue:street", level=cpb.LEVEL_STREET, urgent=True
    )
    events = [feed.send(overdue, case_id), feed.send(escalated, case_id)]
    eventually(lambda: feed.handled(*events))

    by_owner = {m.owner: m for m in feed.inbox(case_id)}
    assert set(by_owner) == {"role:community-staff", "role:street-admin"}
    assert "超过处置时限 2026-11-24 10:00" in by_owner["role:community-staff"].body
    assert by_owner["role:street-admin"].subject == f"【上报】事件 SB-{case_id[:6]} 已上报至街道"
    assert by_owner["role:street-admin"].urgent


def test_the_reporter_hears_of_resolution_and_rating_and_a_phone_report_tells_nobody(
    feed: CaseFeed,
) -> None:
    case_id, by_phone = str(uuid.uuid4()), str(uuid.uuid4())
    events = [
        feed.send(action(SHIBEI, case_id, "resolve", state=cpb.CASE_STATE_RESOLVED), case_id),
        feed.send(action(SHIBEI, case_id, "verify", state=cpb.CASE_STATE_VERIFIED), case_id),
        feed.send(
            action(SHIBEI, case_id, "close", state=cpb.CASE_STATE_CLOSED, rating_requested=True),
            case_id,
        ),
        feed.send(
            action(SHIBEI, by_phone, "accept", state=cpb.CASE_STATE_ACCEPTED, reporter_subject=""),
            by_phone,
        ),
    ]
    eventually(lambda: feed.handled(*events))

    assert [(m.owner, m.subject) for m in feed.inbox(case_id)] == [
        (f"account:{RESIDENT}", f"【已处置】您反映的事件 SB-{case_id[:6]} 已处置完毕"),
        (f"account:{RESIDENT}", f"【请评价】事件 SB-{case_id[:6]} 已办结"),
    ]
    assert feed.inbox(by_phone) == []


# --- exactly once --------------------------------------------------------------------------


def test_a_notice_is_written_whole_once_and_a_redelivered_event_writes_nothing(
    feed: CaseFeed, core: NotifyCore
) -> None:
    case_id = str(uuid.uuid4())
    first = feed.send(action(SHIBEI, case_id, "dispatch"), case_id)
    eventually(lambda: len(feed.inbox(case_id)) == 1)

    # The same CloudEvent again through Kafka, then a later fact of the same case (same key,
    # same partition, so handled after the redelivery).
    feed.send(action(SHIBEI, case_id, "dispatch"), case_id, event_id=first.id)
    later = feed.send(action(SHIBEI, case_id, "reassign"), case_id)
    eventually(lambda: feed.handled(later))
    # And once more past the processed-events record, as a consumer group started afresh
    # would deliver it: the notice's unique source event refuses it.
    replayed = ReceivedEvent(
        id=first.id,
        type=first.type,
        source=first.source,
        subject=first.aggregate_id,
        time=first.time,
        tenant=SHIBEI,
        payload=first.payload.SerializeToString(),
        topic=CASES_TOPIC,
        partition=0,
        offset=0,
        key=None,
    )
    with tenant_scope(SHIBEI), core.sessions.begin() as session:
        CaseNotifier(core.sessions, core.settings.events_topic)(session, replayed)

    assert [m.subject.split()[-1] for m in feed.inbox(case_id)] == ["已派遣给您", "已改派给您"]
    with system_scope(), core.sessions() as session:
        notice = session.scalars(
            select(NoticeRow).where(NoticeRow.source_event == str(first.id))
        ).one()
        deliveries = session.scalars(
            select(DeliveryRow).where(DeliveryRow.notice_id == notice.id)
        ).all()
        facts_published = session.execute(
            select(outbox.c.event_type, outbox.c.payload, outbox.c.topic)
            .where(outbox.c.aggregate_id == str(notice.id))
            .order_by(outbox.c.id)
        ).all()
    assert (notice.tenant_id, notice.kind, notice.state, notice.channels) == (
        SHIBEI.value,
        "case_update",
        "sent",
        ["inbox"],
    )
    assert (notice.sender, str(notice.case_id), notice.template_code) == (
        "system:cases",
        case_id,
        "case.dispatched",
    )
    assert notice.finished_at is not None
    assert [(d.recipient, d.channel, d.state, d.address) for d in deliveries] == [
        (f"account:{GRID_WORKER}", "inbox", "delivered", None)
    ]
    assert [(t, topic) for t, _, topic in facts_published] == [
        ("shequ.notify.v1.NoticeCreated", core.settings.events_topic),
        ("shequ.notify.v1.NoticeSent", core.settings.events_topic),
    ]
    counts = notify_events.NoticeSent.FromString(facts_published[1].payload).counts
    assert (counts.recipients, counts.delivered, counts.by_channel["inbox"].delivered) == (1, 1, 1)


# --- tenants -------------------------------------------------------------------------------


def test_a_community_sees_none_of_anothers_case_messages(feed: CaseFeed, core: NotifyCore) -> None:
    case_id = str(uuid.uuid4())
    event = feed.send(action(HUSHAN, case_id, "dispatch"), case_id)
    eventually(lambda: feed.handled(event))

    def messages_seen_from(tenant: TenantId) -> int:
        with tenant_scope(tenant), core.sessions() as session:
            return len(
                session.scalars(
                    select(InboxMessageRow).where(InboxMessageRow.case_id == uuid.UUID(case_id))
                ).all()
            )

    assert messages_seen_from(HUSHAN) == 1
    assert messages_seen_from(SHIBEI) == 0


def test_a_fact_under_another_communitys_header_is_dead_lettered_and_writes_nothing(
    feed: CaseFeed, infra: LocalInfrastructure
) -> None:
    case_id = str(uuid.uuid4())
    # Hushan's case under Shibei's header: one of the two is lying.
    smuggled = feed.send(action(HUSHAN, case_id, "dispatch"), case_id, header_tenant=SHIBEI)
    dead = KafkaConsumer(
        f"{CASES_TOPIC}.dlq",
        bootstrap_servers=infra.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"dlq-{uuid.uuid4().hex}",
        consumer_timeout_ms=60_000,
    )
    reason = ""
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers or []}
        if headers.get("ce_id") == str(smuggled.id):
            reason = headers.get("x-error", "")
            break
    dead.close()

    assert "TenantMismatchError" in reason
    assert feed.inbox(case_id) == []
