"""Correcting and removing a census record: the rules every place, household and enterprise
follows, so that two staff members never overwrite each other and nothing vanishes unexplained.

- A correction names its fields (a field mask) and the version the caller read; a stale
  version is refused with ``census.stale_version`` (as for residents) and the current version.
- A correction is a door-to-door check: the record is verified today by the caller, unless the
  caller gives the date the check happened.
- A removal needs a reason and keeps the row (``Removable``): who, when and why stay.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Final

from census.models import Record, Removable
from shequ_kit.checks import RequestChecks
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input

CHECKS = RequestChecks("census")
checked_mask = CHECKS.update_mask
check_version = CHECKS.version

# A removal or an unmasked read is explained in words, not "x".
MIN_REASON_LENGTH: Final = 4
MAX_REASON_LENGTH: Final = 500


def mark_verified(
    record: Record, paths: Collection[str], given: date | None, *, verifier: str, today: date
) -> None:
    """Staff correct what they found at the door: verified today by them, or on the date they
    name (``verified_on`` in the mask), which cannot be in the future."""
    if "verified_on" in paths:
        if given is None or given > today:
            raise invalid_input(
                "census.verified_on_invalid",
                "核实日期须填写，且不能晚于今天",
                "verified_on is required when named in update_mask and cannot be in the future",
                FieldViolation("verified_on", "a date, today or earlier"),
            )
        record.verified_on = given
    else:
        record.verified_on = today
    record.verified_by = verifier


def removal_reason(reason: str) -> str:
    cleaned = reason.strip()
    if len(cleaned) < MIN_REASON_LENGTH:
        raise invalid_input(
            "census.remove_reason_required",
            "删除记录须填写理由（至少4个字）",
            "a reason of at least 4 characters is required",
            FieldViolation("reason", "at least 4 characters"),
        )
    return reason_within_limit(cleaned, "reason")


def reason_within_limit(cleaned: str, field: str) -> str:
    """A reason kept with a record or an audit entry is kept whole, never cut short."""
    if len(cleaned) > MAX_REASON_LENGTH:
        raise invalid_input(
            "census.reason_too_long",
            f"理由不超过{MAX_REASON_LENGTH}个字",
            f"a reason has at most {MAX_REASON_LENGTH} characters",
            FieldViolation(field, f"at most {MAX_REASON_LENGTH} characters"),
        )
    return cleaned


def mark_removed(record: Removable, *, reason: str, remover: str) -> None:
    """Out of every list and count from now on; the row keeps who removed it and why."""
    record.removed_at = datetime.now(UTC)
    record.removed_by = remover
    record.removed_reason = removal_reason(reason)


def still_in_use(code: str, message_zh: str, message_en: str, **counts: int) -> DomainError:
    """A removal refused because current records still depend on this one."""
    return DomainError(
        code,
        message_zh,
        message_en,
        ErrorKind.CONFLICT,
        params={name: str(count) for name, count in counts.items()},
    )
