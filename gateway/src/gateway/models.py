"""The gateway's own tables: the tenant registry and the outbox of its events."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shequ_kit.audit import audit_table
from shequ_kit.outbox import outbox_table


class Base(DeclarativeBase):
    pass


metadata = Base.metadata
outbox = outbox_table(metadata)
audit = audit_table(metadata)
