from datetime import UTC, date, datetime

import pytest

from notify.statistics import period_of
from shequ.notify.v1 import notify_pb2 as pb
from shequ_kit.errors import DomainError

# 23:30 on 22 November in Shanghai is already the 23rd there.
NOW = datetime(2026, 11, 22, 16, 30, tzinfo=UTC)


def test_the_default_period_is_the_last_thirty_shanghai_days() -> None:
    period = period_of(pb.GetStatisticsRequest(), NOW)
    assert (period.first, period.last) == (date(2026, 10, 25), date(2026, 11, 23))
    assert period.start == datetime(2026, 10, 24, 16, 0, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [
        ("2026-11-31", "", "from_date"),
        ("", "yesterday", "to_date"),
        ("2026-11-20", "2026-11-10", "from_date"),
        ("2024-01-01", "2026-01-01", "from_date"),
    ],
)
def test_a_bad_period_is_refused_naming_the_field(first: str, last: str, field: str) -> None:
    with pytest.raises(DomainError) as error:
        period_of(pb.GetStatisticsRequest(from_date=first, to_date=last), NOW)
    assert [v.field for v in error.value.field_violations] == [field]
