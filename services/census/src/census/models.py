"""The census database: one metadata for every table, the outbox among them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime

from sqlalchemy import Date, DateTime, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

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


def insert_rows(session: Session, model: type[Base], rows: Sequence[Mapping[str, object]]) -> None:
    """Insert many rows with one pipelined executemany of a fixed column list.

    Through the ORM's bulk path, rows whose NULL columns differ split into small batches (one
    statement per few rows); a fixed column list lets psycopg pipeline every row in one go.
    Columns with a scalar Python default (``version``) get it; server defaults apply as usual.
    Row-level security still checks every row (WITH CHECK); rows carry their tenant_id.
    """
    if not rows:
        return
    table = model.__table__
    defaults = {
        column.name: column.default.arg
        for column in table.columns
        if column.default is not None and column.default.is_scalar and column.name not in rows[0]
    }
    names = [*rows[0].keys(), *defaults]
    statement = (
        f"INSERT INTO {model.__tablename__} ({', '.join(names)}) "  # noqa: S608 - names from the model
        f"VALUES ({', '.join(['%s'] * len(names))})"
    )
    values = [(*(row[name] for name in rows[0]), *defaults.values()) for row in rows]
    connection = session.connection().connection.driver_connection
    assert connection is not None
    with connection.cursor() as cursor:
        cursor.executemany(statement, values)
