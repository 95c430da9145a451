"""Every write to the layout (grids, micro-grids, coverage, members, the community's code)
notifies ``grid_layout``, so each server's WhoCovers cache is emptied the moment it commits.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

from shequ_kit.cache import drop_notify_on_change_sql, notify_on_change_sql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "grid_layout"
TABLES = ("grid", "micro_grid", "coverage", "member", "community")


def upgrade() -> None:
    for statement in notify_on_change_sql(CHANNEL, TABLES):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_notify_on_change_sql(CHANNEL, TABLES):
        op.execute(statement)
