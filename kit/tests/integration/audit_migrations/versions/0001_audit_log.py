"""A service-like migration: the outbox and the audit log, as every service's migrations add them.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from shequ_kit.migrations import create_audit_log, drop_audit_log
from shequ_kit.outbox import outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox_table(sa.MetaData()).create(op.get_bind())
    create_audit_log()


def downgrade() -> None:
    drop_audit_log()
    op.drop_table("outbox")
