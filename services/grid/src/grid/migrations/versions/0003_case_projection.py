"""The cases projection: one row per case (building, open, version) from the cases service's
events, under row-level security; it replaces ``open_case``, which nothing ever fed.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shequ_kit.db import SYSTEM_SETTING
from shequ_kit.migrations import enable_tenant_isolation

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_projection",
        sa.Column("tenant_id", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("building_id", sa.Uuid(), nullable=True),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("tenant_id", "case_id"),
    )
    # The workload counts open cases per building; closed ones are most rows over time.
    op.create_index(
        "ix_case_projection_open_building",
        "case_projection",
        ["tenant_id", "building_id"],
        unique=False,
        postgresql_where=sa.text("open"),
    )
    enable_tenant_isolation("case_projection")
    op.drop_index(op.f("ix_open_case_building_id"), table_name="open_case")
    op.drop_table("open_case")


def downgrade() -> None:
    op.create_table(
        "open_case",
        sa.Column("tenant_id", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.String(length=100), nullable=False),
        sa.Column("building_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "case_id"),
    )
    op.create_index(op.f("ix_open_case_building_id"), "open_case", ["building_id"], unique=False)
    enable_tenant_isolation("open_case")
    # Across all communities, past row-level security, for this transaction only.
    op.execute(f"SELECT set_config('{SYSTEM_SETTING}', 'on', true)")
    op.execute(
        "INSERT INTO open_case (tenant_id, case_id, building_id) "
        "SELECT tenant_id, case_id::text, building_id FROM case_projection "
        "WHERE open AND building_id IS NOT NULL"
    )
    op.drop_index(
        "ix_case_projection_open_building",
        table_name="case_projection",
        postgresql_where=sa.text("open"),
    )
    op.drop_table("case_projection")
