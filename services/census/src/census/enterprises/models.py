"""The table of enterprises and shops.

An enterprise in a dwelling (a shop on the ground floor) repeats its building and complex so
lists and statistics filter by index, as households do. The contact's phone is stored only
encrypted.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import Date, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from census.models import Base, Record, Removable


class Enterprise(Record, Removable, Base):
    __tablename__ = "enterprise"
    __table_args__ = (
        # One credit code is one legal entity: registered once per community while it operates;
        # after it closes or its record is removed, a successor record (reopened, moved back,
        # registered again correctly) may be registered.
        Index(
            "uq_enterprise_credit_code",
            "tenant_id",
            "credit_code",
            unique=True,
            postgresql_where=text("closed_on IS NULL AND removed_at IS NULL"),
        ),
    )

    name: Mapped[str] = mapped_column(String(100))
    credit_code: Mapped[str] = mapped_column(String(18))
    type: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(300))
    dwelling_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dwelling.id"))
    building_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("building.id"), index=True)
    complex_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("complex.id"), index=True)
    contact_name: Mapped[str] = mapped_column(String(50), default="")
    contact_phone_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    employees: Mapped[int] = mapped_column(default=0)
    # When it stopped operating here; closed records stay for the history.
    closed_on: Mapped[date | None] = mapped_column(Date)
