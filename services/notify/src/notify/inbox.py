"""The in-app inbox as its owner reads it: messages to the caller's own account and to the
shared inboxes of the roles the caller holds on the tenant (a street admin asking at the street
also sees its communities' street-admin messages), newest first, each read or unread for the
caller personally.

Reading a personal message, or the first read of a role message by any holder of the role,
marks its delivery read (``deliveries.read_at``): that is the notice's "read" count.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import and_, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from notify.models import DeliveryRow, InboxMessageRow, InboxReadRow
from notify.notices import timestamp
from notify.vocabulary import KINDS, value_of
from shequ.notify.v1 import notify_pb2 as pb
from shequ_kit.checks import RequestChecks
from shequ_kit.errors import FieldViolation, invalid_input
from shequ_kit.paging import Page, sort_key
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Principal, Role

CHECK = RequestChecks("notify")
MAX_MARKED: Final = 500


def owners(principal: Principal, tenant: TenantId) -> list[str]:
    """The inboxes the caller reads here: its account's and those of its roles."""
    found = [f"account:{principal.subject}"]
    found += [
        f"role:{role.value}"
        for role in Role
        if role is not Role.PII_READER and principal.has(role, tenant)
    ]
    return found


def _read_by(reader: str) -> Any:
    return and_(InboxReadRow.message_id == InboxMessageRow.id, InboxReadRow.reader == reader)


def list_query(principal: Principal, tenant: TenantId, *, unread_only: bool, page: Page) -> Any:
    """(message, read_at) rows of the caller's inboxes, newest first."""
    query = (
        select(InboxMessageRow, InboxReadRow.read_at)
        .outerjoin(InboxReadRow, _read_by(principal.subject))
        .where(InboxMessageRow.owner.in_(owners(principal, tenant)))
        .order_by(InboxMessageRow.received_at.desc(), InboxMessageRow.id.desc())
    )
    if unread_only:
        query = query.where(InboxReadRow.read_at.is_(None))
    if (after := sort_key(page, datetime.fromisoformat, uuid.UUID)) is not None:
        query = query.where(tuple_(InboxMessageRow.received_at, InboxMessageRow.id) < after)
    return query.limit(page.size + 1)


def sort_key_of(found: tuple[InboxMessageRow, datetime | None]) -> list[str]:
    return [found[0].received_at.isoformat(), str(found[0].id)]


def unread(session: Session, principal: Principal, tenant: TenantId) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(InboxMessageRow)
            .outerjoin(InboxReadRow, _read_by(principal.subject))
            .where(
                InboxMessageRow.owner.in_(owners(principal, tenant)),
                InboxReadRow.read_at.is_(None),
            )
        )
        or 0
    )


def message_pb(row: InboxMessageRow, read_at: datetime | None) -> pb.InboxMessage:
    message = pb.InboxMessage(
        message_id=str(row.id),
        notice_id=str(row.notice_id),
        kind=value_of(KINDS, row.kind),  # type: ignore[arg-type]
        subject=row.subject,
        body=row.body,
        urgent=row.urgent,
        received_at=timestamp(row.received_at),
        tenant_id=row.tenant_id,
        case_id=str(row.case_id) if row.case_id else "",
    )
    if read_at is not None:
        message.read_at.CopyFrom(timestamp(read_at))
    return message


def mark_read(
    session: Session,
    principal: Principal,
    tenant: TenantId,
    message_ids: Sequence[str],
    now: datetime,
) -> int:
    """Mark the caller's messages read; ids of messages the caller cannot read are passed over
    (their existence is nobody else's business). Returns how many were newly marked."""
    if len(message_ids) > MAX_MARKED:
        raise invalid_input(
            "notify.message_ids_too_many",
            f"一次最多标记 {MAX_MARKED} 条",
            f"at most {MAX_MARKED} message_ids at once",
            FieldViolation("message_ids", f"at most {MAX_MARKED}"),
        )
    ids = list(dict.fromkeys(CHECK.uuid(m.strip(), "message_ids") for m in message_ids))
    if not ids:
        return 0
    mine = session.execute(
        select(InboxMessageRow.id, InboxMessageRow.tenant_id, InboxMessageRow.delivery_id).where(
            InboxMessageRow.id.in_(ids), InboxMessageRow.owner.in_(owners(principal, tenant))
        )
    )
    delivery_of: dict[uuid.UUID, uuid.UUID] = {}
    rows: list[dict[str, Any]] = []
    for message_id, owner_tenant, delivery_id in mine:
        delivery_of[message_id] = delivery_id
        rows.append(
            {
                "message_id": message_id,
                "tenant_id": owner_tenant,
                "reader": principal.subject,
                "read_at": now,
            }
        )
    if not rows:
        return 0
    marked = list(
        session.scalars(
            insert(InboxReadRow)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["message_id", "reader"])
            .returning(InboxReadRow.message_id)
        )
    )
    if marked:
        # The first read of a message is its delivery's read (a role's: by anyone holding it).
        session.execute(
            update(DeliveryRow)
            .where(
                DeliveryRow.id.in_([delivery_of[m] for m in marked]),
                DeliveryRow.read_at.is_(None),
            )
            .values(read_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(marked)
