"""Precomputed statistics: one tally row per standing building, under row-level security.

Left empty here: statistics count a building without a row at the first request that needs it
(one scan of the tenant's residents, as every request did before), and
``python -m census rebuild-statistics`` fills every tenant at once.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from shequ_kit.migrations import enable_tenant_isolation

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Spelled out rather than taken from census.tallies: a migration stays what it was when the
# vocabulary grows (a new word is a new migration).
FIGURES = (
    "households",
    "residents",
    "enterprises",
    "type_registered",
    "type_resident",
    "type_migrant",
    "tenure_owner",
    "tenure_tenant",
    "age_0_6",
    "age_7_17",
    "age_18_34",
    "age_35_59",
    "age_60_79",
    "age_80_plus",
    "tag_elderly",
    "tag_child",
    "tag_living_alone",
    "tag_disabled",
    "tag_party_member",
    "tag_veteran",
    "tag_key_group",
)


def upgrade() -> None:
    op.create_table(
        "building_tally",
        sa.Column("building_id", sa.Uuid(), sa.ForeignKey("building.id"), primary_key=True),
        sa.Column("tenant_id", sa.String(200), nullable=False, index=True),
        sa.Column("complex_id", sa.Uuid(), sa.ForeignKey("complex.id"), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in FIGURES),
    )
    enable_tenant_isolation("building_tally")


def downgrade() -> None:
    op.drop_table("building_tally")
