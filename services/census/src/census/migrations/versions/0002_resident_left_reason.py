"""Why a resident's stay ended.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("resident", sa.Column("left_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("resident", "left_reason")
