"""The in-app inbox: a message is a row, written in the caller's transaction.

Unlike the outbound channels there is no provider between us and the person, so no lease and
no uncertain outcome: the inbox rows and the deliveries turning 'delivered' commit together or
not at all, and ``delivery_id`` is unique, so a redone transaction writes nothing twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from notify.models import InboxMessageRow

OWNER_PREFIXES = ("account:", "role:")


def is_inbox_owner(address: str) -> bool:
    """An inbox address is a person's account or a role's shared inbox of the tenant."""
    return any(address.startswith(p) and len(address) > len(p) for p in OWNER_PREFIXES)


@dataclass(frozen=True, slots=True)
class InboxEntry:
    tenant_id: str
    owner: str  # "account:<subject>" | "role:<role>"
    notice_id: uuid.UUID
    delivery_id: uuid.UUID
    kind: str
    subject: str
    body: str
    urgent: bool = False
    case_id: uuid.UUID | None = None


def store_in_inbox(session: Session, entries: Sequence[InboxEntry], received_at: datetime) -> None:
    """Write the messages in ``session``'s transaction; one per delivery, however often."""
    if not entries:
        return
    session.execute(
        insert(InboxMessageRow)
        .values(
            [
                {
                    "id": uuid.uuid4(),
                    "tenant_id": e.tenant_id,
                    "owner": e.owner,
                    "notice_id": e.notice_id,
                    "delivery_id": e.delivery_id,
                    "kind": e.kind,
                    "subject": e.subject,
                    "body": e.body,
                    "urgent": e.urgent,
                    "case_id": e.case_id,
                    "received_at": received_at,
                }
                for e in entries
            ]
        )
        .on_conflict_do_nothing(index_elements=["delivery_id"])
    )
