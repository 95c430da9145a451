"""Fewer checks per inserted row: redundant foreign keys and indexes go.

Revision ID: 0008
Revises: 0007

A resident's, household's and dwelling's building and complex columns are copies of the place
above them (resident → household → dwelling → unit → building → complex), written together by
the service and kept for filtering without joins. The chain of foreign keys already proves that
the place exists; checking each copy again cost an index probe per row and copy (a third of an
import's database time). ``ix_resident_residence_type`` (three values, never selective) and
``ix_dwelling_unit_id`` (the unique (unit_id, room) index starts with unit_id) only cost writes.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# (table, column, referenced table) of the copies whose foreign keys go.
_COPIES = (
    ("resident", "dwelling_id", "dwelling"),
    ("resident", "building_id", "building"),
    ("resident", "complex_id", "complex"),
    ("household", "building_id", "building"),
    ("household", "complex_id", "complex"),
    ("dwelling", "building_id", "building"),
    ("dwelling", "complex_id", "complex"),
)


def upgrade() -> None:
    for table, column, _ in _COPIES:
        op.drop_constraint(f"{table}_{column}_fkey", table, type_="foreignkey")
    op.drop_index("ix_resident_residence_type", table_name="resident")
    op.drop_index("ix_dwelling_unit_id", table_name="dwelling")


def downgrade() -> None:
    op.create_index("ix_dwelling_unit_id", "dwelling", ["unit_id"])
    op.create_index("ix_resident_residence_type", "resident", ["residence_type"])
    for table, column, referenced in _COPIES:
        op.create_foreign_key(f"{table}_{column}_fkey", table, referenced, [column], ["id"])
