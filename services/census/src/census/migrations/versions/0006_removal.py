"""Soft removal of buildings, households and enterprises: the row stays for the history.

A removed record leaves lists, counts and statistics, and its natural key is free again: the
unique rules only hold among records that are not removed.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

REMOVABLE_TABLES = ("building", "household", "enterprise")


def upgrade() -> None:
    for table in REMOVABLE_TABLES:
        op.add_column(table, sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column(table, sa.Column("removed_by", sa.String(length=100), nullable=True))
        op.add_column(table, sa.Column("removed_reason", sa.Text(), nullable=True))
    # A building number is unique within its complex among buildings that still stand.
    op.drop_constraint("building_complex_id_number_key", "building", type_="unique")
    op.create_index(
        "uq_building_number",
        "building",
        ["complex_id", "number"],
        unique=True,
        postgresql_where=sa.text("removed_at IS NULL"),
    )
    # A credit code is registered once per community among operating, not removed, records.
    op.drop_index("uq_enterprise_credit_code", table_name="enterprise")
    op.create_index(
        "uq_enterprise_credit_code",
        "enterprise",
        ["tenant_id", "credit_code"],
        unique=True,
        postgresql_where=sa.text("closed_on IS NULL AND removed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_enterprise_credit_code", table_name="enterprise")
    op.create_index(
        "uq_enterprise_credit_code",
        "enterprise",
        ["tenant_id", "credit_code"],
        unique=True,
        postgresql_where=sa.text("closed_on IS NULL"),
    )
    op.drop_index("uq_building_number", table_name="building")
    # Refused by PostgreSQL if a removed building's number was reused: history is not deleted
    # silently, an operator decides which record to renumber.
    op.create_unique_constraint(
        "building_complex_id_number_key", "building", ["complex_id", "number"]
    )
    for table in reversed(REMOVABLE_TABLES):
        op.drop_column(table, "removed_reason")
        op.drop_column(table, "removed_by")
        op.drop_column(table, "removed_at")
