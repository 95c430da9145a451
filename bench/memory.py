"""Memory of every process of the platform and the infrastructure, read from /proc.

A component is the process shequ_infra started and every process under it (children,
grandchildren): a platform process alone, a JVM, or the PostgreSQL postmaster with its backends
(which leave its process group, so the tree is followed, not the group). Within a component,
shared-memory pages (PostgreSQL's buffer cache, mapped by every backend) are counted once, the
largest any member maps; every member's own pages are summed:

    resident now = Σ (RssAnon + RssFile) + max RssShmem
    peak         = Σ (VmHWM − RssShmem)  + max RssShmem

For a single process that is exactly its VmRSS and VmHWM (its high-water mark since it
started). For PostgreSQL it leaves out backends that have already exited, and a member's
RssShmem is read now, not at its peak (it only grows while the process lives).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shequ_infra import LocalInfrastructure
from shequ_infra.platform import RunningPlatform
from shequ_infra.processes import ManagedProcess

PROC = Path("/proc")


@dataclass(frozen=True)
class Memory:
    resident: int  # bytes
    peak: int  # bytes
    processes: int
    shared: int  # bytes of shared memory in ``resident`` (PostgreSQL's buffer cache)


@dataclass(frozen=True)
class Component:
    """What to measure: ``label`` as the table names it, ``pid`` the process at its root."""

    label: str
    pid: int
    alone: bool = False  # the process only (this one: the platform is its children)

    def memory(self, children: Mapping[int, list[int]]) -> Memory | None:
        """Its memory now, or None when nothing of it runs any more."""
        pids = [self.pid] if self.alone else _tree(self.pid, children)
        members = [status for pid in pids if (status := _status(pid))]
        if not members:
            return None
        shared = max(m.get("RssShmem", 0) for m in members)
        return Memory(
            resident=sum(m.get("RssAnon", 0) + m.get("RssFile", 0) for m in members) + shared,
            peak=sum(m.get("VmHWM", 0) - m.get("RssShmem", 0) for m in members) + shared,
            processes=len(members),
            shared=shared,
        )


def components(infra: LocalInfrastructure, platform: RunningPlatform) -> list[Component]:
    """Every platform process (a second replica of a mode gets ``#2``), the infrastructure's
    three servers, and this process (the benchmark's clients, the delivery sinks)."""
    found: list[Component] = []
    seen: dict[str, int] = {}
    for process in platform.processes:
        seen[process.name] = seen.get(process.name, 0) + 1
        label = process.name + (f" #{seen[process.name]}" if seen[process.name] > 1 else "")
        found.append(Component(label, process.popen.pid))
    servers: list[tuple[str, ManagedProcess | None]] = [
        ("PostgreSQL (postmaster and backends)", infra.postgres.process),
        ("Kafka (JVM)", infra.kafka.process),
        ("Keycloak (JVM)", infra.keycloak.process),
    ]
    found += [Component(label, p.popen.pid) for label, p in servers if p is not None]
    found.append(Component("benchmark driver (clients, sinks)", os.getpid(), alone=True))
    return found


def snapshot(measured: list[Component]) -> dict[str, Memory]:
    children = _children()
    return {c.label: m for c in measured if (m := c.memory(children)) is not None}


def _children() -> dict[int, list[int]]:
    """Every running process's children, from one walk of /proc."""
    found: dict[int, list[int]] = defaultdict(list)
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        # "pid (comm) state ppid …": comm may hold spaces and parentheses.
        found[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry.name))
    return found


def _tree(root: int, children: Mapping[int, list[int]]) -> list[int]:
    pids, pending = [], [root]
    while pending:
        pid = pending.pop()
        pids.append(pid)
        pending += children.get(pid, [])
    return pids


def _status(pid: int) -> dict[str, int]:
    """The kB fields of /proc/<pid>/status, in bytes."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return {}
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            values[key] = int(parts[0]) * 1024
    # A zombie (exited, not yet reaped) has no memory lines: it is not running.
    return values if "VmRSS" in values else {}
