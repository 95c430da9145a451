"""Census events feed other services' projections; personal data must never ride along."""

import pytest
from google.protobuf.message import Message

from shequ.census.v1 import events_pb2
from shequ_kit.outbox import refuse_never_published

EVENT_TYPES = [
    message
    for name, message in vars(events_pb2).items()
    if isinstance(message, type) and issubclass(message, Message) and not name.endswith("Facts")
]


def test_there_is_an_event_for_each_fact_grid_and_notify_follow() -> None:
    names = {m.__name__ for m in EVENT_TYPES}
    for aggregate in ("Building", "Household", "Enterprise"):
        assert {f"{aggregate}Created", f"{aggregate}Updated", f"{aggregate}Removed"} <= names
    assert {"ResidentRegistered", "ResidentUpdated", "ResidentMoved", "ResidentRemoved"} <= names


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda m: m.__name__)
def test_no_census_event_can_carry_personal_data(event_type: type[Message]) -> None:
    refuse_never_published(event_type)  # raises on id_number, phone, name-like fields …
    fields = {f.name for f in event_type.DESCRIPTOR.fields}
    assert "tenant" in fields
    for nested in event_type.DESCRIPTOR.fields:
        if nested.message_type is not None:
            assert "name" not in {f.name for f in nested.message_type.fields}
