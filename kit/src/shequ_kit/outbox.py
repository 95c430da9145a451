"""The transactional outbox: an event is written in the same transaction as the change it reports.

A service declares the table once, next to its models, so Alembic autogenerate sees it::

    outbox_table(Base.metadata)

and its domain code appends events in the transaction it already has::

    publish(session, Event(type="shequ.census.v1.ResidentRegistered", source="/shequ/census",
                           topic="shequ.census.v1", tenant=tenant, aggregate_id=str(resident.id),
                           payload=registered))

If the transaction rolls back, so does the event; once it commits, ``shequ_kit.relay`` sends it.
Payloads whose message type has a field named in ``NEVER_PUBLISHED`` are refused outright.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Protocol

from google.protobuf.message import Message
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    func,
    insert,
    text,
)
from sqlalchemy.orm import Session

from shequ.common.v1 import tenant_pb2
from shequ_kit.errors import permission_denied
from shequ_kit.tenancy import TenantId, current_tenant

OUTBOX_TABLE: Final = "outbox"
# Notified on commit of every transaction that adds events; the relay listens to send at once.
RELAY_CHANNEL: Final = "shequ_outbox"
_WOKEN: Final = "shequ_outbox_notified"

# Personal data and credentials never leave a service in an event, whatever the consumer: events
# are retained, replayed and read by every subscriber. A field is refused when one of these
# appears in its name as whole words (``phone`` refuses ``phone``, ``contact_phone`` and
# ``phone_number``; not ``telephoned``). Publish a masked value or an opaque reference instead.
NEVER_PUBLISHED: Final[frozenset[str]] = frozenset(
    {
        "id_number",
        "id_card",
        "passport",
        "phone",
        "mobile",
        "telephone",
        "email",
        "password",
        "secret",
        "token",
        "bank_account",
        "bank_card",
    }
)

_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")  # what Kafka accepts as a topic name


def outbox_table(metadata: MetaData) -> Table:
    """The ``outbox`` table in ``metadata`` (declared once; later calls return the same table)."""
    existing = metadata.tables.get(OUTBOX_TABLE)
    if existing is not None:
        return existing
    table = Table(
        OUTBOX_TABLE,
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("tenant_id", String(200), nullable=False),
        Column("aggregate_id", String(200), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("source", String(200), nullable=False),
        Column("topic", String(249), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        # ce_time: when the change happened, as the producer says.
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        # When the row was written; the relay's lag is measured from here.
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True), nullable=True),
    )
    # The relay only ever looks for unsent rows in id order; sent rows stay out of the index.
    Index("ix_outbox_unsent", table.c.id, postgresql_where=table.c.sent_at.is_(None))
    return table


# publish() needs only the table's name and columns, not the service's MetaData.
_OUTBOX = outbox_table(MetaData())


def _word_runs(name: str) -> set[str]:
    words = name.lower().split("_")
    return {"_".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)}


def carries_personal_data(name: str) -> bool:
    """Whether a field called ``name`` would carry personal data or credentials by the
    ``NEVER_PUBLISHED`` rule (the audit log's details obey it too)."""
    return bool(_word_runs(name) & NEVER_PUBLISHED)


class _FieldSchema(Protocol):
    # What the walk reads of a protobuf FieldDescriptor (pure-Python or upb).
    @property
    def name(self) -> str: ...
    @property
    def message_type(self) -> _MessageSchema | None: ...


class _MessageSchema(Protocol):
    @property
    def full_name(self) -> str: ...
    @property
    def fields(self) -> Sequence[_FieldSchema]: ...


_paths_by_type: dict[type[Message], tuple[str, ...]] = {}  # a message type's schema is fixed


def _never_published_paths(message_type: type[Message]) -> tuple[str, ...]:
    if message_type in _paths_by_type:
        return _paths_by_type[message_type]
    found: list[str] = []
    seen: set[str] = set()

    def walk(schema: _MessageSchema, prefix: str) -> None:
        # Recursive message types (trees, google.protobuf.Struct) are walked once.
        if schema.full_name in seen:
            return
        seen.add(schema.full_name)
        for item in schema.fields:
            path = f"{prefix}{item.name}"
            if carries_personal_data(item.name):
                found.append(path)
            if item.message_type is not None:
                walk(item.message_type, f"{path}.")

    walk(message_type.DESCRIPTOR, "")
    _paths_by_type[message_type] = tuple(found)
    return _paths_by_type[message_type]


def refuse_never_published(message_type: type[Message]) -> None:
    """Raise ``ValueError`` if ``message_type`` has, at any depth, a ``NEVER_PUBLISHED`` field."""
    paths = _never_published_paths(message_type)
    if paths:
        raise ValueError(
            f"{message_type.DESCRIPTOR.full_name} cannot be published: field(s) "
            f"{', '.join(paths)} carry personal data or credentials "
            "(shequ_kit.outbox.NEVER_PUBLISHED); publish a masked value or an opaque reference"
        )


@dataclass(frozen=True, kw_only=True)
class Event:
    """A fact to publish: CloudEvents attributes, the Kafka topic and a protobuf payload."""

    type: str  # e.g. "shequ.census.v1.ResidentRegistered"
    source: str  # e.g. "/shequ/census"
    topic: str  # e.g. "shequ.census.v1"
    tenant: TenantId
    aggregate_id: str  # ce_subject, and with the tenant the record key
    payload: Message
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        for name in ("type", "source", "aggregate_id"):
            if not getattr(self, name):
                raise ValueError(f"an event needs a {name}")
        if not _TOPIC.match(self.topic):
            raise ValueError(f"{self.topic!r} is not a Kafka topic name")
        if self.time.tzinfo is None:
            raise ValueError("event times must be timezone-aware")
        refuse_never_published(type(self.payload))


def fact(
    payload: Message, *, source: str, topic: str, tenant: TenantId, aggregate_id: object
) -> Event:
    """An event whose CloudEvents type is the payload's full protobuf name
    (``shequ.census.v1.BuildingCreated``), so a consumer finds its message type from it."""
    return Event(
        type=payload.DESCRIPTOR.full_name,
        source=source,
        topic=topic,
        tenant=tenant,
        aggregate_id=str(aggregate_id),
        payload=payload,
    )


def tenant_ref(tenant: TenantId) -> tenant_pb2.TenantRef:
    """The tenant as event payloads carry it."""
    return tenant_pb2.TenantRef(tenant_id=tenant.value)


def _wake_relay(session: Session | Connection) -> None:
    """Tell the relay, on commit, that there is something to send: once per transaction
    (PostgreSQL folds equal notices of one transaction anyway; this saves the round trip)."""
    transaction = session.get_transaction()
    if transaction is not None and session.info.get(_WOKEN) is transaction:
        return
    session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": RELAY_CHANNEL})
    session.info[_WOKEN] = transaction


def publish(session: Session | Connection, event: Event) -> None:
    """Append ``event`` to the outbox in the caller's open transaction (never commits).

    The event is sent after, and only if, that transaction commits.
    """
    tenant = current_tenant()
    # Same rule as for rows: a call may speak for its own tenant's subtree only.
    if tenant is not None and not tenant.contains(event.tenant):
        raise permission_denied(
            "不能为其他社区发布事件", f"cannot publish an event of {event.tenant} as {tenant}"
        )
    _wake_relay(session)
    session.execute(
        insert(_OUTBOX).values(
            event_id=event.id,
            tenant_id=event.tenant.value,
            aggregate_id=event.aggregate_id,
            event_type=event.type,
            source=event.source,
            topic=event.topic,
            payload=event.payload.SerializeToString(),
            occurred_at=event.time,
        )
    )
