"""The rules every correction and removal of a census record follows (no database needed)."""

from datetime import date

import pytest

from census.corrections import (
    check_version,
    checked_mask,
    mark_removed,
    mark_verified,
    removal_reason,
)
from census.places.models import Building
from shequ_kit.errors import DomainError, ErrorKind

TODAY = date(2026, 11, 23)


def building(version: int = 3) -> Building:
    return Building(number="3幢", version=version)


def test_a_mask_naming_a_fixed_field_is_refused_and_names_it() -> None:
    with pytest.raises(DomainError) as refused:
        checked_mask(["number", "complex_id"], {"number", "floors"})
    error = refused.value
    assert error.kind is ErrorKind.INVALID_INPUT
    assert error.field_violations[0].field == "update_mask"
    assert "complex_id" in error.message_zh
    assert "complex_id" in error.field_violations[0].description


def test_an_empty_mask_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        checked_mask([], {"number"})
    assert refused.value.code == "census.update_mask_invalid"


def test_the_version_read_is_required_and_must_be_current() -> None:
    with pytest.raises(DomainError) as missing:
        check_version(building(), 0)
    assert missing.value.field_violations[0].field == "expected_version"
    with pytest.raises(DomainError) as stale:
        check_version(building(3), 2)
    assert (stale.value.code, stale.value.kind) == ("census.stale_version", ErrorKind.CONFLICT)
    assert stale.value.params == {"current_version": "3"}
    check_version(building(3), 3)


def test_a_correction_is_verified_today_by_the_caller_unless_a_past_date_is_named() -> None:
    record = building()
    mark_verified(record, {"number"}, date(2020, 1, 1), verifier="hushan-staff", today=TODAY)
    assert (record.verified_on, record.verified_by) == (TODAY, "hushan-staff")
    mark_verified(record, {"verified_on"}, date(2026, 11, 1), verifier="hushan-pii", today=TODAY)
    assert (record.verified_on, record.verified_by) == (date(2026, 11, 1), "hushan-pii")
    for named in (None, date(2026, 11, 24)):
        with pytest.raises(DomainError) as refused:
            mark_verified(record, {"verified_on"}, named, verifier="hushan-staff", today=TODAY)
        assert refused.value.field_violations[0].field == "verified_on"


def test_a_removal_keeps_who_and_why_and_needs_a_real_reason() -> None:
    with pytest.raises(DomainError) as refused:
        removal_reason("  错误 ")
    assert refused.value.field_violations[0].field == "reason"
    record = building()
    mark_removed(record, reason="  楼幢已拆除  ", remover="hushan-staff")
    assert (record.removed_by, record.removed_reason) == ("hushan-staff", "楼幢已拆除")
    assert record.removed_at is not None
