"""Run every benchmark against one local infrastructure and print one table of figures."""

from __future__ import annotations

import sys
import time

from bench import cases, census, gateway, grid, infrastructure
from shequ_infra import running_infrastructure
from shequ_infra.platform import running_platform


def main() -> int:
    began = time.perf_counter()
    with running_infrastructure() as infra:
        rows = [("infrastructure ready (warm cache)", time.perf_counter() - began, "s")]
        rows += infrastructure.run(infra)
        with running_platform(infra) as platform:  # as `make run` starts it, demo seed included
            rows += gateway.run(infra, platform)
            rows += grid.coverage_latency(infra, platform)
            rows += census.run(infra, platform)
            rows += cases.run(infra, platform)  # a million cases, then create/list/lifecycles
    rows += grid.run()  # the planner needs no infrastructure
    width = max(len(name) for name, _, _ in rows)
    print(f"\n{'benchmark':<{width}}  {'figure':>12}  unit")
    print(f"{'-' * width}  {'-' * 12}  ----")
    for name, value, unit in rows:
        print(f"{name:<{width}}  {value:>12,.1f}  {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
