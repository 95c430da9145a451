"""A tenant onboarded (gateway's TenantOnboarded on shequ.gateway.v1) gets the default category
catalogue, so its staff can see and edit the classes from the first day."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cases import categories
from shequ.gateway.v1 import events_pb2 as gpb
from shequ_kit.cloudevents import ReceivedEvent

ONBOARDED = gpb.TenantOnboarded.DESCRIPTOR.full_name
SEEDED_BY = "system:onboarding"


class TenantMismatchError(ValueError):
    """The event's payload names another tenant than its ce_tenant header."""


def on_gateway_event(session: Session, event: ReceivedEvent) -> None:
    if event.type != ONBOARDED:
        return  # other facts of the gateway are not the catalogue's business
    message = event.decode(gpb.TenantOnboarded)
    if message.tenant.tenant_id != event.tenant.value:
        raise TenantMismatchError(
            f"event {event.id} onboards {message.tenant.tenant_id!r} but ce_tenant says "
            f"{event.tenant}"
        )
    categories.seed(session, event.tenant, SEEDED_BY)
