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
from typing import Any

from sqlalchemy import Connection, Engine, String, create_engine, event, or_, text
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    SessionTransaction,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)

from shequ_kit.errors import permission_denied
from shequ_kit.tenancy import MissingTenantError, TenantId, current_tenant, require_tenant

TENANT_SETTING = "shequ.tenant_id"
SYSTEM_SETTING = "shequ.system"
POLICY_NAME = "tenant_isolation"

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


def make_engine(dsn: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    """An engine that survives a PostgreSQL restart (stale connections are replaced)."""
    return create_engine(
        sqlalchemy_url(dsn),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        echo=echo,
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
