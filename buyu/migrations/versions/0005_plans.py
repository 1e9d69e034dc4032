"""plans: nightly plans and plan items

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 12:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'plan_runs',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('work_date', sa.Date(), nullable=False),
        sa.Column('portfolio', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=True),
        sa.Column('strategy_version_id', sa.Integer(), nullable=True),
        sa.Column('strategy_sha256', sa.String(length=64), nullable=True),
        sa.Column('model_version_id', sa.Integer(), nullable=True),
        sa.Column('score_run_id', sa.Integer(), nullable=True),
        sa.Column('solver_status', sa.String(length=12), nullable=True),
        sa.Column('objective_fen', sa.BigInteger(), nullable=False),
        sa.Column('value_fen', sa.BigInteger(), nullable=False),
        sa.Column('bound_fen', sa.BigInteger(), nullable=False),
        sa.Column('gap', sa.Float(), nullable=False),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.Column('accounts', sa.Integer(), nullable=False),
        sa.Column('assigned', sa.Integer(), nullable=False),
        sa.Column('unplaced', sa.Integer(), nullable=False),
        sa.Column('utilisation', sa.JSON(), nullable=False),
        sa.Column('stats', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'),
                  nullable=False),
        sa.CheckConstraint("status IN ('done','skipped')", name='ck_plan_status'),
        sa.CheckConstraint('work_date > as_of', name='ck_plan_work_date'),
        sa.CheckConstraint('assigned >= 0 AND unplaced >= 0 AND assigned <= accounts', name='ck_plan_counts'),
        sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id']),
        sa.ForeignKeyConstraint(['score_run_id'], ['score_runs.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('as_of', 'portfolio', name='uq_plan_runs_night'),
    )
    op.create_table(
        'plan_items',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('run_id', BIG_ID, nullable=False),
        sa.Column('work_date', sa.Date(), nullable=False),
        sa.Column('loan_id', sa.Integer(), nullable=False),
        sa.Column('arm', sa.String(length=40), nullable=False),
        sa.Column('segment', sa.String(length=60), nullable=False),
        sa.Column('treatment', sa.String(length=16), nullable=False),
        sa.Column('collector_id', sa.Integer(), nullable=True),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('value_fen', sa.BigInteger(), nullable=False),
        sa.Column('explanation', sa.JSON(), nullable=False),
        sa.CheckConstraint("treatment IN ('robot_call','sms','agent_call','field_visit','agency','legal','sale',"
                           "'no_action')", name='ck_plan_item_treatment'),
        sa.CheckConstraint("(collector_id IS NOT NULL) = (treatment IN ('agent_call','field_visit'))",
                           name='ck_plan_item_collector'),
        sa.ForeignKeyConstraint(['run_id'], ['plan_runs.id']),
        sa.ForeignKeyConstraint(['loan_id'], ['loans.id']),
        sa.ForeignKeyConstraint(['collector_id'], ['collectors.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('run_id', 'loan_id', name='uq_plan_items_loan'),
    )
    op.create_index('ix_plan_items_work', 'plan_items', ['work_date', 'treatment', 'priority'])


def downgrade() -> None:
    op.drop_index('ix_plan_items_work', table_name='plan_items')
    op.drop_table('plan_items')
    op.drop_table('plan_runs')
