"""The notify database: templates, each tenant's channel settings, robots and contacts, notices
with one delivery per person, the inbox and its reads, and the outbox and processed-events
tables of the kit.

Words stored (not proto numbers): channels "inbox", "email", "wecom", "sms"; notice kinds
"anti_fraud", "event", "meeting", "general", "case_update"; notice states "scheduled",
"sending", "sent", "cancelled"; delivery states "queued", "sending", "sent", "delivered",
"failed", "unreachable".
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shequ_kit.audit import audit_table
from shequ_kit.consumer import processed_events_table
from shequ_kit.db import TenantOwned
from shequ_kit.outbox import outbox_table


class Base(DeclarativeBase):
    pass


metadata = Base.metadata
outbox = outbox_table(metadata)
audit = audit_table(metadata)
processed_events = processed_events_table(metadata)

# A notice still has work to do in these states (the dispatcher's partial index).
ACTIVE_NOTICE_STATES = ("scheduled", "sending")
# A delivery is still on its way in these states; every other state is final.
PENDING_DELIVERY_STATES = ("queued", "sending")


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class TemplateRow(TenantOwned, Base):
    """A tenant's own version of a template (a street's is its communities' default); the
    built-in ones live in ``notify.builtin``, not in rows."""

    __tablename__ = "templates"

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    code: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    variables: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = _now()


class TenantSettingsRow(TenantOwned, Base):
    """A tenant's quiet hours ("HH:MM", Asia/Shanghai); without a row the defaults apply."""

    __tablename__ = "tenant_settings"

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    quiet_start: Mapped[str] = mapped_column(String(5))
    quiet_end: Mapped[str] = mapped_column(String(5))
    version: Mapped[int] = mapped_column(Integer, default=1)


class RobotRow(TenantOwned, Base):
    """The WeChat-Work-style group robot of one building's or one complex's residents group."""

    __tablename__ = "robots"
    __table_args__ = (
        CheckConstraint("(building_id IS NULL) <> (complex_id IS NULL)", name="ck_robot_one_place"),
        UniqueConstraint("tenant_id", "building_id", name="uq_robot_building"),
        UniqueConstraint("tenant_id", "complex_id", name="uq_robot_complex"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    building_id: Mapped[uuid.UUID | None]
    complex_id: Mapped[uuid.UUID | None]
    # A secret (anyone holding it can post to the group): never answered in clear.
    webhook_url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


class ContactRow(TenantOwned, Base):
    """What notify knows about reaching a resident beyond the census phone."""

    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contact_account", "tenant_id", "account_subject"),)

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    resident_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    account_subject: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    opted_out: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = _now()


class NoticeRow(TenantOwned, Base):
    """A notice: the template's texts as they were at creation, the variables, the audience
    (resolved when it is sent) and the channels in order of preference."""

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "sender", "idempotency_key", name="uq_notice_idempotency"),
        UniqueConstraint("tenant_id", "source_event", name="uq_notice_source_event"),
        Index(
            "ix_notice_due",
            "send_at",
            postgresql_where=text("state IN ('scheduled', 'sending')"),
        ),
        Index("ix_notice_tenant_created", "tenant_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(20))
    template_code: Mapped[str] = mapped_column(String(80))
    template_version: Mapped[int] = mapped_column(Integer)
    subject_source: Mapped[str] = mapped_column(Text)
    body_source: Mapped[str] = mapped_column(Text)
    variables: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    # The Audience message as JSON (protobuf field names), see notify.audiences.
    audience: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    channels: Mapped[list[str]] = mapped_column(ARRAY(Text))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20))
    send_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set when deliveries wait for quiet hours to end, so staff see why.
    held_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set once every recipient has a delivery row (the audience was resolved).
    expanded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sender: Mapped[str] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # The CloudEvent a case notification was made for (a redelivery creates nothing).
    source_event: Mapped[str | None] = mapped_column(String(200))
    case_id: Mapped[uuid.UUID | None]
    cancelled_by: Mapped[str | None] = mapped_column(String(200))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)


class DeliveryRow(TenantOwned, Base):
    """One person's delivery of one notice: a person is one row, on one channel at a time
    (unique per notice and recipient), so nobody gets a notice twice."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("notice_id", "recipient", name="uq_delivery_recipient"),
        Index(
            "ix_delivery_due",
            "next_attempt_at",
            postgresql_where=text("state IN ('queued', 'sending')"),
        ),
        Index("ix_delivery_notice_state", "notice_id", "state"),
        Index("ix_delivery_tenant_sent", "tenant_id", "sent_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    notice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notices.id"))
    # "resident:<uuid>", "account:<subject>" or "role:<role>".
    recipient: Mapped[str] = mapped_column(String(220))
    recipient_name: Mapped[str] = mapped_column(String(100), server_default="")
    # NULL when the person has no address on any of the notice's channels.
    channel: Mapped[str | None] = mapped_column(String(10))
    # The clear address needed to send (phone, e-mail, robot id, inbox owner); NULL once the
    # delivery is final, so phones do not linger.
    address: Mapped[str | None] = mapped_column(Text)
    masked_address: Mapped[str] = mapped_column(Text, server_default="")
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failure_reason: Mapped[str] = mapped_column(Text, server_default="")
    provider_ref: Mapped[str] = mapped_column(Text, server_default="")
    tried_channels: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()


class InboxMessageRow(TenantOwned, Base):
    """A message in a person's inbox ("account:<subject>") or a role's shared inbox
    ("role:<role>") of the tenant; at most one per delivery."""

    __tablename__ = "inbox_messages"
    __table_args__ = (
        Index(
            "ix_inbox_owner_received",
            "tenant_id",
            "owner",
            text("received_at DESC"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner: Mapped[str] = mapped_column(String(220))
    notice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notices.id"))
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deliveries.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    case_id: Mapped[uuid.UUID | None]
    received_at: Mapped[datetime] = _now()


class InboxReadRow(TenantOwned, Base):
    """Who read a message when: each member of a role reads the shared message for
    themselves."""

    __tablename__ = "inbox_reads"

    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inbox_messages.id"), primary_key=True)
    reader: Mapped[str] = mapped_column(String(200), primary_key=True)
    read_at: Mapped[datetime] = _now()
