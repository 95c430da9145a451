"""The cases projection: where each case of a community is and whether it still needs handling,
from the cases service's events (shequ.cases.v1), so the workload counts open cases per
building without asking the cases service.

Every case event carries the whole ``CaseFacts`` after the change, with the case's version. A
row is replaced only by a newer version: a redelivered, re-sent or overtaken event changes
nothing, whatever order the facts arrive in (the kit's consumer also records event ids).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from grid.models import CaseProjection
from shequ.cases.v1 import events_pb2
from shequ_kit.cloudevents import ReceivedEvent
from shequ_kit.tenancy import require_tenant

PREFIX: Final = "shequ.cases.v1."
# The events that say what a case is now; anything else on the topic is not the grid's concern.
DECODERS: Final[Mapping[str, type[Any]]] = {
    "CaseReported": events_pb2.CaseReported,
    "CaseActionTaken": events_pb2.CaseActionTaken,
    "CaseOverdue": events_pb2.CaseOverdue,
}


def _uuid(value: str, what: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as error:
        raise ValueError(f"case facts with a malformed {what}: {value!r}") from error


def case_facts(session: Session, facts: events_pb2.CaseFacts) -> None:
    """Keep what ``facts`` say about the case unless a newer version is stored already."""
    case_id = _uuid(facts.case_id, "case_id")
    if case_id is None:
        raise ValueError("case facts without a case id")
    row = {
        "tenant_id": require_tenant().value,
        "case_id": case_id,
        "building_id": _uuid(facts.building_id, "building_id"),
        "open": facts.open,
        "version": facts.version,
    }
    statement = insert(CaseProjection).values(**row)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["tenant_id", "case_id"],
            set_={
                "building_id": statement.excluded.building_id,
                "open": statement.excluded.open,
                "version": statement.excluded.version,
                "updated_at": func.now(),
            },
            # Same or older version: already applied, or overtaken by a later change.
            where=CaseProjection.version < statement.excluded.version,
        )
    )


@dataclass
class CaseHandler:
    """The consumer's handler for the cases topic."""

    applied: dict[str, int] = field(default_factory=dict)

    def __call__(self, session: Session, event: ReceivedEvent) -> None:
        name = event.type.removeprefix(PREFIX)
        message_type = DECODERS.get(name)
        if message_type is None or not event.type.startswith(PREFIX):
            return
        message = event.decode_for_tenant(message_type)
        case_facts(session, message.case)
        self.applied[name] = self.applied.get(name, 0) + 1
