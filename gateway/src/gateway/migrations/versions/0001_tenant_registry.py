"""Tenant registry and the gateway's outbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from shequ_kit.outbox import outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_node",
        sa.Column("tenant_id", sa.String(200), primary_key=True),
        sa.Column("parent_id", sa.String(200), sa.ForeignKey("tenant_node.tenant_id"), index=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name_zh", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(100), nullable=False),
        sa.Column("division_code", sa.String(12)),
        sa.Column("division_code_year", sa.Integer),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("onboarded_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("kind IN ('district', 'street', 'community')", name="tenant_kind"),
        sa.CheckConstraint("status IN ('preparing', 'active', 'archived')", name="tenant_status"),
    )
    outbox_table(sa.MetaData()).create(op.get_bind())


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("tenant_node")
