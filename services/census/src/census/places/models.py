"""Tables of places. Dwellings repeat their building and complex so lists filter by index."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from census.models import Base, Record


class Complex(Record, Base):
    __tablename__ = "complex"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200), default="")
    delivered_year: Mapped[int | None]


class Building(Record, Base):
    __tablename__ = "building"
    __table_args__ = (UniqueConstraint("complex_id", "number"),)

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

    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("unit.id"), index=True)
    building_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("building.id"), index=True)
    complex_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("complex.id"), index=True)
    room: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(300))
