"""Process lifecycle: objects that release connections in ``close()``, and stopping on signals."""

from __future__ import annotations

import signal
import threading
from abc import ABC, abstractmethod
from types import FrameType, TracebackType
from typing import Self

from shequ_kit.liveness import LoopStop, serve_probes_if_configured


class Closeable(ABC):
    """``with Thing(...) as thing:`` closes the thing on leaving the block, error or not."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM (Kubernetes stopping the pod) or SIGINT (Ctrl-C) sets, for the
    long-running loops of run modes (relay, consume) to finish their batch and return.

    The loop's own checks of the event are its heartbeat (``shequ_kit.liveness``): with
    ``SHEQU_PROBE_PORT`` set, /healthz on that port reports whether the loop still turns.
    """
    stop = LoopStop()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    serve_probes_if_configured(stop)
    return stop
