"""The CloudEvents Kafka binding (binary mode): headers out, headers back in."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shequ.common.v1 import tenant_pb2
from shequ.gateway.v1 import events_pb2 as gateway_events
from shequ_kit.cloudevents import (
    InvalidEventError,
    ReceivedEvent,
    TenantMismatchError,
    event_headers,
    format_time,
    parse_event,
    record_key,
)
from shequ_kit.tenancy import TenantId

HUSHAN = TenantId("xiaoshan.shushan.hushan")
SHANGHAI = timezone(timedelta(hours=8))
EVENT_ID = uuid.UUID("0b5e6c1e-8d7a-4f1e-9c55-3f1f0f6a2b11")
OCCURRED = datetime(2025, 3, 1, 16, 30, 5, 123456, tzinfo=SHANGHAI)


def headers_of_a_registration() -> list[tuple[str, bytes]]:
    return event_headers(
        event_id=EVENT_ID,
        event_type="shequ.census.v1.ResidentRegistered",
        source="/shequ/census",
        subject="resident-42",
        time=OCCURRED,
        tenant=HUSHAN,
    )


def received(
    headers: Sequence[tuple[str, bytes | None]], value: bytes | None = b"", key: bytes | None = None
) -> ReceivedEvent:
    return parse_event(
        headers=headers, value=value, topic="shequ.census.v1", partition=2, offset=7, key=key
    )


def test_headers_carry_every_cloudevents_attribute_and_the_tenant() -> None:
    assert dict(headers_of_a_registration()) == {
        "ce_specversion": b"1.0",
        "ce_id": str(EVENT_ID).encode(),
        "ce_source": b"/shequ/census",
        "ce_type": b"shequ.census.v1.ResidentRegistered",
        "ce_time": b"2025-03-01T08:30:05.123456Z",
        "ce_subject": b"resident-42",
        "content-type": b"application/protobuf",
        "ce_tenant": b"xiaoshan.shushan.hushan",
    }


def test_the_record_key_is_tenant_slash_aggregate() -> None:
    assert record_key(HUSHAN, "resident-42") == "xiaoshan.shushan.hushan/resident-42"


def test_an_event_without_an_aggregate_has_no_key() -> None:
    with pytest.raises(ValueError, match="aggregate id"):
        record_key(HUSHAN, "")


def test_times_are_written_in_utc_and_naive_times_are_refused() -> None:
    assert format_time(datetime(2025, 1, 1, 8, 0, tzinfo=SHANGHAI)) == "2025-01-01T00:00:00Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2025, 1, 1, 8, 0))


def test_headers_parse_back_into_the_same_event() -> None:
    payload = tenant_pb2.TenantRef(tenant_id=HUSHAN.value).SerializeToString()
    event = received(headers_of_a_registration(), payload, key=b"xiaoshan.shushan.hushan/r-42")
    assert event == ReceivedEvent(
        id=EVENT_ID,
        type="shequ.census.v1.ResidentRegistered",
        source="/shequ/census",
        subject="resident-42",
        time=OCCURRED.astimezone(UTC),
        tenant=HUSHAN,
        payload=payload,
        topic="shequ.census.v1",
        partition=2,
        offset=7,
        key="xiaoshan.shushan.hushan/r-42",
    )
    assert event.decode(tenant_pb2.TenantRef).tenant_id == HUSHAN.value


@pytest.mark.parametrize(
    "missing",
    [
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "ce_subject",
        "content-type",
        "ce_tenant",
    ],
)
def test_an_event_missing_a_header_is_invalid(missing: str) -> None:
    headers: list[tuple[str, bytes | None]] = [
        (name, value) for name, value in headers_of_a_registration() if name != missing
    ]
    with pytest.raises(InvalidEventError, match=missing):
        received(headers)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("ce_specversion", b"0.3"),
        ("ce_id", b"not-a-uuid"),
        ("ce_time", b"yesterday"),
        ("ce_time", b"2025-03-01T08:30:05"),
        ("ce_tenant", b"Xiaoshan"),
        ("ce_tenant", b"xiaoshan.shushan.community-staff"),
        ("content-type", b"application/json"),
        ("ce_type", b"\xff\xfe"),
        ("ce_source", b""),
        ("ce_subject", None),
    ],
)
def test_an_event_with_a_malformed_header_is_invalid(header: str, value: bytes | None) -> None:
    headers: list[tuple[str, bytes | None]] = [
        (name, value if name == header else original)
        for name, original in headers_of_a_registration()
    ]
    with pytest.raises(InvalidEventError, match=header):
        received(headers)


def test_a_record_without_a_payload_is_invalid() -> None:
    with pytest.raises(InvalidEventError, match="payload"):
        received(headers_of_a_registration(), value=None)


def test_a_payload_of_another_message_type_does_not_decode() -> None:
    event = received(headers_of_a_registration(), value=b"\x0a\xff")
    with pytest.raises(InvalidEventError, match=r"shequ\.common\.v1\.TenantRef"):
        event.decode(tenant_pb2.TenantRef)


def test_a_payload_naming_another_tenant_than_its_header_is_refused() -> None:
    own = gateway_events.TenantOnboarded(tenant=tenant_pb2.TenantRef(tenant_id=HUSHAN.value))
    event = received(headers_of_a_registration(), value=own.SerializeToString())
    assert event.decode_for_tenant(gateway_events.TenantOnboarded) == own
    foreign = gateway_events.TenantOnboarded(
        tenant=tenant_pb2.TenantRef(tenant_id="xiaoshan.shushan.xiangyuan")
    )
    event = received(headers_of_a_registration(), value=foreign.SerializeToString())
    with pytest.raises(TenantMismatchError, match="xiangyuan"):
        event.decode_for_tenant(gateway_events.TenantOnboarded)
