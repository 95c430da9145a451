"""Tables of places. Dwellings repeat their building and complex so lists filter by index."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from census.models import Base, Record, Removable


class Complex(Record, Base):
    __tablename__ = "complex"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200), default="")
    delivered_year: Mapped[int | None]


class Building(Record, Removable, Base):
    __tablename__ = "building"
    __table_args__ = (
        # A number names one standing building of a complex; a removed one's may be reused.
        Index(
            "uq_building_number",
            "complex_id",
            "number",
            unique=True,
            postgresql_where=text("removed_at IS NULL"),
        ),
    )

    complex_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("complex.id"), index=True)
    number: Mapped[str] = mapped_column(String(20))
    floors: Mapped[int | None]


class Unit(Record, Base):
    __tablename__ = "unit"
    __table_args__ = (UniqueConstraint("building_id", "number"),)

    building_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("building.id"), index=True)
    number: Mapped[str] = mapped_column(String(20))


class Dwelling(Record, Base):
    __tablename__ = "dwelling"
    __table_args__ = (UniqueConstraint("unit_id", "room"),)

    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("unit.id"))
    # Copies of the unit's building and complex, for filtering without joins (no foreign keys:
    # the unit's chain proves them; see migration 0008).
    building_id: Mapped[uuid.UUID] = mapped_column(index=True)
    complex_id: Mapped[uuid.UUID] = mapped_column(index=True)
    room: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(300))
