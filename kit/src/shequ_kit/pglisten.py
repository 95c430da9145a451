"""A thread that LISTENs on one PostgreSQL channel and calls back on every notice.

Used by the notified cache (empty on change) and the outbox relay (wake up on a new event).
While the connection is down the listener says so (``on_state(False)``) and reconnects; a
caller that must not miss a notice treats "not listening" as "anything may have changed".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Final

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

RETRY_S: Final = 2.0
POLL_S: Final = 1.0
# A database that does not answer is tried again after RETRY_S rather than waited for.
CONNECT_TIMEOUT_S: Final = 5


def _ignore_state(listening: bool) -> None:
    del listening


class ChannelListener:
    """Calls ``on_notice()`` for each notice on ``channel`` (several queued ones may be folded
    into one call) and ``on_state(listening)`` whenever listening starts or stops."""

    def __init__(
        self,
        dsn: str,
        channel: str,
        on_notice: Callable[[], None],
        on_state: Callable[[bool], None] = _ignore_state,
    ) -> None:
        self._dsn, self._channel = dsn, channel
        self._on_notice, self._on_state = on_notice, on_state
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._listen, name=f"listen-{self._channel}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=POLL_S * 3)

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self._dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
                ) as connection:
                    connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    self._on_state(True)
                    while not self._stop.is_set():
                        for _ in connection.notifies(timeout=POLL_S, stop_after=1):
                            self._on_notice()
            except psycopg.Error as error:
                log.warning("listener on %s lost: %s", self._channel, error)
            self._on_state(False)
            self._stop.wait(RETRY_S)
