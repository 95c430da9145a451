"""Tenant-scoped data access on PostgreSQL with SQLAlchemy 2.

Two locks, so one mistake is never enough to leak another community's data:

1. **ORM scoping.** Every ORM statement on a ``TenantOwned`` model gets the criterion
   "tenant is the current one or in its subtree"; running one with no tenant in context raises
   ``MissingTenantError``. New ``TenantOwned`` objects are stamped with the current tenant.
2. **Row-level security.** Each transaction sets ``shequ.tenant_id`` (transaction-local), and
   the policy from ``tenant_isolation_sql`` admits only rows of that tenant's subtree, so raw SQL
   without the setting sees nothing. Services connect as a non-superuser owner role and the
   policy is FORCEd, because superusers and un-forced owners bypass RLS.

Mechanism that legitimately works across tenants (the outbox relay, projections rebuilt from
scratch) says so with ``system_scope()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, String, create_engine, event, or_, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    SessionTransaction,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)

from shequ_kit.errors import DomainError, ErrorKind, permission_denied
from shequ_kit.tenancy import MissingTenantError, TenantId, current_tenant, require_tenant

TENANT_SETTING = "shequ.tenant_id"
SYSTEM_SETTING = "shequ.system"
POLICY_NAME = "tenant_isolation"
# SQLSTATE classes of a server that is away rather than of a statement that failed: connection
# exceptions, shutting down or starting up (57P01-57P03), out of connections or resources.
_AWAY_SQLSTATES = ("08", "57P", "53")

_system: ContextVar[bool] = ContextVar("shequ_system_scope", default=False)


class TenantOwned:
    """Mixin for models whose rows belong to a tenant (every domain table)."""

    tenant_id: Mapped[str] = mapped_column(String(200), index=True, nullable=False)


@contextmanager
def system_scope() -> Iterator[None]:
    """Work across all tenants (relay, rebuilds). Greppable on purpose."""
    token = _system.set(True)
    try:
        yield
    finally:
        _system.reset(token)


def sqlalchemy_url(dsn: str) -> str:
    """``postgresql://…`` as SQLAlchemy's psycopg 3 URL."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+psycopg://" + dsn.removeprefix(prefix)
    raise ValueError("only PostgreSQL URLs are supported")


@dataclass(frozen=True)
class DatabaseTimeouts:
    """Bounds on every connection of an engine: how long connecting may take, and how long
    one statement may run or wait for a lock before PostgreSQL cancels it (a wedged query or
    a forgotten lock then fails instead of holding a connection and its caller for ever)."""

    connect_s: float = 5.0
    statement_s: float = 60.0
    lock_s: float = 10.0

    def connect_args(self) -> dict[str, Any]:
        """psycopg's connection arguments; the two settings go as startup options, so they
        cost no round trip."""
        options = (
            f"-c statement_timeout={round(self.statement_s * 1000)} "
            f"-c lock_timeout={round(self.lock_s * 1000)}"
        )
        return {"connect_timeout": max(1, round(self.connect_s)), "options": options}


DEFAULT_DATABASE_TIMEOUTS = DatabaseTimeouts()


LIKE_ESCAPE = "\\"


def like_literal(text: str) -> str:
    """``text`` with LIKE's metacharacters escaped (by ``LIKE_ESCAPE``), so what a user typed is
    searched for literally: ``%`` and ``_`` never widen a search to everything."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def make_engine(
    dsn: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    timeouts: DatabaseTimeouts = DEFAULT_DATABASE_TIMEOUTS,
) -> Engine:
    """An engine that survives a PostgreSQL restart (stale connections are replaced), each of
    whose connections is bounded by ``timeouts``."""
    return create_engine(
        sqlalchemy_url(dsn),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        echo=echo,
        connect_args=timeouts.connect_args(),
    )


def unreachable_database(error: BaseException) -> DomainError | None:
    """The ``UNAVAILABLE`` error for a database that cannot be reached right now — down,
    restarting, or the connection dropped mid-statement — or ``None`` for any other error.

    Callers answer it instead of an internal error (gRPC UNAVAILABLE, HTTP 503): the engine's
    pool replaces broken connections (``pool_pre_ping``), so a retry succeeds once the database
    is back, without a restart of the process.
    """
    if not isinstance(error, DBAPIError):
        return None
    sqlstate: str | None = getattr(error.orig, "sqlstate", None)
    away = isinstance(error, OperationalError) and (
        sqlstate is None or sqlstate.startswith(_AWAY_SQLSTATES)
    )
    if not (away or error.connection_invalidated):
        return None
    return DomainError(
        "database.unavailable",
        "数据库暂不可用，请稍后重试",
        "the database is unavailable; retry later",
        ErrorKind.UNAVAILABLE,
    )


def _touches_tenant_owned(state: ORMExecuteState) -> bool:
    return any(issubclass(m.class_, TenantOwned) for m in state.all_mappers)


def _scope_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete) or _system.get():
        return
    if not _touches_tenant_owned(state):
        return
    tenant = current_tenant()
    if tenant is None:
        raise MissingTenantError(
            "a query on tenant-owned rows ran with no tenant in context; use tenant_scope()"
        )
    value, subtree = tenant.value, tenant.value + ".%"
    if tenant.is_community:
        # A community is a leaf: plain equality lets PostgreSQL use (tenant_id, …) indexes for
        # range scans and ordering, which the OR with LIKE below would defeat.
        criterion = with_loader_criteria(
            TenantOwned, lambda cls: cls.tenant_id == value, include_aliases=True
        )
    else:
        criterion = with_loader_criteria(
            TenantOwned,
            lambda cls: or_(cls.tenant_id == value, cls.tenant_id.like(subtree)),
            include_aliases=True,
        )
    state.statement = state.statement.options(criterion)


def _stamp_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.new:
        if not isinstance(obj, TenantOwned):
            continue
        if _system.get() and getattr(obj, "tenant_id", None):
            continue
        tenant = require_tenant()
        given = getattr(obj, "tenant_id", None)
        if given is None:
            obj.tenant_id = tenant.value
        elif not tenant.contains(TenantId(given)):
            raise permission_denied(
                "不能为其他社区写入数据", f"cannot write a row of {given} on behalf of {tenant}"
            )


def _set_transaction_tenant(
    _session: Session, _transaction: SessionTransaction, connection: Connection
) -> None:
    tenant = current_tenant()
    connection.execute(
        text("SELECT set_config(:tk, :tv, true), set_config(:sk, :sv, true)"),
        {
            "tk": TENANT_SETTING,
            "tv": tenant.value if tenant else "",
            "sk": SYSTEM_SETTING,
            "sv": "on" if _system.get() else "off",
        },
    )


def tenant_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that scope, stamp and set the RLS tenant automatically.

    Use one session per tenant scope: the RLS setting is taken when its transaction begins.
    """
    factory = sessionmaker(engine, expire_on_commit=False)
    event.listen(factory, "do_orm_execute", _scope_statement)
    event.listen(factory, "before_flush", _stamp_new_rows)
    event.listen(factory, "after_begin", _set_transaction_tenant)
    return factory


def tenant_isolation_sql(table: str) -> list[str]:
    """DDL that turns on row-level security for ``table`` (run from an Alembic migration)."""
    if not table.replace("_", "").isalnum():
        raise ValueError(f"not a plain table name: {table!r}")
    admitted = (
        f"current_setting('{SYSTEM_SETTING}', true) = 'on'"
        f" OR tenant_id = current_setting('{TENANT_SETTING}', true)"
        f" OR tenant_id LIKE current_setting('{TENANT_SETTING}', true) || '.%'"
    )
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {POLICY_NAME} ON {table} USING ({admitted}) WITH CHECK ({admitted})",
    ]


def drop_tenant_isolation_sql(table: str) -> list[str]:
    return [
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]
