"""Bulk inserts at COPY speed into tables guarded by row-level security.

PostgreSQL refuses ``COPY … FROM`` into a table whose policies apply to the caller ("COPY FROM
not supported with row-level security"), and every service's tables have FORCEd policies. Rows
are therefore copied into a temporary staging table (no policies, no WAL, no indexes) and moved
with one ``INSERT … SELECT``, which checks each row against the policies' WITH CHECK like any
insert: a row of another tenant is still refused.

The staging table lives in the caller's transaction and is dropped after use, so a failed batch
leaves nothing behind and the caller's rollback undoes the insert.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql


def copy_insert(
    connection: psycopg.Connection[Any],
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
) -> int:
    """Insert ``rows`` (values in ``columns`` order) into ``table``; returns the rows inserted.

    Columns left out get their defaults as in a plain INSERT. Must run inside a transaction
    whose tenant setting the policies check (the kit's tenant sessions set it).
    """
    return stage_rows(connection, table, columns, rows).insert()


@dataclass(frozen=True)
class StagedRows:
    """Rows copied into a staging table, waiting for :meth:`insert`.

    The two steps may run on different threads (one at a time on the connection): the copy
    needs Python to format every row, the insert only waits for PostgreSQL, which releases the
    GIL — so a reader can prepare the next batch while the database checks this one.
    """

    connection: psycopg.Connection[Any]
    table: str
    columns: Sequence[str]

    def insert(self) -> int:
        """Move the rows into the table (policies, constraints and defaults apply); returns
        the rows inserted and drops the staging table."""
        with self.connection.cursor() as cursor:
            cursor.execute(self._move())
            inserted = cursor.rowcount
            cursor.execute(self._drop())
        return inserted

    def _move(self) -> sql.Composed:
        names = _names(self.columns)
        return sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
            sql.Identifier(self.table), names, names, _stage(self.table)
        )

    def _drop(self) -> sql.Composed:
        return sql.SQL("DROP TABLE {}").format(_stage(self.table))


def insert_staged(connection: psycopg.Connection[Any], staged: Sequence[StagedRows]) -> None:
    """Move several staged tables, in the order given (parents first), in one round trip.

    One statement list instead of two statements per table: on a thread beside a busy reader,
    every return from the database waits for the GIL, and fewer returns waste less time.
    """
    if staged:
        statements = [part for rows in staged for part in (rows._move(), rows._drop())]
        connection.execute(sql.SQL("; ").join(statements))


def stage_rows(
    connection: psycopg.Connection[Any],
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
) -> StagedRows:
    """COPY ``rows`` into a temporary staging table shaped like ``table``'s ``columns``."""
    names = _names(columns)
    with connection.cursor() as cursor:
        # Only the listed columns, without their NOT NULL constraints or defaults: those apply
        # when the rows reach the real table.
        cursor.execute(
            sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                _stage(table), names, sql.Identifier(table)
            )
        )
        with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(_stage(table), names)) as copy:
            for row in rows:
                copy.write_row(row)
    return StagedRows(connection, table, tuple(columns))


def _stage(table: str) -> sql.Identifier:
    return sql.Identifier(f"_stage_{table}")


def _names(columns: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(column) for column in columns)


def analyze(connection: psycopg.Connection[Any], *tables: str) -> None:
    """Refresh the planner's statistics of ``tables`` inside the current transaction.

    After a bulk insert the statistics still describe the table as it was (autovacuum cannot
    see uncommitted rows), and a query later in the same transaction may plan for a nearly
    empty table: one index probe per row of the other side can turn into one scan of the new
    rows per row. ANALYZE samples what the transaction sees, in a fraction of a second.
    """
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
