"""Run every benchmark against one local infrastructure and print one table of figures.

``python -m bench cases grid`` runs only the named groups (``make bench ONLY="cases"``).
"""

from __future__ import annotations

import sys
import time

from bench import cases, census, gateway, grid, infrastructure, notify
from shequ_infra import running_infrastructure
from shequ_infra.platform import running_platform

GROUPS = ("infrastructure", "gateway", "grid", "census", "cases", "notify")


def main(argv: list[str]) -> int:
    chosen = set(argv) or set(GROUPS)
    if unknown := chosen - set(GROUPS):
        print(f"unknown benchmark group(s) {sorted(unknown)}; choose from {GROUPS}")
        return 2
    began = time.perf_counter()
    with running_infrastructure() as infra:
        rows = [("infrastructure ready (warm cache)", time.perf_counter() - began, "s")]
        if "infrastructure" in chosen:
            rows += infrastructure.run(infra)
        with running_platform(infra) as platform:  # as `make run` starts it, demo seed included
            if "gateway" in chosen:
                rows += gateway.run(infra, platform)
            if "grid" in chosen:
                rows += grid.coverage_latency(infra, platform)
            if "census" in chosen:
                rows += census.run(infra, platform)
            if "notify" in chosen:  # before the million cases crowd the machine's caches
                rows += notify.run(infra, platform)
            if "cases" in chosen:  # a million cases, then create/list/lifecycles
                rows += cases.run(infra, platform)
    if "grid" in chosen:
        rows += grid.run()  # the planner needs no infrastructure
    width = max(len(name) for name, _, _ in rows)
    print(f"\n{'benchmark':<{width}}  {'figure':>12}  unit")
    print(f"{'-' * width}  {'-' * 12}  ----")
    for name, value, unit in rows:
        print(f"{name:<{width}}  {value:>12,.1f}  {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
