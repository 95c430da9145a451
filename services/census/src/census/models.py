"""The census database: one metadata for every table, the outbox among them."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, DateTime, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shequ_kit.db import TenantOwned
from shequ_kit.outbox import outbox_table


class Base(DeclarativeBase):
    pass


class Record(TenantOwned):
    """Columns every census record has: identity, optimistic version, door-to-door check."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    version: Mapped[int] = mapped_column(default=1)
    verified_on: Mapped[date | None] = mapped_column(Date)
    verified_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


metadata = Base.metadata
outbox = outbox_table(metadata)
