"""A service-like migration: one tenant-owned table under row-level security.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from shequ_kit.migrations import enable_tenant_isolation

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "household",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.String(200), nullable=False, index=True),
        sa.Column("head", sa.String(50), nullable=False),
    )
    enable_tenant_isolation("household")


def downgrade() -> None:
    op.drop_table("household")
