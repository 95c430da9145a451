"""What the outbox accepts, without a database: event rules and the tables' shape."""

import uuid
from datetime import datetime, timedelta

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from sqlalchemy import MetaData
from sqlalchemy.orm import Session

from shequ.common.v1 import errors_pb2, tenant_pb2
from shequ.gateway.v1 import events_pb2
from shequ_kit.consumer import processed_events_table
from shequ_kit.errors import DomainError
from shequ_kit.outbox import NEVER_PUBLISHED, Event, outbox_table, publish
from shequ_kit.tenancy import TenantId, tenant_scope

HUSHAN = TenantId("xiaoshan.shushan.hushan")
XIANGYUAN = TenantId("xiaoshan.shushan.xiangyuan")
PACKAGE = "shequ.kittest.v1"
FieldType = descriptor_pb2.FieldDescriptorProto


def build_payload_types() -> dict[str, type[Message]]:
    """Payload types that exist only here, to show what the rule refuses and accepts."""
    file = descriptor_pb2.FileDescriptorProto(
        name="shequ/kittest/v1/outbox_rules.proto", package=PACKAGE, syntax="proto3"
    )

    def message(name: str, *fields: tuple[str, FieldType.Type.ValueType, str | None]) -> None:
        declared = file.message_type.add(name=name)
        for number, (field_name, kind, type_name) in enumerate(fields, start=1):
            declared.field.add(
                name=field_name,
                number=number,
                type=kind,
                label=FieldType.LABEL_OPTIONAL,
                **({"type_name": f".{PACKAGE}.{type_name}"} if type_name else {}),
            )

    message("Contact", ("display_name", FieldType.TYPE_STRING, None))
    message("Caller", ("contact_phone", FieldType.TYPE_STRING, None))
    message(
        "Visit",
        ("note", FieldType.TYPE_STRING, None),
        ("visitor", FieldType.TYPE_MESSAGE, "Caller"),
    )
    message("Lookup", ("id_number_hash", FieldType.TYPE_BYTES, None))
    message("Login", ("access_token", FieldType.TYPE_STRING, None))
    message("Telephoned", ("telephoned", FieldType.TYPE_BOOL, None))
    message(
        "TreeNode",
        ("label", FieldType.TYPE_STRING, None),
        ("parent", FieldType.TYPE_MESSAGE, "TreeNode"),
        ("contact", FieldType.TYPE_MESSAGE, "Contact"),
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        declared.name: message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"{PACKAGE}.{declared.name}")
        )
        for declared in file.message_type
    }


TYPES = build_payload_types()


def event_with(payload: Message, **overrides: object) -> Event:
    attributes: dict[str, object] = {
        "type": "shequ.kittest.v1.Noted",
        "source": "/shequ/kittest",
        "topic": "shequ.kittest.v1",
        "tenant": HUSHAN,
        "aggregate_id": "complex-1",
        "payload": payload,
    }
    return Event(**(attributes | overrides))  # type: ignore[arg-type]


def test_the_never_published_list_names_personal_data_and_credentials() -> None:
    assert {"id_number", "phone", "mobile", "password", "secret", "token"} <= NEVER_PUBLISHED


@pytest.mark.parametrize(
    ("payload_type", "field_path"),
    [
        ("Caller", "contact_phone"),
        ("Visit", r"visitor\.contact_phone"),
        ("Lookup", "id_number_hash"),
        ("Login", "access_token"),
    ],
)
def test_an_event_whose_payload_type_has_a_never_published_field_is_refused(
    payload_type: str, field_path: str
) -> None:
    # The type decides, not the values: an empty message is refused just the same.
    with pytest.raises(
        ValueError, match=rf"{PACKAGE}\.{payload_type} cannot be published.*{field_path}"
    ):
        event_with(TYPES[payload_type]())


def test_a_field_that_only_contains_a_listed_word_inside_another_word_is_accepted() -> None:
    assert event_with(TYPES["Telephoned"]()).aggregate_id == "complex-1"


def test_a_recursive_payload_type_is_checked_without_looping() -> None:
    assert event_with(TYPES["TreeNode"]()).aggregate_id == "complex-1"


@pytest.mark.parametrize(
    "payload",
    [
        tenant_pb2.TenantRef(tenant_id=HUSHAN.value),
        errors_pb2.ErrorDetail(code="census.duplicate", params={"k": "v"}),
        events_pb2.TenantOnboarded(name_zh="湖山社区"),
    ],
)
def test_the_platforms_own_payloads_are_publishable(payload: Message) -> None:
    assert event_with(payload).payload is payload


def test_an_event_gets_a_fresh_id_and_the_current_utc_time() -> None:
    first, second = event_with(tenant_pb2.TenantRef()), event_with(tenant_pb2.TenantRef())
    assert first.id != second.id
    assert isinstance(first.id, uuid.UUID)
    assert first.time.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"topic": "shequ census"}, "topic"),
        ({"topic": ""}, "topic"),
        ({"aggregate_id": ""}, "aggregate_id"),
        ({"type": ""}, "type"),
        ({"source": ""}, "source"),
        ({"time": datetime(2025, 1, 1, 8, 0)}, "timezone-aware"),
    ],
)
def test_an_incomplete_event_is_refused(overrides: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        event_with(tenant_pb2.TenantRef(), **overrides)


def test_a_tenant_cannot_publish_another_tenants_event() -> None:
    # Refused before anything is written, so the session never needs a database.
    with tenant_scope(HUSHAN), Session() as session, pytest.raises(DomainError, match="publish"):
        publish(session, event_with(tenant_pb2.TenantRef(), tenant=XIANGYUAN))


def test_the_outbox_table_indexes_only_unsent_rows_and_keeps_event_ids_unique() -> None:
    metadata = MetaData()
    table = outbox_table(metadata)
    assert outbox_table(metadata) is table
    assert set(table.c.keys()) == {
        "id",
        "event_id",
        "tenant_id",
        "aggregate_id",
        "event_type",
        "source",
        "topic",
        "payload",
        "occurred_at",
        "created_at",
        "sent_at",
    }
    assert table.c.event_id.unique
    assert table.c.sent_at.nullable
    (unsent,) = table.indexes
    assert str(unsent.dialect_options["postgresql"]["where"]) == "outbox.sent_at IS NULL"


def test_processed_events_are_keyed_by_consumer_group_and_event_id() -> None:
    table = processed_events_table(MetaData())
    assert [column.name for column in table.primary_key] == ["consumer_group", "event_id"]
