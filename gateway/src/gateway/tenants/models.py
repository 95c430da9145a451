"""Registry rows. The gateway owns the tenant tree; a node's primary key is its tenant id."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKey, Integer, String, func
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Mapped, mapped_column

from gateway.models import Base


class TenantKind(StrEnum):
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"


class TenantStatus(StrEnum):
    PREPARING = "preparing"
    ACTIVE = "active"
    ARCHIVED = "archived"


def _stored_as_value(enum: type[StrEnum]) -> SAEnum:
    """The enum's value in a VARCHAR (the migration's CHECK constraint guards it)."""
    return SAEnum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=20,
        values_callable=lambda members: [m.value for m in members],
    )


class TenantNode(Base):
    __tablename__ = "tenant_node"

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(
        String(200), ForeignKey("tenant_node.tenant_id"), index=True
    )
    kind: Mapped[TenantKind] = mapped_column(_stored_as_value(TenantKind))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    division_code: Mapped[str | None] = mapped_column(String(12))
    division_code_year: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[TenantStatus] = mapped_column(_stored_as_value(TenantStatus))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    onboarded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
