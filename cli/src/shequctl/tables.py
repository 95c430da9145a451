"""Human output: plain aligned tables that count a Chinese character as two columns."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def display_width(text: str) -> int:
    """Terminal columns of ``text``: wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - display_width(text))
    return fill + text if right else text + fill


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, numeric: Sequence[int] = ()
) -> str:
    """``headers`` over ``rows``, columns two spaces apart; ``numeric`` columns right-aligned."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [
        max([display_width(headers[i]), *(display_width(row[i]) for row in cells)])
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        padded = [_pad(v, widths[i], i in numeric) for i, v in enumerate(values)]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in cells)])


def seconds(value: float) -> str:
    """An age as people read it: 42 s, 3.5 min, 2.1 h."""
    if value < 90:
        return f"{value:.0f} s"
    if value < 5400:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"
