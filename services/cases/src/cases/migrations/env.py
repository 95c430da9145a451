from cases.models import metadata
from shequ_kit.migrations import run_migrations_in_alembic_env

run_migrations_in_alembic_env(metadata)
