"""A tenant onboarded (gateway's TenantOnboarded on shequ.gateway.v1) gets the default category
catalogue, so its staff can see and edit the classes from the first day."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cases import categories
from shequ.gateway.v1 import events_pb2 as gpb
from shequ_kit.cloudevents import ReceivedEvent

ONBOARDED = gpb.TenantOnboarded.DESCRIPTOR.full_name
SEEDED_BY = "system:onboarding"


def on_gateway_event(session: Session, event: ReceivedEvent) -> None:
    if event.type != ONBOARDED:
        return  # other facts of the gateway are not the catalogue's business
    event.decode_for_tenant(gpb.TenantOnboarded)  # refuses a payload naming another tenant
    categories.seed(session, event.tenant, SEEDED_BY)
