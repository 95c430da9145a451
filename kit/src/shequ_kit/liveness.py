"""Liveness of the loop run modes (relay, consume, scheduler, dispatch), which serve no port.

Every such loop asks its stop event on each turn (``while not stop.is_set()`` and
``stop.wait(pause)``). ``LoopStop`` records those calls from the loop's own thread as its
heartbeat; ``serve_probes`` answers ``GET /healthz`` with 200 while the last beat is recent and
503 once the loop has been silent longer than ``max_silence_s`` (stuck on a lock, a socket
without a timeout, …), so Kubernetes restarts the process instead of leaving it wedged. The same
port serves ``GET /metrics``: the outbox and consumer lag gauges live in these processes.

The port is a deployment's choice, not a service's, so it has one name for every package:
``SHEQU_PROBE_PORT`` (unset or 0: no probe server, as under ``make run``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic_settings import BaseSettings, SettingsConfigDict

_LOG = logging.getLogger(__name__)

# A loop's longest legitimate silence is one batch of work (a dispatcher sender keeps at a
# channel for 10 s, a scheduler waits 5 s between looks); two minutes leaves a wide margin.
DEFAULT_MAX_SILENCE_S: Final = 120.0


class ProbeSettings(BaseSettings):
    """``SHEQU_PROBE_PORT`` and ``SHEQU_PROBE_MAX_SILENCE_S``."""

    model_config = SettingsConfigDict(env_prefix="SHEQU_PROBE_", extra="ignore", frozen=True)

    port: int = 0
    host: str = "0.0.0.0"  # noqa: S104 - probed by the kubelet through the pod's address
    max_silence_s: float = DEFAULT_MAX_SILENCE_S


class LoopStop(threading.Event):
    """A stop event whose checks by the thread that created it are that loop's heartbeat.

    Checks from other threads (a signal handler, helpers) do not count: only the loop proves
    that the loop turns.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._owner = threading.get_ident()
        self._last_beat = clock()

    def _beat(self) -> None:
        if threading.get_ident() == self._owner:
            self._last_beat = self._clock()

    def is_set(self) -> bool:
        self._beat()
        return super().is_set()

    def wait(self, timeout: float | None = None) -> bool:
        self._beat()
        try:
            return super().wait(timeout)
        finally:
            self._beat()

    def silence_s(self) -> float:
        """Seconds since the loop last checked in; a loop waiting on the event counts as
        checked in for as long as it waits with a timeout it chose."""
        return self._clock() - self._last_beat


class ProbeServer:
    """The HTTP server behind ``serve_probes``; ``close()`` stops it (tests)."""

    def __init__(self, loop: LoopStop, *, host: str, port: int, max_silence_s: float) -> None:
        handler = _handler_for(loop, max_silence_s)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="probe-server", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def serve_probes(loop: LoopStop, *, host: str, port: int, max_silence_s: float) -> ProbeServer:
    """Answer /healthz (the loop's heartbeat) and /metrics on ``port`` from a daemon thread."""
    server = ProbeServer(loop, host=host, port=port, max_silence_s=max_silence_s)
    _LOG.info("probe server started", extra={"fields": {"port": server.port}})
    return server


def serve_probes_if_configured(loop: LoopStop) -> ProbeServer | None:
    """The probe server on ``SHEQU_PROBE_PORT`` when the deployment sets one."""
    settings = ProbeSettings()
    if settings.port == 0:
        return None
    return serve_probes(
        loop, host=settings.host, port=settings.port, max_silence_s=settings.max_silence_s
    )


def _handler_for(loop: LoopStop, max_silence_s: float) -> type[BaseHTTPRequestHandler]:
    class ProbeHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                silence = loop.silence_s()
                alive = silence <= max_silence_s
                body = f"{'ok' if alive else 'stalled'}: last beat {silence:.1f} s ago\n".encode()
                self._answer(200 if alive else 503, "text/plain; charset=utf-8", body)
            elif self.path == "/metrics":
                self._answer(200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY))
            else:
                self._answer(404, "text/plain; charset=utf-8", b"not found\n")

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # A probe every few seconds would drown the process's own log lines.
            return

    return ProbeHandler
