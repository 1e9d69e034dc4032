"""scoring: model registry, scoring runs and logs, monitor alarms

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('model_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('window_start', sa.Date(), nullable=False),
    sa.Column('window_end', sa.Date(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('data_hash', sa.String(length=64), nullable=False),
    sa.Column('features', sa.JSON(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('reference', sa.JSON(), nullable=False),
    sa.Column('card', sa.Text(), nullable=False),
    sa.Column('artifact', sa.LargeBinary(), nullable=False),
    sa.Column('artifact_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("status IN ('active','retired')", name='ck_model_status'),
    sa.CheckConstraint('version >= 1', name='ck_model_version'),
    sa.CheckConstraint('window_start <= window_end AND window_end <= as_of', name='ck_model_window'),
    sa.CheckConstraint('rows >= 0', name='ck_model_rows'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name', 'version', name='uq_model_version')
    )
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.create_index('ix_model_name_status', ['name', 'status'], unique=False)

    op.create_table('score_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('accounts', sa.Integer(), nullable=False),
    sa.Column('logged', sa.Integer(), nullable=False),
    sa.Column('sample_ppm', sa.Integer(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('monitors', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("kind IN ('batch','single')", name='ck_run_kind'),
    sa.CheckConstraint('accounts >= 0 AND logged >= 0 AND logged <= accounts', name='ck_run_counts'),
    sa.CheckConstraint('sample_ppm BETWEEN 0 AND 1000000', name='ck_run_sample'),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('score_runs', schema=None) as batch_op:
        batch_op.create_index('ix_run_model_as_of', ['model_version_id', 'as_of'], unique=False)

    op.create_table('score_logs',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('outputs', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['score_runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'loan_id', name='uq_score_log')
    )
    with op.batch_alter_table('score_logs', schema=None) as batch_op:
        batch_op.create_index('ix_score_log_loan', ['loan_id'], unique=False)

    op.create_table('model_alarms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('monitor', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=80), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("severity IN ('warning','critical')", name='ck_alarm_severity'),
    sa.CheckConstraint("monitor IN ('input_psi','score_psi','auc','calibration','age')", name='ck_alarm_monitor'),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['score_runs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('model_alarms', schema=None) as batch_op:
        batch_op.create_index('ix_alarm_model_as_of', ['model_version_id', 'as_of'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('model_alarms', schema=None) as batch_op:
        batch_op.drop_index('ix_alarm_model_as_of')
    op.drop_table('model_alarms')
    with op.batch_alter_table('score_logs', schema=None) as batch_op:
        batch_op.drop_index('ix_score_log_loan')
    op.drop_table('score_logs')
    with op.batch_alter_table('score_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_run_model_as_of')
    op.drop_table('score_runs')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_model_name_status')
    op.drop_table('model_versions')
