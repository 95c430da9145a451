from sqlalchemy import MetaData

from shequ_kit.migrations import run_migrations_in_alembic_env

run_migrations_in_alembic_env(MetaData())
