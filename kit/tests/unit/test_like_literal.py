"""A user's search text is matched literally: LIKE's metacharacters are escaped."""

from __future__ import annotations

import re

import pytest

from shequ_kit.db import LIKE_ESCAPE, like_literal


def matches(pattern: str, value: str) -> bool:
    """LIKE semantics with ``LIKE_ESCAPE``, enough to check the escaping."""
    regex, chars = "", iter(pattern)
    for char in chars:
        if char == LIKE_ESCAPE:
            regex += re.escape(next(chars))
        elif char == "%":
            regex += ".*"
        elif char == "_":
            regex += "."
        else:
            regex += re.escape(char)
    return re.fullmatch(regex, value, re.DOTALL) is not None


@pytest.mark.parametrize("typed", ["%", "_", "50%", "a_b", "\\", "C:\\%_", "王_%\\芳"])
def test_metacharacters_match_only_themselves(typed: str) -> None:
    pattern = f"%{like_literal(typed)}%"
    assert matches(pattern, f"前{typed}后")
    assert not matches(pattern, "王芳 无关的名字")


def test_plain_text_is_unchanged() -> None:
    assert like_literal("张三 Zhang") == "张三 Zhang"
