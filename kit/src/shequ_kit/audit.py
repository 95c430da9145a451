"""The audit log of administrative actions: who did what, on which tenant, when and why.

Every process keeps its own log in its own database, in the one table defined here, which a
migration creates with ``shequ_kit.migrations.create_audit_log()``: tenant isolation like every
tenant table, and a trigger that refuses UPDATE, DELETE and TRUNCATE even to the owning role.
Declare it next to the models so Alembic sees it::

    audit_table(Base.metadata)

and record an action in the transaction that does it, so the action and its entry commit
together or not at all::

    record(session, "grid_plan.applied", target_kind="grid_plan", target_id=plan.id,
           summary="应用网格方案：12个楼幢调整", summary_en="applied a grid plan: 12 moves",
           detail={"moves": 12})

The actor and the request id come from the call's context (``shequ_kit.context``), the tenant
from the tenancy context; work a process does on its own (the demo seed) names its actor with
``acting_as``. Entries carry ids, counts and a reveal's reason, never personal data
in clear: a ``detail`` key naming personal data (``outbox.NEVER_PUBLISHED``) is refused.

Reading is newest first with a keyset cursor on (occurred_at, id) (``list_entries``); the
cursor is the same in every process, so the gateway merges every log with one page token.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final, Literal

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    Uuid,
    and_,
    insert,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from shequ_kit.context import current_principal, current_request_id
from shequ_kit.db import LIKE_ESCAPE, like_literal, system_scope, tenant_sessionmaker
from shequ_kit.errors import FieldViolation, invalid_input, permission_denied
from shequ_kit.outbox import carries_personal_data
from shequ_kit.paging import Page, encode_token, sort_key
from shequ_kit.tenancy import MissingTenantError, TenantId, current_tenant, tenant_scope
from shequ_kit.tokens import Principal

AUDIT_TABLE: Final = "audit_entry"
# One trigger function serves every append-only table of a database (the census's per-record
# trail of reveals too).
REFUSE_REWRITING_FUNCTION: Final = "shequ_refuse_rewriting"
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_ACTION_PREFIX = re.compile(r"^[a-z0-9_.]{1,100}$")
_SUMMARY_LENGTH: Final = 500


class Scope(Enum):
    """An action on the whole platform rather than one tenant (a replay of every tenant's
    events): its entry has no tenant and only platform administrators see it."""

    PLATFORM = "platform"


PLATFORM: Final = Scope.PLATFORM


class MissingActorError(RuntimeError):
    """An action was recorded with no verified caller in context and none given."""


@dataclass(frozen=True)
class Actor:
    """Who an entry names: a verified caller (a ``Principal`` has both) or a process's job."""

    subject: str
    username: str


_acting: ContextVar[Actor | None] = ContextVar("shequ_audit_actor", default=None)


@contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    """Record the block's actions as ``actor``'s: work a process does on its own, with no caller
    (the demo seed). A verified caller in context still comes first."""
    token = _acting.set(actor)
    try:
        yield
    finally:
        _acting.reset(token)


def audit_table(metadata: MetaData) -> Table:
    """The ``audit_entry`` table in ``metadata`` (declared once; later calls return it)."""
    existing = metadata.tables.get(AUDIT_TABLE)
    if existing is not None:
        return existing
    table = Table(
        AUDIT_TABLE,
        metadata,
        Column("id", Uuid, primary_key=True),
        # NULL: an action on the whole platform (visible to platform administrators only,
        # since row-level security admits no tenant's setting for it).
        Column("tenant_id", String(200), nullable=True),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("actor_subject", String(200), nullable=False),
        Column("actor_name", String(200), nullable=False),
        Column("action", String(100), nullable=False),
        Column("target_kind", String(50), nullable=False),
        Column("target_id", String(200), nullable=False),
        Column("summary", String(_SUMMARY_LENGTH), nullable=False),
        Column("summary_en", String(_SUMMARY_LENGTH), nullable=False),
        Column("detail", JSONB, nullable=False),
        Column("request_id", String(64), nullable=True),
    )
    # Pages are read newest first, by the cursor's columns; a subtree's rows are filtered on
    # the way (admin actions are few, so the walk is short).
    Index("ix_audit_entry_recent", table.c.occurred_at.desc(), table.c.id.desc())
    Index("ix_audit_entry_tenant", table.c.tenant_id, table.c.occurred_at.desc())
    return table


_AUDIT = audit_table(MetaData())


def append_only_sql(table: str) -> list[str]:
    """DDL (for a migration) that makes ``table`` append-only: a trigger raises on every UPDATE,
    DELETE and TRUNCATE, whoever runs it. Rows are only ever added."""
    if not table.replace("_", "").isalnum():
        raise ValueError(f"not a plain table name: {table!r}")
    return [
        f"""CREATE OR REPLACE FUNCTION {REFUSE_REWRITING_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END $$""",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {REFUSE_REWRITING_FUNCTION}()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {REFUSE_REWRITING_FUNCTION}()",
    ]


def drop_append_only_sql(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
    ]


@dataclass(frozen=True)
class AuditEntry:
    """One administrative action as the log holds it."""

    id: uuid.UUID
    tenant: TenantId | None  # None: the whole platform
    occurred_at: datetime
    actor_subject: str
    actor_name: str
    action: str
    target_kind: str
    target_id: str
    summary: str
    summary_en: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    request_id: str = ""

    @property
    def cursor(self) -> list[str]:
        """The entry's place in the newest-first order, as a page token holds it."""
        return cursor_after(self.occurred_at, self.id)


def cursor_after(occurred_at: datetime, entry_id: uuid.UUID | str) -> list[str]:
    """The sort key of a page that ends with the entry (occurred_at, id): one format for every
    process, so a page token of merged logs is honoured by each of them."""
    return [occurred_at.astimezone(UTC).isoformat(), str(uuid.UUID(str(entry_id)))]


def _personal_keys(value: Any, path: str = "") -> list[str]:
    if isinstance(value, Mapping):
        found: list[str] = []
        for key, inner in value.items():
            here = f"{path}{key}"
            if carries_personal_data(str(key)):
                found.append(here)
            found += _personal_keys(inner, f"{here}.")
        return found
    if isinstance(value, list | tuple):
        return [k for item in value for k in _personal_keys(item, path)]
    return []


def _checked_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    personal = _personal_keys(detail)
    if personal:
        raise ValueError(
            f"audit detail field(s) {', '.join(personal)} name personal data; record ids and "
            "counts instead (shequ_kit.outbox.NEVER_PUBLISHED)"
        )
    # Stored as JSONB: what does not survive a round trip through JSON is a caller's bug.
    checked: dict[str, Any] = json.loads(json.dumps(dict(detail)))
    return checked


def _resolved_tenant(tenant: TenantId | Literal[Scope.PLATFORM] | None) -> TenantId | None:
    context = current_tenant()
    if tenant is PLATFORM:
        return None
    if tenant is None:
        if context is None:
            raise MissingTenantError(
                "an audit entry needs a tenant: run in tenant_scope() or name one "
                "(PLATFORM for an action on the whole platform)"
            )
        return context
    # As for rows and events: a call may speak for its own tenant's subtree only.
    if context is not None and not context.contains(tenant):
        raise permission_denied(
            "不能为其他社区写入审计记录",
            f"cannot record an audit entry of {tenant} as {context}",
        )
    return tenant


def record(
    session: Session | Connection,
    action: str,
    *,
    summary: str,
    summary_en: str,
    target_kind: str = "",
    target_id: object = "",
    detail: Mapping[str, Any] | None = None,
    tenant: TenantId | Literal[Scope.PLATFORM] | None = None,
    actor: Principal | Actor | None = None,
) -> AuditEntry:
    """Append an entry for ``action`` (a dotted code such as ``pii.revealed``) in the caller's
    open transaction (never commits): it is kept if, and only if, the action is.

    The tenant is the call's unless ``tenant`` names one of its subtree (or ``PLATFORM``); the
    actor and request id are the call's (``actor`` for a process that does not bind the caller
    in context, such as the gateway's routes).
    """
    if not _ACTION.match(action):
        raise ValueError(f"{action!r} is not a dotted action code such as 'pii.revealed'")
    who: Principal | Actor | None = actor or current_principal() or _acting.get()
    if who is None:
        raise MissingActorError(f"no verified caller to record {action} for")
    entry = AuditEntry(
        id=uuid.uuid4(),
        tenant=_resolved_tenant(tenant),
        occurred_at=datetime.now(UTC),
        actor_subject=who.subject[:200],
        actor_name=who.username[:200],
        action=action,
        target_kind=target_kind[:50],
        target_id=str(target_id)[:200],
        summary=summary[:_SUMMARY_LENGTH],
        summary_en=summary_en[:_SUMMARY_LENGTH],
        detail=_checked_detail(detail or {}),
        request_id=(current_request_id() or "")[:64],
    )
    session.execute(
        insert(_AUDIT).values(
            id=entry.id,
            tenant_id=entry.tenant.value if entry.tenant is not None else None,
            occurred_at=entry.occurred_at,
            actor_subject=entry.actor_subject,
            actor_name=entry.actor_name,
            action=entry.action,
            target_kind=entry.target_kind,
            target_id=entry.target_id,
            summary=entry.summary,
            summary_en=entry.summary_en,
            detail=entry.detail,
            request_id=entry.request_id or None,
        )
    )
    return entry


@dataclass(frozen=True)
class AuditQuery:
    """Which entries to list: a tenant's subtree (None: everything, platform-wide entries
    included), a time range, an action prefix, an actor, and the page."""

    page: Page
    tenant: TenantId | None = None
    action_prefix: str = ""
    actor: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.action_prefix and not _ACTION_PREFIX.match(self.action_prefix):
            raise invalid_input(
                "audit.action_prefix",
                "操作类型只能包含小写字母、数字、下划线和点",
                "action must be lower-case letters, digits, '_' and '.' (e.g. pii.)",
                FieldViolation("action", "lower-case letters, digits, '_' and '.'"),
            )
        for name, bound in (("since", self.since), ("until", self.until)):
            if bound is None:
                continue
            if bound.tzinfo is None:
                raise ValueError("audit query bounds must be timezone-aware")
            try:
                bound.astimezone(UTC)
            except OverflowError as error:  # year 1 east of Greenwich, year 9999 west of it
                raise invalid_input(
                    "audit.range",
                    "时间超出可查询的范围",
                    f"{name} is out of the range of times",
                    FieldViolation(name, "out of range"),
                ) from error
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise invalid_input(
                "audit.range",
                "结束时间必须晚于开始时间",
                "until must be after since",
                FieldViolation("until", "must be after since"),
            )


@dataclass(frozen=True)
class AuditPage:
    entries: Sequence[AuditEntry]
    next_page_token: str  # empty on the last page


def _instant(raw: Any) -> datetime:
    moment = datetime.fromisoformat(str(raw))
    if moment.tzinfo is None:
        raise ValueError("a cursor's instant carries its offset")
    return moment


def cursor_of(page: Page) -> tuple[datetime, uuid.UUID] | None:
    """The (occurred_at, id) a page token names; None on the first page."""
    after = sort_key(page, _instant, uuid.UUID)
    return None if after is None else (after[0], after[1])


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        tenant=TenantId(row.tenant_id) if row.tenant_id else None,
        occurred_at=row.occurred_at,
        actor_subject=row.actor_subject,
        actor_name=row.actor_name,
        action=row.action,
        target_kind=row.target_kind,
        target_id=row.target_id,
        summary=row.summary,
        summary_en=row.summary_en,
        detail=row.detail,
        request_id=row.request_id or "",
    )


def list_entries(engine: Engine, query: AuditQuery) -> AuditPage:
    """One page of the log, newest first (see the module docstring)."""
    audit = _AUDIT.c
    statement = select(_AUDIT).order_by(audit.occurred_at.desc(), audit.id.desc())
    conditions = []
    if query.tenant is not None:
        subtree = query.tenant.value + ".%"
        conditions.append(or_(audit.tenant_id == query.tenant.value, audit.tenant_id.like(subtree)))
    if query.action_prefix:
        prefix = like_literal(query.action_prefix)
        conditions.append(audit.action.like(f"{prefix}%", escape=LIKE_ESCAPE))
    if query.actor:
        conditions.append(or_(audit.actor_name == query.actor, audit.actor_subject == query.actor))
    if query.since is not None:
        conditions.append(audit.occurred_at >= query.since)
    if query.until is not None:
        conditions.append(audit.occurred_at < query.until)
    if (after := cursor_of(query.page)) is not None:
        conditions.append(tuple_(audit.occurred_at, audit.id) < tuple_(*after))
    if conditions:
        statement = statement.where(and_(*conditions))
    # Row-level security is the second lock: a subtree's reader sees only the subtree's rows.
    scope = tenant_scope(query.tenant) if query.tenant is not None else system_scope()
    with scope, tenant_sessionmaker(engine)() as session:
        rows = session.execute(statement.limit(query.page.size + 1)).all()
    entries = [_entry(row) for row in rows]
    more = len(entries) > query.page.size
    shown = entries[: query.page.size]
    return AuditPage(shown, encode_token(shown[-1].cursor) if more else "")


__all__ = [
    "AUDIT_TABLE",
    "PLATFORM",
    "Actor",
    "AuditEntry",
    "AuditPage",
    "AuditQuery",
    "MissingActorError",
    "Scope",
    "acting_as",
    "append_only_sql",
    "audit_table",
    "cursor_after",
    "cursor_of",
    "drop_append_only_sql",
    "list_entries",
    "record",
]
