"""The cases database: the catalogue, each tenant's calendar additions, cases and their
timelines, the per-day case numbers, and the outbox and processed-events tables of the kit."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    ARRAY,
    Boolean,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    String,
    Text,
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

# A case needs handling while in one of these states (the scheduler, "open" counts, events).
OPEN_STATES = frozenset(
    {"reported", "accepted", "dispatched", "in_progress", "suspended", "resolved", "verified"}
)


class CategoryRow(TenantOwned, Base):
    """One class of a tenant's catalogue: a seeded copy of the default (origin ``default``) or
    the tenant's own addition or edit (``custom``), which for a street is its communities'
    default."""

    __tablename__ = "category"

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    code: Mapped[str] = mapped_column(String(4), primary_key=True)
    major_name: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(80))
    acceptance_standard: Mapped[str] = mapped_column(Text)
    closing_standard: Mapped[str] = mapped_column(Text)
    deadline_amount: Mapped[int] = mapped_column(Integer)
    deadline_unit: Mapped[str] = mapped_column(String(20))
    responsible_level: Mapped[str] = mapped_column(String(20))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    origin: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CalendarRow(TenantOwned, Base):
    """A tenant's own holidays and adjusted working days, added to the official table (and, for
    a community, to its street's)."""

    __tablename__ = "calendar"

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    holidays: Mapped[list[date]] = mapped_column(ARRAY(Date), default=list)
    adjusted_working_days: Mapped[list[date]] = mapped_column(ARRAY(Date), default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaseNumber(TenantOwned, Base):
    """The last number given on one Asia/Shanghai day: numbers read yyyymmdd-nnnn."""

    __tablename__ = "case_number"

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class CaseRow(TenantOwned, Base):
    """A case as it stands; its history is the timeline. Columns mirror
    ``lifecycle.CaseSnapshot`` plus what the report said and where routing sent it."""

    __tablename__ = "cases"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20))
    category_code: Mapped[str] = mapped_column(String(4))
    category_name: Mapped[str] = mapped_column(String(80))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    # The category's handling time when reported: the SLA the case was accepted under.
    sla_amount: Mapped[int] = mapped_column(Integer)
    sla_unit: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    complex_id: Mapped[uuid.UUID | None]
    building_id: Mapped[uuid.UUID | None]
    dwelling_id: Mapped[uuid.UUID | None]
    address: Mapped[str] = mapped_column(String(300), default="")
    latitude: Mapped[float | None] = mapped_column(Double)
    longitude: Mapped[float | None] = mapped_column(Double)
    photos: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    reporter_subject: Mapped[str | None] = mapped_column(String(200))
    reporter_name: Mapped[str] = mapped_column(String(100), default="")
    # Masked at rest: callbacks go through the reporter's account or the census record.
    reporter_phone: Mapped[str] = mapped_column(String(20), default="")
    assignee: Mapped[str | None] = mapped_column(String(200))
    assignee_member_id: Mapped[uuid.UUID | None]
    assignee_name: Mapped[str] = mapped_column(String(100), default="")
    grid_id: Mapped[uuid.UUID | None]
    micro_grid_id: Mapped[uuid.UUID | None]
    level: Mapped[str] = mapped_column(String(20))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The SLA deadline in force (extensions applied; suspended time is added on resume).
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    suspended_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    suspended_seconds: Mapped[int] = mapped_column(Integer, default=0)
    pending_extension_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reopened_count: Mapped[int] = mapped_column(Integer, default=0)
    sent_back_count: Mapped[int] = mapped_column(Integer, default=0)
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    rating: Mapped[str | None] = mapped_column(String(30))
    merged_into: Mapped[uuid.UUID | None]
    # When the scheduler next escalates this case: the deadline, then one handling period per
    # level climbed. NULL when it cannot escalate (not open for handling, at street level).
    escalate_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The deadline for which CaseOverdue went out, so the community is told once per deadline.
    overdue_notified_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_case_tenant_reported", "tenant_id", "reported_at", "id"),
        Index("ix_case_tenant_state_reported", "tenant_id", "state", "reported_at"),
        Index("ix_case_assignee", "tenant_id", "assignee", "reported_at"),
        Index("ix_case_reporter", "tenant_id", "reporter_subject", "reported_at"),
        Index("ix_case_building", "tenant_id", "building_id"),
        Index("ix_case_deadline", "tenant_id", "deadline"),
        Index("ix_case_number", "tenant_id", "number", unique=True),
        Index(
            "ix_case_idempotency",
            "tenant_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index(
            "ix_case_escalate_at", "escalate_at", postgresql_where=text("escalate_at IS NOT NULL")
        ),
    )


class TimelineRow(TenantOwned, Base):
    """One action on a case: append-only (a trigger refuses updates and deletes)."""

    __tablename__ = "timeline"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    capacity: Mapped[str] = mapped_column(String(30))
    action: Mapped[str] = mapped_column(String(30))
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)

    __table_args__ = (Index("ix_timeline_case_seq", "case_id", "seq", unique=True),)
