from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from notify.notices import checked_audience, checked_channels, send_at_of
from shequ.census.v1 import census_pb2 as cpb
from shequ.notify.v1 import notify_pb2 as pb
from shequ_kit.errors import DomainError

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
COMPLEX = "0b8e6c1e-8f0c-4a55-9d33-0c3b1b1f2a10"


def fields(error: pytest.ExceptionInfo[DomainError]) -> set[str]:
    return {v.field for v in error.value.field_violations}


def test_channels_keep_the_senders_order_as_words() -> None:
    assert checked_channels([pb.CHANNEL_SMS, pb.CHANNEL_INBOX]) == ["sms", "inbox"]


@pytest.mark.parametrize(
    "channels",
    [[], [pb.CHANNEL_SMS, pb.CHANNEL_SMS], [pb.CHANNEL_UNSPECIFIED], [99]],
)
def test_channels_must_be_known_once_each_and_at_least_one(channels: list[int]) -> None:
    with pytest.raises(DomainError) as error:
        checked_channels(channels)
    assert fields(error) == {"draft.channels"}


def test_an_audience_naming_nobody_is_refused() -> None:
    with pytest.raises(DomainError) as error:
        checked_audience(pb.Audience())
    assert error.value.code == "notify.audience_empty"


def test_audience_ids_roles_and_tags_are_checked_naming_the_field() -> None:
    with pytest.raises(DomainError) as error:
        checked_audience(
            pb.Audience(
                complex_ids=["not-an-id"],
                roles=["pii-reader"],
                care_tags=[cpb.CARE_TAG_UNSPECIFIED],
            )
        )
    assert fields(error) == {
        "draft.audience.complex_ids",
        "draft.audience.roles",
        "draft.audience.care_tags",
    }


def test_an_audience_drops_repeats_and_blank_accounts() -> None:
    found = checked_audience(
        pb.Audience(
            complex_ids=[COMPLEX, f" {COMPLEX} "],
            account_subjects=["u1", " ", "u1"],
            roles=["community-staff", "community-staff"],
        )
    )
    assert list(found.complex_ids) == [COMPLEX]
    assert list(found.account_subjects) == ["u1"]
    assert list(found.roles) == ["community-staff"]


def at(moment: datetime) -> pb.NoticeDraft:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return pb.NoticeDraft(send_at=stamp)


def test_no_send_time_means_now_and_a_clock_difference_is_forgiven() -> None:
    assert send_at_of(pb.NoticeDraft(), NOW) == NOW
    assert send_at_of(at(NOW - timedelta(seconds=30)), NOW) == NOW
    later = NOW + timedelta(days=2)
    assert send_at_of(at(later), NOW) == later


@pytest.mark.parametrize("offset", [timedelta(minutes=-5), timedelta(days=400)])
def test_a_send_time_in_the_past_or_years_ahead_is_refused(offset: timedelta) -> None:
    with pytest.raises(DomainError) as error:
        send_at_of(at(NOW + offset), NOW)
    assert fields(error) == {"draft.send_at"}
