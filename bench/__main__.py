"""Run every benchmark and print one table of figures."""

from __future__ import annotations

import sys

from bench import infrastructure


def main() -> int:
    rows = infrastructure.run()
    width = max(len(name) for name, _, _ in rows)
    print(f"\n{'benchmark':<{width}}  {'figure':>12}  unit")
    print(f"{'-' * width}  {'-' * 12}  ----")
    for name, value, unit in rows:
        print(f"{name:<{width}}  {value:>12,.1f}  {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
