"""Run every benchmark against one local infrastructure and platform; print one table of
figures and write it to bench/results/ (``latest.*`` for every group, ``partial.*`` otherwise).

``python -m bench cases grid`` runs only the named groups (``make bench ONLY="cases"``).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime

from bench import cases, census, events, gateway, grid, infrastructure, memory, mixed, notify
from bench.results import MIB, NOTES, UNLIMITED, Figure, Run, in_group, printed, write
from shequ_infra import LocalInfrastructure, running_infrastructure
from shequ_infra.platform import RunningPlatform, running_platform

GROUPS = ("infrastructure", "gateway", "events", "grid", "census", "mixed", "notify", "cases")
MIXED_SECONDS = float(os.environ.get("BENCH_MIXED_SECONDS", "60"))  # shorter while developing


def main(argv: list[str]) -> int:
    chosen = set(argv) or set(GROUPS)
    if unknown := chosen - set(GROUPS):
        print(f"unknown benchmark group(s) {sorted(unknown)}; choose from {GROUPS}")
        return 2
    began, load, started = time.perf_counter(), os.getloadavg(), datetime.now(UTC)
    notes = list(NOTES)
    figures: list[Figure] = []
    with running_infrastructure() as infra:
        ready = [Figure("infrastructure ready (warm cache)", time.perf_counter() - began, "s")]
        figures += in_group("infrastructure", ready)
        if "infrastructure" in chosen:
            figures += in_group("infrastructure", infrastructure.run(infra))
        starting = time.perf_counter()
        # As `make run` starts it, demo seed included.
        with running_platform(infra, environment=UNLIMITED) as platform:
            took = time.perf_counter() - starting
            ready = [Figure("platform ready (migrate, seed, start every process)", took, "s")]
            figures += in_group("infrastructure", ready)
            figures += on_the_platform(infra, platform, chosen, notes)
    if "grid" in chosen:
        figures += in_group("grid", grid.run())  # the planner needs no infrastructure
    everything = chosen == set(GROUPS)
    run = Run(
        figures=figures,
        groups=[g for g in GROUPS if g in chosen],
        notes=notes,
        began=started,
        wall_seconds=time.perf_counter() - began,
        load_before=load,
    )
    md, js = write(run, "latest" if everything else "partial", "Benchmark table (`make bench`)")
    print()
    print(printed(figures))
    print(f"\nwritten to {md} and {js} in {run.wall_seconds:,.0f} s")
    return 0


def on_the_platform(
    infra: LocalInfrastructure, platform: RunningPlatform, chosen: set[str], notes: list[str]
) -> list[Figure]:
    figures: list[Figure] = []
    if "gateway" in chosen:
        figures += in_group("gateway", gateway.run(infra, platform))
    if "events" in chosen:
        figures += in_group("events", events.run(infra))
    if "grid" in chosen:
        figures += in_group("grid", grid.coverage_latency(infra, platform))
    if "census" in chosen:
        figures += in_group("census", census.run(infra, platform))
    if "mixed" in chosen:  # one notify dispatcher, as make run; before the loads below
        measured = memory.components(infra, platform)
        outcome = mixed.run(infra, platform, measured, MIXED_SECONDS)
        figures += in_group("mixed", mixed.figures(outcome) + mixed.memory_figures(outcome))
        notes += [f"mixed workload failures: {line}" for line in mixed.failures(outcome)]
    if "notify" in chosen:  # before the million cases crowd the machine's caches
        figures += in_group("notify", notify.run(infra, platform))
    if "cases" in chosen:  # a million cases, then create/list/lifecycles
        figures += in_group("cases", cases.run(infra, platform))
    return figures + in_group("memory", peak_memory(infra, platform))


def peak_memory(infra: LocalInfrastructure, platform: RunningPlatform) -> list[Figure]:
    """Every component's peak resident memory at the end of the run."""
    measured = memory.snapshot(memory.components(infra, platform))
    return [
        Figure(
            f"peak memory: {label}" + (f" ({m.processes} processes)" if m.processes > 1 else ""),
            m.peak / MIB,
            "MiB",
        )
        for label, m in measured.items()
    ]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
