"""A read cache kept exact by PostgreSQL notifications, for answers asked far more often than
the tables behind them change (who covers a building, asked per case).

- Statement triggers on the tables (:func:`notify_on_change_sql`, in a migration) send
  ``NOTIFY <channel>`` from every write, whatever path it took (ORM, Core, seed, another
  replica); PostgreSQL delivers it when that transaction commits.
- Each process listens on its own connection (:class:`NotifiedCache`) and empties its cache on
  every notice. While it is not listening (starting, connection lost) the cache answers nothing,
  so a missed notice can never leave a stale answer behind.
- The process's own commits empty it at once (:meth:`NotifiedCache.invalidate`), so a caller
  reads its own writes; other replicas follow within the notice's delivery (milliseconds).
- A lookup that raced a write is not stored: :meth:`NotifiedCache.generation` is read before
  the query and :meth:`NotifiedCache.put` refuses to store if a notice came in between.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence

from shequ_kit.pglisten import ChannelListener


def notify_on_change_sql(channel: str, tables: Sequence[str]) -> list[str]:
    """DDL for a migration: every INSERT, UPDATE, DELETE or TRUNCATE on ``tables`` notifies
    ``channel`` once per statement, on commit."""
    function = f"notify_{channel}"
    statements = [
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN PERFORM pg_notify('{channel}', ''); RETURN NULL; END $$"
    ]
    for table in tables:
        statements.append(
            f"CREATE TRIGGER {table}_{channel} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    return statements


def drop_notify_on_change_sql(channel: str, tables: Sequence[str]) -> list[str]:
    statements = [f"DROP TRIGGER IF EXISTS {table}_{channel} ON {table}" for table in tables]
    return [*statements, f"DROP FUNCTION IF EXISTS notify_{channel}()"]


class NotifiedCache:
    """An LRU of serialized answers, emptied on every notice on ``channel``."""

    def __init__(self, dsn: str, channel: str, *, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0
        self._listening = False
        # Anything cached before (re)connecting may have missed a notice: forget on every state.
        self._listener = ChannelListener(
            dsn,
            channel,
            on_notice=lambda: self._forget(listening=True),
            on_state=lambda listening: self._forget(listening=listening),
        )

    def start(self) -> None:
        self._listener.start()

    def close(self) -> None:
        self._listener.close()

    @property
    def listening(self) -> bool:
        with self._lock:
            return self._listening

    def generation(self) -> int:
        with self._lock:
            return self._generation

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            if not self._listening:
                return None
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Hashable, value: bytes, generation: int) -> None:
        """Store ``value`` unless a notice arrived since ``generation`` was read."""
        with self._lock:
            if not self._listening or generation != self._generation:
                return
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def invalidate(self) -> None:
        """Empty the cache now: for this process's own writes, so that its next answer sees
        them without waiting for the notice to come round."""
        with self._lock:
            self._entries.clear()
            self._generation += 1

    def _forget(self, *, listening: bool) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1
            self._listening = listening
