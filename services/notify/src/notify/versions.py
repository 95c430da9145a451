"""Optimistic versions of the records a tenant may or may not have yet (its own template,
settings, a resident's contact): the caller names the version it read, 0 when there was none
of its own, so two staff members never overwrite each other unknowingly."""

from __future__ import annotations

from shequ_kit.errors import DomainError, ErrorKind


def expect_version(current: int, expected: int, *, what_zh: str, what_en: str) -> None:
    """Raise a conflict unless ``expected`` is ``current`` (0: the tenant has none yet)."""
    if expected == current:
        return
    raise DomainError(
        "notify.stale_version",
        f"{what_zh}已被他人修改，请刷新后重试"
        if current
        else f"本级尚无{what_zh}，请按新增提交（版本 0）",
        f"the {what_en} is at version {current}, not {expected}",
        ErrorKind.CONFLICT,
        params={"current_version": str(current)},
    )
