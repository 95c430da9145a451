import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from shequ_infra.processes import ComponentFailedError, spawn, wait_until_ready


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is not running.
    status = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].split()[0]
    return status != "Z"


def dead_soon(pids: list[int], within: float = 10.0) -> bool:
    """Signals are delivered asynchronously: give the kernel a moment."""
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(alive(pid) for pid in pids)


def test_stop_ends_the_process_and_its_children(tmp_path: Path) -> None:
    process = spawn("sleeper", ["sh", "-c", "sleep 300 & sleep 300"], log_path=tmp_path / "log")
    time.sleep(0.3)
    children = [
        int(p) for p in subprocess.check_output(["pgrep", "-g", str(process.popen.pid)]).split()
    ]
    assert len(children) >= 2

    process.stop()

    assert dead_soon(children)


def test_a_component_that_dies_at_start_is_named_with_its_log_tail(tmp_path: Path) -> None:
    process = spawn(
        "Flaky",
        ["sh", "-c", "echo 'FATAL: port already in use'; exit 3"],
        log_path=tmp_path / "flaky.log",
    )
    with pytest.raises(ComponentFailedError) as failure:
        wait_until_ready(process, lambda: False, timeout=10)

    message = str(failure.value)
    assert message.startswith("Flaky failed: exited with code 3")
    assert "FATAL: port already in use" in message


def test_a_component_that_never_gets_ready_times_out_by_name(tmp_path: Path) -> None:
    process = spawn("Slow", ["sleep", "30"], log_path=tmp_path / "slow.log")
    try:
        with pytest.raises(ComponentFailedError, match="Slow failed: not ready after"):
            wait_until_ready(process, lambda: False, timeout=0.5)
    finally:
        process.stop()


def test_a_missing_executable_is_reported_by_component_name(tmp_path: Path) -> None:
    with pytest.raises(ComponentFailedError, match="Ghost failed: cannot execute"):
        spawn("Ghost", [str(tmp_path / "no-such-binary")], log_path=tmp_path / "ghost.log")


def test_children_die_when_the_driver_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    driver = textwrap.dedent(f"""
        import os, time
        from pathlib import Path
        from shequ_infra.processes import spawn
        child = spawn("orphan", ["sleep", "300"], log_path=Path({str(tmp_path / "o.log")!r}))
        Path({str(pid_file)!r}).write_text(str(child.popen.pid))
        time.sleep(300)
    """)
    parent = subprocess.Popen([sys.executable, "-c", driver])
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    child_pid = int(pid_file.read_text())
    assert alive(child_pid)

    parent.kill()  # SIGKILL: no cleanup code of the driver runs
    parent.wait()

    assert dead_soon([child_pid])
