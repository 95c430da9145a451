"""Alembic, driven from code: a service's ``migrations/env.py`` is two lines.

    from shequ_kit.migrations import run_migrations_in_alembic_env
    run_migrations_in_alembic_env(metadata)

and its ``migrate`` run mode calls ``upgrade(script_location, dsn)``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, pool

from shequ_kit.audit import AUDIT_TABLE, append_only_sql, audit_table, drop_append_only_sql
from shequ_kit.db import sqlalchemy_url, tenant_isolation_sql


def alembic_config(script_location: Path, dsn: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(dsn).replace("%", "%%"))
    return config


def upgrade(script_location: Path, dsn: str, revision: str = "head") -> None:
    """Bring the database at ``dsn`` to ``revision``."""
    command.upgrade(alembic_config(script_location, dsn), revision)


def run_migrations_in_alembic_env(metadata: MetaData) -> None:
    """The body of every service's env.py (online mode; offline renders SQL)."""
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic config has no sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def enable_tenant_isolation(table: str) -> None:
    """In a migration's ``upgrade()``: row-level security on ``table`` (see shequ_kit.db)."""
    for statement in tenant_isolation_sql(table):
        op.execute(statement)


def make_append_only(table: str) -> None:
    """In a migration's ``upgrade()``: UPDATE, DELETE and TRUNCATE on ``table`` raise, for every
    role (see ``shequ_kit.audit.append_only_sql``)."""
    for statement in append_only_sql(table):
        op.execute(statement)


def drop_append_only(table: str) -> None:
    for statement in drop_append_only_sql(table):
        op.execute(statement)


def create_audit_log() -> None:
    """In a migration's ``upgrade()``: the audit log (``shequ_kit.audit``), under row-level
    security like every tenant table, and append-only."""
    audit_table(MetaData()).create(op.get_bind())
    enable_tenant_isolation(AUDIT_TABLE)
    make_append_only(AUDIT_TABLE)


def drop_audit_log() -> None:
    """In a migration's ``downgrade()``: the audit log goes, with its triggers and policy."""
    op.drop_table(AUDIT_TABLE)
