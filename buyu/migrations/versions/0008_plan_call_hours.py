"""plan_call_hours: the borrower-local hours a planned call or visit should be tried in, best first

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 16:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plan_items") as batch:
        batch.add_column(sa.Column("call_hours", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plan_items") as batch:
        batch.drop_column("call_hours")
