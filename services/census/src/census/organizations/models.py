"""Tables of organisations and the complexes they serve (none: the whole community)."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from census.models import Base, Record
from shequ_kit.db import TenantOwned


class Organization(Record, Base):
    __tablename__ = "organization"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    kind: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(100))
    contact_name: Mapped[str] = mapped_column(String(50), default="")
    contact_phone_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Loaded with the organisation in one extra query per page (selectin), never one per row.
    served: Mapped[list[ServedComplex]] = relationship(
        lazy="selectin",
        cascade="all, delete-orphan",
        order_by="ServedComplex.complex_id",
    )

    @property
    def complex_ids(self) -> list[uuid.UUID]:
        return [link.complex_id for link in self.served]


class ServedComplex(TenantOwned, Base):
    """An organisation serves a complex (an owners' committee its own, a property company
    several). Tenant-owned like every row, so row-level security covers it too."""

    __tablename__ = "organization_complex"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    complex_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("complex.id"), primary_key=True, index=True
    )
