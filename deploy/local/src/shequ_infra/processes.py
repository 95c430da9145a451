"""Child processes that never outlive the driver.

Each server runs in its own session (so it and its children can be signalled as a group) and
with the parent-death signal set, so even a SIGKILLed test run leaves nothing running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1
_LOG_TAIL_LINES = 40


class ComponentFailedError(RuntimeError):
    """A component did not start or died; the message names it and ends with its log's tail."""

    def __init__(self, component: str, reason: str, log_path: Path | None = None) -> None:
        self.component = component
        tail = log_tail(log_path) if log_path is not None else ""
        where = f"\n--- last lines of {log_path} ---\n{tail}" if tail else ""
        super().__init__(f"{component} failed: {reason}{where}")


def log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class ManagedProcess:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    _log_file: object = field(repr=False, default=None)

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left after ``timeout``."""
        if self.running:
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(10)
        # The group may hold children that outlived the leader (e.g. PostgreSQL backends).
        self._signal_group(signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL, for fault tests that need a crash rather than a shutdown."""
        self._signal_group(signal.SIGKILL)
        self.popen.wait(10)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)


def as_user(user: str | None) -> dict[str, Any]:
    """subprocess arguments that drop to ``user`` entirely: uid, gid and no inherited groups."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> ManagedProcess:
    """Start ``argv`` with stdout and stderr appended to ``log_path``, as ``user`` if given."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("ab")
    try:
        popen = subprocess.Popen(  # noqa: S603 - argv is built by this driver, never from input
            list(argv),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            **as_user(user),
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - single-threaded at spawn time
        )
    except OSError as error:
        log_file.close()
        raise ComponentFailedError(name, f"cannot execute {argv[0]}: {error}") from error
    return ManagedProcess(name=name, popen=popen, log_path=log_path, _log_file=log_file)


def wait_until_ready(
    process: ManagedProcess, is_ready: Callable[[], bool], *, timeout: float, interval: float = 0.25
) -> None:
    """Poll ``is_ready`` until it is true; fail naming the component if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.running:
            raise ComponentFailedError(
                process.name, f"exited with code {process.popen.returncode}", process.log_path
            )
        if is_ready():
            return
        time.sleep(interval)
    raise ComponentFailedError(process.name, f"not ready after {timeout:.0f} s", process.log_path)


def run_checked(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run a setup command to completion; fail naming the component with the command's output."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        result = subprocess.run(  # noqa: S603 - argv is built by this driver
            list(argv),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            check=False,
            env=dict(env) if env is not None else None,
            **as_user(user),
        )
    if result.returncode != 0:
        raise ComponentFailedError(
            name, f"`{' '.join(map(str, argv[:3]))} …` exited with {result.returncode}", log_path
        )
