"""The grid database: layout (grids, micro-grids, coverage), members, visits, proposals, the
census and cases projections, and the outbox and processed-events tables of the kit."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
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


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class Community(TenantOwned, Base):
    """One row per community that has a layout: its code and the layout's version.

    Every layout write locks this row and bumps ``layout_version``: writers of one community
    queue up (numbers and coverage stay consistent), and a proposal knows whether the layout
    it was planned against is still the one in force.
    """

    __tablename__ = "community"

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    # 12 digits; ``code_placeholder`` when the registry had none and it was derived.
    division_code: Mapped[str] = mapped_column(String(12))
    code_placeholder: Mapped[bool] = mapped_column(Boolean, default=True)
    layout_version: Mapped[int] = mapped_column(Integer, default=0)


class Grid(TenantOwned, Base):
    __tablename__ = "grid"
    __table_args__ = (UniqueConstraint("tenant_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    boundary_geojson: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = _now()


class MicroGrid(TenantOwned, Base):
    __tablename__ = "micro_grid"
    __table_args__ = (UniqueConstraint("grid_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    grid_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("grid.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    boundary_geojson: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = _now()


class Coverage(TenantOwned, Base):
    """A building in a micro-grid; the primary key makes 'in at most one' a database fact."""

    __tablename__ = "coverage"

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    building_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    micro_grid_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("micro_grid.id"), index=True)


class Member(TenantOwned, Base):
    __tablename__ = "member"
    __table_args__ = (Index("ix_member_account", "tenant_id", "account_subject"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    grid_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("grid.id"), index=True)
    micro_grid_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("micro_grid.id"))
    building_id: Mapped[uuid.UUID | None] = mapped_column()
    role: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(50))
    # Only the masked form is kept ("138****5678"): the grid needs to show whom to call, not
    # to hold another copy of personal data.
    phone_masked: Mapped[str] = mapped_column(String(20), default="")
    account_subject: Mapped[str | None] = mapped_column(String(100))
    account_username: Mapped[str | None] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = _now()


class Visit(TenantOwned, Base):
    __tablename__ = "visit"
    __table_args__ = (
        Index("ix_visit_tenant_time", "tenant_id", "visited_at"),
        Index("ix_visit_grid_time", "grid_id", "visited_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    member_id: Mapped[uuid.UUID | None] = mapped_column()
    visitor_subject: Mapped[str] = mapped_column(String(100))
    visitor_name: Mapped[str] = mapped_column(String(100))
    visited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    building_id: Mapped[uuid.UUID] = mapped_column()
    dwelling_id: Mapped[uuid.UUID | None] = mapped_column()
    household_id: Mapped[uuid.UUID | None] = mapped_column()
    # Where the building was covered when the visit was recorded (kept, not re-derived).
    micro_grid_id: Mapped[uuid.UUID | None] = mapped_column()
    grid_id: Mapped[uuid.UUID | None] = mapped_column()
    findings: Mapped[str] = mapped_column(Text)
    follow_up: Mapped[str] = mapped_column(Text, default="")
    case_id: Mapped[str | None] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = _now()


class Proposal(TenantOwned, Base):
    __tablename__ = "proposal"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    base_layout_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="open")
    # The whole shequ.grid.v1.Proposal as planned (the diff staff review is what gets applied).
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = _now()
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# ---- the census projection: what census events say, without personal data ----


class CensusBuilding(TenantOwned, Base):
    __tablename__ = "census_building"

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    building_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    complex_id: Mapped[uuid.UUID] = mapped_column()
    number: Mapped[str] = mapped_column(String(20), default="")
    floors: Mapped[int] = mapped_column(Integer, default=0)


class CensusDwelling(TenantOwned, Base):
    __tablename__ = "census_dwelling"

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    dwelling_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    building_id: Mapped[uuid.UUID] = mapped_column(index=True)


class CensusHousehold(TenantOwned, Base):
    __tablename__ = "census_household"

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    dwelling_id: Mapped[uuid.UUID] = mapped_column()
    building_id: Mapped[uuid.UUID] = mapped_column(index=True)


class CensusResident(TenantOwned, Base):
    __tablename__ = "census_resident"

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    resident_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    household_id: Mapped[uuid.UUID | None] = mapped_column()
    building_id: Mapped[uuid.UUID] = mapped_column(index=True)
    care_tags: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)


class CensusEnterprise(TenantOwned, Base):
    __tablename__ = "census_enterprise"

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    enterprise_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    building_id: Mapped[uuid.UUID | None] = mapped_column(index=True)


# ---- the cases projection: where each case is and whether it is open ----


class CaseProjection(TenantOwned, Base):
    """What the cases service's events last said about each case of the community: the building
    it is at (none when reported without a place) and whether it still needs handling. The
    workload's open-cases column counts the open ones per building. One row per case, replaced
    only by a newer version of the case, so redelivered or late events change nothing."""

    __tablename__ = "case_projection"
    __table_args__ = (
        Index(
            "ix_case_projection_open_building",
            "tenant_id",
            "building_id",
            postgresql_where=text("open"),
        ),
    )

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    building_id: Mapped[uuid.UUID | None] = mapped_column()
    open: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = _now()
