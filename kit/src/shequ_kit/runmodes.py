"""One CLI shape for every process: ``python -m <package> <mode>`` (serve, migrate, relay, …),
so one image runs as several Deployments."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence


def run_mode(
    argv: Sequence[str] | None,
    *,
    prog: str,
    doc: str | None,
    modes: Mapping[str, Callable[[], None]],
) -> int:
    """Parse the mode from ``argv`` and run it; the module docstring is the help text."""
    parser = argparse.ArgumentParser(
        prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=list(modes))
    modes[parser.parse_args(argv).mode]()
    return 0
