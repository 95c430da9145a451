"""CloudEvents 1.0 over Kafka, binary content mode: the one place that knows the headers.

An event's attributes travel as ``ce_*`` record headers and its protobuf payload is the record
value. The record key is ``<tenant>/<aggregate id>``, so one aggregate's events share a
partition and stay in order. Producers call ``event_headers`` and ``record_key``; consumers
call ``received_event`` and get a ``ReceivedEvent`` back, or ``InvalidEventError``.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from google.protobuf.message import DecodeError, Message

from shequ_kit.tenancy import TENANT_EVENT_HEADER, InvalidTenantIdError, TenantId

SPEC_VERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/protobuf"

SPECVERSION_HEADER: Final = "ce_specversion"
ID_HEADER: Final = "ce_id"
SOURCE_HEADER: Final = "ce_source"
TYPE_HEADER: Final = "ce_type"
TIME_HEADER: Final = "ce_time"
SUBJECT_HEADER: Final = "ce_subject"
# The binding maps ``datacontenttype`` to the plain Kafka ``content-type`` header.
CONTENT_TYPE_HEADER: Final = "content-type"
TENANT_HEADER: Final = TENANT_EVENT_HEADER

Headers = list[tuple[str, bytes]]
M = TypeVar("M", bound=Message)


class InvalidEventError(ValueError):
    """A record that is not a well-formed Shequ CloudEvent (missing or malformed headers)."""


class TenantMismatchError(ValueError):
    """The payload names another tenant than the record's ce_tenant header: refused (it goes
    to the dead-letter topic), since one of them is wrong and either could leak data."""


def record_key(tenant: TenantId, aggregate_id: str) -> str:
    """The Kafka record key of an aggregate's events: ``<tenant>/<aggregate id>``."""
    if not aggregate_id:
        raise ValueError("an event needs an aggregate id")
    return f"{tenant.value}/{aggregate_id}"


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix, e.g. ``2025-03-01T08:00:00.123456Z``."""
    if moment.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_headers(
    *,
    event_id: uuid.UUID,
    event_type: str,
    source: str,
    subject: str,
    time: datetime,
    tenant: TenantId,
) -> Headers:
    """The record headers of one event (binary mode; the value is the protobuf payload)."""
    attributes = [
        (SPECVERSION_HEADER, SPEC_VERSION),
        (ID_HEADER, str(event_id)),
        (SOURCE_HEADER, source),
        (TYPE_HEADER, event_type),
        (TIME_HEADER, format_time(time)),
        (SUBJECT_HEADER, subject),
        (CONTENT_TYPE_HEADER, CONTENT_TYPE),
        (TENANT_HEADER, tenant.value),
    ]
    return [(name, value.encode("utf-8")) for name, value in attributes]


@dataclass(frozen=True)
class ReceivedEvent:
    """One event as a consumer sees it: CloudEvents attributes, payload and record position."""

    id: uuid.UUID
    type: str
    source: str
    subject: str
    time: datetime
    tenant: TenantId
    payload: bytes
    topic: str
    partition: int
    offset: int
    key: str | None

    def decode(self, message_type: builtins.type[M]) -> M:
        """The payload parsed as ``message_type``; ``InvalidEventError`` if it does not parse."""
        message = message_type()
        try:
            message.ParseFromString(self.payload)
        except DecodeError as error:
            raise InvalidEventError(
                f"event {self.id} payload is not a {message.DESCRIPTOR.full_name}"
            ) from error
        return message

    def decode_for_tenant(self, message_type: builtins.type[M]) -> M:
        """``decode``, then refuse a payload whose ``tenant.tenant_id`` is not the ce_tenant
        header's (every Shequ event payload names its tenant)."""
        message = self.decode(message_type)
        named = getattr(message, "tenant").tenant_id  # noqa: B009 - M is any Message
        if named != self.tenant.value:
            raise TenantMismatchError(
                f"event {self.id} is for {named!r} but ce_tenant says {self.tenant}"
            )
        return message


def _header_text(headers: dict[str, bytes | None], name: str) -> str:
    raw = headers.get(name)
    if raw is None:
        raise InvalidEventError(f"header {name} is missing")
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidEventError(f"header {name} is not UTF-8") from error
    if not value:
        raise InvalidEventError(f"header {name} is empty")
    return value


def _parse_time(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as error:
        raise InvalidEventError(f"{TIME_HEADER} {raw!r} is not an RFC 3339 time") from error
    if moment.tzinfo is None:
        raise InvalidEventError(f"{TIME_HEADER} {raw!r} has no UTC offset")
    return moment.astimezone(UTC)


def parse_event(
    *,
    headers: Sequence[tuple[str, bytes | None]],
    value: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
) -> ReceivedEvent:
    """Read a Kafka record's CloudEvents headers; raises ``InvalidEventError`` if malformed."""
    by_name = dict(headers)
    specversion = _header_text(by_name, SPECVERSION_HEADER)
    if specversion != SPEC_VERSION:
        raise InvalidEventError(f"{SPECVERSION_HEADER} {specversion!r} is not {SPEC_VERSION}")
    content_type = _header_text(by_name, CONTENT_TYPE_HEADER)
    if content_type != CONTENT_TYPE:
        raise InvalidEventError(f"{CONTENT_TYPE_HEADER} {content_type!r} is not {CONTENT_TYPE}")
    raw_id = _header_text(by_name, ID_HEADER)
    try:
        event_id = uuid.UUID(raw_id)
    except ValueError as error:
        raise InvalidEventError(f"{ID_HEADER} {raw_id!r} is not a UUID") from error
    try:
        tenant = TenantId.parse(_header_text(by_name, TENANT_HEADER))
    except InvalidTenantIdError as error:
        raise InvalidEventError(f"{TENANT_HEADER}: {error}") from error
    if value is None:
        raise InvalidEventError("the record has no payload")
    try:
        decoded_key = None if key is None else key.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidEventError("the record key is not UTF-8") from error
    return ReceivedEvent(
        id=event_id,
        type=_header_text(by_name, TYPE_HEADER),
        source=_header_text(by_name, SOURCE_HEADER),
        subject=_header_text(by_name, SUBJECT_HEADER),
        time=_parse_time(_header_text(by_name, TIME_HEADER)),
        tenant=tenant,
        payload=bytes(value),
        topic=topic,
        partition=partition,
        offset=offset,
        key=decoded_key,
    )


def received_event(record: Any) -> ReceivedEvent:
    """``parse_event`` for a kafka-python ``ConsumerRecord`` (untyped, hence ``Any``)."""
    return parse_event(
        headers=list(record.headers or []),
        value=record.value,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
    )
