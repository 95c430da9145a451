"""What every grid write shares: input checks, optimistic versions, events for the outbox."""

from __future__ import annotations

from google.protobuf.message import Message
from sqlalchemy.orm import Session

from shequ_kit.checks import RequestChecks
from shequ_kit.outbox import fact, publish
from shequ_kit.tenancy import TenantId

SOURCE = "/shequ/grid"
TOPIC = "shequ.grid.v1"

CHECKS = RequestChecks("grid")
parse_uuid = CHECKS.uuid
optional_uuid = CHECKS.optional_uuid
required_text = CHECKS.required_text
optional_text = CHECKS.optional_text
checked_mask = CHECKS.update_mask
check_version = CHECKS.version


def emit(session: Session, tenant: TenantId, aggregate_id: object, payload: Message) -> None:
    """A grid fact into the outbox, in the caller's transaction."""
    publish(
        session,
        fact(payload, source=SOURCE, topic=TOPIC, tenant=tenant, aggregate_id=aggregate_id),
    )
