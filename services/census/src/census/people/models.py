"""Tables of households and residents.

ID numbers and phones are stored only encrypted (``*_cipher``, key id inside) plus a keyed
hash for exact lookup; nothing else in the database can reveal them.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from census.models import Base, Record, Removable
from shequ_kit.db import TenantOwned


class Household(Record, Removable, Base):
    __tablename__ = "household"

    dwelling_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dwelling.id"), index=True)
    # Copies of the dwelling's places, without foreign keys of their own (migration 0008).
    building_id: Mapped[uuid.UUID] = mapped_column(index=True)
    complex_id: Mapped[uuid.UUID] = mapped_column(index=True)
    tenure: Mapped[str] = mapped_column(String(10))
    head_resident_id: Mapped[uuid.UUID | None]


class Resident(Record, Base):
    __tablename__ = "resident"
    __table_args__ = (
        # The same person twice in one community is refused; after moving out they may return.
        Index(
            "uq_resident_id_number",
            "tenant_id",
            "id_number_hash",
            unique=True,
            postgresql_where=text("moved_out_on IS NULL"),
        ),
        Index("ix_resident_building", "tenant_id", "building_id"),
        Index("ix_resident_tenant_name", "tenant_id", "name", "id"),
        Index("ix_resident_birth_date", "tenant_id", "birth_date"),
        Index("ix_resident_care_tags", "care_tags", postgresql_using="gin"),
    )

    # One person keeps one id across moves between communities of a street.
    person_id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4, index=True)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.id"), index=True)
    # Copies of the household's places, without foreign keys of their own (migration 0008).
    dwelling_id: Mapped[uuid.UUID]
    building_id: Mapped[uuid.UUID]
    complex_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(50))
    id_number_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    phone_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    sex: Mapped[str] = mapped_column(String(6))
    birth_date: Mapped[date] = mapped_column(Date)
    relation_to_head: Mapped[str] = mapped_column(String(10))
    residence_type: Mapped[str] = mapped_column(String(12))
    tenure: Mapped[str] = mapped_column(String(10))
    moved_in_on: Mapped[date | None] = mapped_column(Date)
    moved_out_on: Mapped[date | None] = mapped_column(Date)
    # Why the stay ended: moved to another community, moved away, or a wrong record removed.
    left_reason: Mapped[str | None] = mapped_column(Text)
    care_tags: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(30)), default=list)


class PiiReveal(TenantOwned, Base):
    """Every unmasked read: who, when, which record, why. Append-only (a trigger refuses
    updates and deletes, even by the table's owner)."""

    __tablename__ = "pii_reveal"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    resident_id: Mapped[uuid.UUID] = mapped_column(index=True)
    actor_subject: Mapped[str] = mapped_column(String(100))
    actor_username: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    revealed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
