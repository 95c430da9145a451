"""The benchmark table: every figure as a record, printed, and written as markdown and JSON.

A ``Figure`` is one measured value with its unit; a figure measured under load also carries
p50/p99 latencies, request and error counts; a figure with a ``Reference`` (the same work done
by the bare tool underneath, measured in the same run) gets a ratio, ours / reference, so the
reader sees the price of our layers whatever the machine. ``write`` puts the run under
``bench/results/``: ``latest.md`` and ``latest.json`` for a run of every group, ``partial.*``
for a run of chosen groups (so a quick look never overwrites the table the README links).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

RESULTS = Path(__file__).resolve().parent / "results"
SHANGHAI = ZoneInfo("Asia/Shanghai")
MIB = 1024 * 1024

# The benchmarks send requests as fast as the platform answers them; with the gateway's rate
# limits on they would measure the limiter (429s), not the platform.
UNLIMITED: Mapping[str, str] = {
    "GATEWAY_RATE_LIMIT_USER_PER_S": "0",
    "GATEWAY_RATE_LIMIT_TENANT_PER_S": "0",
}
NOTES = [
    "the gateway's per-user and per-tenant rate limits are off for the benchmarks "
    "(GATEWAY_RATE_LIMIT_USER_PER_S=0, GATEWAY_RATE_LIMIT_TENANT_PER_S=0): the clients "
    "measure the platform, not the limiter",
    "ratio = ours / the reference measured in the same run: for a rate below 1× is slower, "
    "for a time above 1× is slower; memory rows: at the end / at the start",
    "every process of the platform, PostgreSQL, Kafka, Keycloak and the clients share the "
    "machine's cores; clients are threads of the benchmark process",
    "memory per component (a process and its children, /proc/<pid>/status): resident "
    "Σ(RssAnon+RssFile) + the largest RssShmem; peak Σ(VmHWM − RssShmem) + the largest "
    "RssShmem. For one process that is its VmRSS and VmHWM; PostgreSQL's buffer cache is "
    "counted once, its backends that already exited are not counted",
]


@dataclass(frozen=True)
class Reference:
    """What the bare tool did with the same work: its figure (in the figure's unit) and, when
    the figure has latencies, its own."""

    name: str
    value: float
    p50_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    group: str = ""
    # Measured under load: value is then the throughput (unit per second).
    p50_ms: float | None = None
    p99_ms: float | None = None
    requests: int | None = None
    errors: int | None = None
    reference: Reference | None = None

    @property
    def throughput(self) -> float | None:
        return self.value if self.p50_ms is not None else None

    @property
    def ratio(self) -> float | None:
        """Ours / the reference's (for a rate, below 1 is slower; for a time, above 1)."""
        if self.reference is None or not self.reference.value:
            return None
        return self.value / self.reference.value

    def record(self) -> dict[str, Any]:
        reference = self.reference
        return {
            "group": self.group,
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "throughput": self.throughput,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "requests": self.requests,
            "errors": self.errors,
            "reference": reference.name if reference else None,
            "reference_value": reference.value if reference else None,
            "reference_p50_ms": reference.p50_ms if reference else None,
            "reference_p99_ms": reference.p99_ms if reference else None,
            "ratio": self.ratio,
            "p50_ratio": _ratio(self.p50_ms, reference.p50_ms if reference else None),
            "p99_ratio": _ratio(self.p99_ms, reference.p99_ms if reference else None),
        }

    def lines(self) -> list[tuple[str, str, str, str, str, str]]:
        """The figure as table lines (group, figure, value, unit, reference, ratio): one, or
        three for a figure under load (throughput, p50, p99)."""
        ref = self.reference
        name = self.name
        if self.requests is not None:
            name += f" ({self.requests:,} requests, {self.errors or 0:,} errors)"
        first = (
            self.group,
            name,
            _number(self.value),
            self.unit,
            f"{ref.name}: {_number(ref.value)}" if ref else "",
            _times(self.ratio),
        )
        if self.p50_ms is None:
            return [first]
        lines = [first]
        for label, ours, theirs in (
            ("p50", self.p50_ms, ref.p50_ms if ref else None),
            ("p99", self.p99_ms, ref.p99_ms if ref else None),
        ):
            if ours is None:
                continue
            lines.append(
                (
                    self.group,
                    f"{self.name}, {label}",
                    _number(ours),
                    "ms",
                    f"{ref.name}: {_number(theirs)}" if ref and theirs is not None else "",
                    _times(_ratio(ours, theirs)),
                )
            )
        return lines


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return ours / theirs if ours is not None and theirs else None


def _number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"


def _times(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.2f}×"


def in_group(group: str, figures: Sequence[Figure]) -> list[Figure]:
    return [replace(f, group=group) for f in figures]


@dataclass(frozen=True)
class Run:
    """One run of the benchmarks: when, on what, and its figures."""

    figures: list[Figure]
    groups: list[str]
    notes: list[str] = field(default_factory=list)
    began: datetime = field(default_factory=lambda: datetime.now(UTC))
    wall_seconds: float = 0.0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    extra: dict[str, Any] = field(default_factory=dict)  # written to the JSON as they are

    def header(self) -> dict[str, Any]:
        return {
            "date": self.began.isoformat(),
            "date_shanghai": self.began.astimezone(SHANGHAI).isoformat(timespec="seconds"),
            "commit": git_commit(),
            "groups": self.groups,
            "wall_seconds": round(self.wall_seconds, 1),
            "machine": machine(),
            "load_average_before": list(self.load_before),
            "load_average_after": list(os.getloadavg()),
            "notes": self.notes,
            **self.extra,
        }


def git_commit() -> str:
    """The commit measured, ``+dirty`` when the working tree has changes."""
    root = RESULTS.parent.parent

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args],
                cwd=root,
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def machine() -> dict[str, Any]:
    memory = 0
    cpu = platform.processor()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 1024**3, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "system": f"{platform.system()} {platform.release()}",
    }


def table(figures: Sequence[Figure]) -> str:
    """The figures as a markdown table."""
    rows = [line for f in figures for line in f.lines()]
    out = [
        "| group | figure | value | unit | reference | ratio |",
        "|---|---|--:|---|---|--:|",
    ]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(out)


def markdown(run: Run, title: str) -> str:
    head = run.header()
    facts = head["machine"]
    lines = [
        f"# {title}",
        "",
        f"- run: {head['date_shanghai']} (Asia/Shanghai), {head['wall_seconds']:,.0f} s wall time,"
        f" groups {', '.join(run.groups)}",
        f"- commit: `{head['commit']}`",
        f"- machine: {facts['cores']} cores, {facts['memory_gib']} GiB, {facts['cpu']}, "
        f"{facts['system']}, Python {facts['python']}",
        "- load average (1/5/15 min) before: "
        + " / ".join(f"{v:.2f}" for v in head["load_average_before"])
        + ", after: "
        + " / ".join(f"{v:.2f}" for v in head["load_average_after"]),
        *(f"- {note}" for note in run.notes),
        "",
        table(run.figures),
        "",
    ]
    return "\n".join(lines)


def write(run: Run, stem: str, title: str) -> tuple[Path, Path]:
    """``<stem>.md`` and ``<stem>.json`` under bench/results/."""
    RESULTS.mkdir(exist_ok=True)
    md, js = RESULTS / f"{stem}.md", RESULTS / f"{stem}.json"
    md.write_text(markdown(run, title), encoding="utf-8")
    document = {**run.header(), "figures": [f.record() for f in run.figures]}
    js.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return md, js


def printed(figures: Sequence[Figure]) -> str:
    """The table for a terminal: aligned columns, no markdown."""
    rows = [line for f in figures for line in f.lines()]
    header = ("group", "figure", "value", "unit", "reference", "ratio")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(6)]
    align = ["<", "<", ">", "<", "<", ">"]

    def render(row: tuple[str, ...]) -> str:
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(row, align, widths, strict=True))

    return "\n".join(
        [render(header), render(tuple("-" * w for w in widths)), *map(render, rows)]
    ).rstrip()
