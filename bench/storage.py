"""Bytes on disk per row of a service's main record, for sizing a deployment's databases.

Every table of the database's ``public`` schema counts, with its indexes and TOAST: a resident
carries its share of households, dwellings, places, statistics and audit rows, a case its
timeline lines, numbers and outbox rows.
"""

from __future__ import annotations

import psycopg

_SIZE = """
SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'm')
"""


def bytes_per_record(superuser_dsn: str, records: int) -> float:
    """The database's tables, indexes included, divided by ``records``."""
    with psycopg.connect(superuser_dsn, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
        row = connection.execute(_SIZE).fetchone()
    total = int(row[0]) if row else 0
    return total / max(records, 1)
