"""Index for the resident list's keyset order within a community.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ListResidents orders by (name, id) within a tenant and pages by keyset: this index gives
    # the first page without sorting the community's residents.
    op.create_index("ix_resident_tenant_name", "resident", ["tenant_id", "name", "id"])


def downgrade() -> None:
    op.drop_index("ix_resident_tenant_name", table_name="resident")
