"""The census database: one metadata for every table, the outbox among them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast

import psycopg
from sqlalchemy import Date, DateTime, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from shequ_kit.audit import audit_table
from shequ_kit.bulk import StagedRows, stage_rows
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


class Removable:
    """Soft removal of a record entered by mistake or gone for good: the row stays for the
    history (who removed it, when, why); lists, counts and statistics leave it out, and its
    natural key (a building's number, a credit code) is free again."""

    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_by: Mapped[str | None] = mapped_column(String(100))
    removed_reason: Mapped[str | None] = mapped_column(Text)


metadata = Base.metadata
outbox = outbox_table(metadata)
audit = audit_table(metadata)


def driver_connection(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection of the session's transaction (tenant setting included)."""
    connection = session.connection().connection.driver_connection
    assert connection is not None
    return cast("psycopg.Connection[Any]", connection)


def insert_rows(session: Session, model: type[Base], rows: Sequence[Mapping[str, object]]) -> None:
    """Insert many rows of one table at COPY speed, in the session's transaction."""
    write_rows(driver_connection(session), model, rows)


def write_rows(
    connection: psycopg.Connection[Any], model: type[Base], rows: Sequence[Mapping[str, object]]
) -> None:
    """Insert rows (dicts with the same keys) through shequ_kit.bulk."""
    staged = stage_rows_of(connection, model, rows)
    if staged is not None:
        staged.insert()


def stage_rows_of(
    connection: psycopg.Connection[Any], model: type[Base], rows: Sequence[Mapping[str, object]]
) -> StagedRows | None:
    """Stage rows (dicts with the same keys) for one INSERT; None when there are none. Columns
    with a scalar Python default (``version``) get it, server defaults apply as usual, and
    row-level security checks every row when it is inserted."""
    if not rows:
        return None
    table = model.__table__
    defaults = {
        column.name: column.default.arg
        for column in table.columns
        if column.default is not None and column.default.is_scalar and column.name not in rows[0]
    }
    names = [*rows[0].keys(), *defaults]
    return stage_rows(
        connection,
        model.__tablename__,
        names,
        ((*(row[name] for name in rows[0]), *defaults.values()) for row in rows),
    )
