"""The audit log of administrative actions (shequ_kit.audit): tenant isolation, append-only.

Revision ID: 0009
Revises: 0008

The per-record trail of unmasked reads (``pii_reveal``) keeps its rows; its append-only trigger
becomes the kit's, so one mechanism guards both tables.
"""

from alembic import op

from shequ_kit.migrations import (
    create_audit_log,
    drop_append_only,
    drop_audit_log,
    make_append_only,
)

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# What revision 0001 created for pii_reveal, before the kit had an append-only mechanism.
_OLD_TRIGGER = "DROP TRIGGER IF EXISTS pii_reveal_append_only ON pii_reveal"
_OLD_FUNCTION = "refuse_change_of_audit_rows"


def upgrade() -> None:
    create_audit_log()
    op.execute(_OLD_TRIGGER)
    op.execute(f"DROP FUNCTION IF EXISTS {_OLD_FUNCTION}()")
    make_append_only("pii_reveal")


def downgrade() -> None:
    drop_append_only("pii_reveal")
    op.execute(
        f"CREATE FUNCTION {_OLD_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'the audit of personal-data reads is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER pii_reveal_append_only BEFORE UPDATE OR DELETE ON pii_reveal "
        f"FOR EACH ROW EXECUTE FUNCTION {_OLD_FUNCTION}()"
    )
    drop_audit_log()
