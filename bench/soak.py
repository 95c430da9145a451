"""`make soak`: the mixed workload (bench.mixed) for SOAK_SECONDS (default 600) on a fresh
infrastructure and platform, judged against two targets:

- errors: none, in any operation;
- memory: no process of the platform grows by 10 % or more from the end of the warm-up (a
  tenth of the run, at most a minute: pools, caches and interned objects filled) to the end,
  and none exits.

PostgreSQL, Kafka, Keycloak and the benchmark driver are shown beside them but not judged on
growth (an exit still fails): the servers grow into the bounds they are configured with (the
buffer cache up to shared_buffers, a JVM's heap up to -Xmx) over a longer time than a soak's
warm-up, and the driver's delivery sinks keep everything they receive. A leak in our code shows
in the platform's processes.

The report goes to bench/results/soak.md and soak.json; the exit status is 1 when a target is
missed.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench import memory, mixed
from bench.memory import Memory
from bench.results import MIB, NOTES, UNLIMITED, Figure, Reference, Run, in_group, printed, write
from shequ_infra import running_infrastructure
from shequ_infra.platform import running_platform

DEFAULT_SECONDS = 600.0
WARM_UP_SHARE = 0.1
WARM_UP_MAX_S = 60.0
GROWTH_TARGET = 0.10
# Shown, not judged on growth: why, by the start of the component's label.
NOT_JUDGED = {
    "PostgreSQL": "fills its buffer cache (shared_buffers) and its backends' caches",
    "Kafka": "a JVM: its heap grows toward -Xmx before it is collected",
    "Keycloak": "a JVM: its heap grows toward -Xmx before it is collected",
    "benchmark driver": "the load generator: its delivery sinks keep everything they receive",
}


def after_warm_up(outcome: mixed.Outcome) -> tuple[float, dict[str, Memory]]:
    """The first memory sample taken after the warm-up."""
    warm = min(WARM_UP_MAX_S, WARM_UP_SHARE * outcome.seconds)
    return next((t, m) for t, m in outcome.memory if t >= warm)


def verdicts(outcome: mixed.Outcome) -> tuple[list[Figure], dict[str, Any]]:
    """A figure per component (memory at the end next to after the warm-up) and the verdicts."""
    warm_at, warm = after_warm_up(outcome)
    end = outcome.memory[-1][1]
    figures: list[Figure] = []
    judged: dict[str, Any] = {}
    for label, then in warm.items():
        if label not in end:  # a process that died during the run fails whatever its memory
            judged[label] = {"after_warm_up_mib": then.resident / MIB, "verdict": "FAIL (exited)"}
            figures.append(Figure(f"{label}: exited during the run: FAIL", 0, "MiB"))
            continue
        growth = end[label].resident / then.resident - 1
        passed = growth < GROWTH_TARGET
        why = next((why for start, why in NOT_JUDGED.items() if label.startswith(start)), "")
        verdict = "not judged" if why else "PASS" if passed else "FAIL"
        now = end[label]
        judged[label] = {
            "after_warm_up_mib": then.resident / MIB,
            "end_mib": now.resident / MIB,
            "growth": growth,
            "verdict": verdict,
            "not_judged_because": why or None,
            "processes": [then.processes, now.processes],
            "shared_mib": [then.shared / MIB, now.shared / MIB],
        }
        # Where a component has several processes, how many and how much of it is shared (the
        # buffer cache filling up), so growth from a cache or a pool tells from a leak.
        parts = (
            f"; {then.processes} → {now.processes} processes, shared "
            f"{then.shared / MIB:,.0f} → {now.shared / MIB:,.0f} MiB"
            if max(then.processes, now.processes) > 1
            else ""
        )
        figures.append(
            Figure(
                f"{label}: growth {100 * growth:+.1f} %{parts} (target < 10 %): {verdict}",
                now.resident / MIB,
                "MiB",
                reference=Reference(f"after the warm-up ({warm_at:.0f} s)", then.resident / MIB),
            )
        )
    errors = outcome.error_count
    memory_passed = not any(v["verdict"].startswith("FAIL") for v in judged.values())
    return figures, {
        "errors": {"count": errors, "target": 0, "verdict": "PASS" if errors == 0 else "FAIL"},
        "memory_growth": {
            "target": GROWTH_TARGET,
            "verdict": "PASS" if memory_passed else "FAIL",
            "components": judged,
        },
        "passed": errors == 0 and memory_passed,
    }


def main() -> int:
    seconds = float(os.environ.get("SOAK_SECONDS", DEFAULT_SECONDS))
    began, load, started = time.perf_counter(), os.getloadavg(), datetime.now(UTC)
    with (
        running_infrastructure() as infra,
        running_platform(infra, environment=UNLIMITED) as platform,
    ):
        measured = memory.components(infra, platform)
        print(f"soak: the mixed workload for {seconds:,.0f} s …", flush=True)
        outcome = mixed.run(infra, platform, measured, seconds)
    growth, judged = verdicts(outcome)
    errors = judged["errors"]
    notes = [
        f"errors: {errors['count']:,} (target 0): {errors['verdict']}",
        "memory growth from the end of the warm-up to the end, every process of the platform "
        f"(target < 10 % each, none exits): {judged['memory_growth']['verdict']}",
        "shown, not judged on growth: "
        + "; ".join(f"{start}: {why}" for start, why in NOT_JUDGED.items()),
        f"verdict: {'PASS' if judged['passed'] else 'FAIL'}",
        *(f"failures: {line}" for line in mixed.failures(outcome)),
        *NOTES,
    ]
    figures = in_group("soak", mixed.figures(outcome)) + in_group("memory growth", growth)
    run = Run(
        figures=figures,
        groups=["soak"],
        notes=notes,
        began=started,
        wall_seconds=time.perf_counter() - began,
        load_before=load,
        extra={"soak_seconds": outcome.seconds, "verdicts": judged},
    )
    md, js = write(
        run, "soak", f"Soak: {outcome.seconds:,.0f} s of the mixed workload (`make soak`)"
    )
    print()
    print(printed(figures))
    print("\n" + "\n".join(notes[:4]))
    print(f"written to {md} and {js}")
    return 0 if judged["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
