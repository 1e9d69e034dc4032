"""voice: voice robot calls, turns and dialer

Robot calls (one row per call the dialer asked for, blocked ones included), transcript turns,
what each call booked (promise, callback, cease, dispute, transfer), the human queue and the
payment links sent by SMS during calls.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 12:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('voice_calls',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('borrower_id', sa.Integer(), nullable=False),
    sa.Column('contact_point_id', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('retry_of', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('try_no', sa.SmallInteger(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('profile', sa.String(length=8), nullable=False),
    sa.Column('locale', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('blocked_rule', sa.String(length=32), nullable=True),
    sa.Column('result', sa.String(length=20), nullable=True),
    sa.Column('provider_sid', sa.String(length=64), nullable=True),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ring_seconds', sa.Integer(), nullable=False),
    sa.Column('talk_seconds', sa.Integer(), nullable=False),
    sa.Column('recording_ref', sa.String(length=200), nullable=True),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.CheckConstraint("(status = 'blocked') = (blocked_rule IS NOT NULL)", name='ck_voice_call_blocked_rule'),
    sa.CheckConstraint("(status = 'completed') = (result IS NOT NULL)", name='ck_voice_call_result_when_done'),
    sa.CheckConstraint("result IS NULL OR result IN ('no_answer', 'busy', 'voicemail', 'wrong_party', 'verification_failed', 'rpc', 'ptp', 'paid_link', 'refused', 'dispute', 'callback', 'transferred', 'ceased', 'abuse', 'silence', 'hangup', 'failed')", name='ck_voice_call_result'),
    sa.CheckConstraint("status IN ('blocked', 'dialing', 'in_progress', 'completed')", name='ck_voice_call_status'),
    sa.CheckConstraint('answered_at IS NULL OR answered_at >= placed_at', name='ck_voice_call_answered'),
    sa.CheckConstraint('ended_at IS NULL OR ended_at >= placed_at', name='ck_voice_call_ended'),
    sa.CheckConstraint('ring_seconds >= 0 AND talk_seconds >= 0', name='ck_voice_call_durations'),
    sa.CheckConstraint('try_no >= 1', name='ck_voice_call_try'),
    sa.ForeignKeyConstraint(['attempt_id'], ['contact_attempts.id'], ),
    sa.ForeignKeyConstraint(['borrower_id'], ['borrowers.id'], ),
    sa.ForeignKeyConstraint(['contact_point_id'], ['contact_points.id'], ),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], ),
    sa.ForeignKeyConstraint(['retry_of'], ['voice_calls.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('provider_sid', name='uq_voice_call_sid')
    )
    op.create_index('ix_voice_call_as_of', 'voice_calls', ['as_of', 'status'], unique=False)
    op.create_index('ix_voice_call_loan', 'voice_calls', ['loan_id', 'placed_at'], unique=False)
    op.create_table('human_queue',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('call_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('borrower_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('collector_id', sa.Integer(), nullable=True),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(status = 'waiting') = (taken_at IS NULL)", name='ck_human_queue_taken'),
    sa.CheckConstraint("status IN ('waiting', 'taken', 'done', 'abandoned')", name='ck_human_queue_status'),
    sa.ForeignKeyConstraint(['borrower_id'], ['borrowers.id'], ),
    sa.ForeignKeyConstraint(['call_id'], ['voice_calls.id'], ),
    sa.ForeignKeyConstraint(['collector_id'], ['collectors.id'], ),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_human_queue_status', 'human_queue', ['status', 'queued_at'], unique=False)
    op.create_table('payment_links',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('call_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('contact_point_id', sa.Integer(), nullable=False),
    sa.Column('sms_attempt_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('token', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'blocked', 'sent', 'failed')", name='ck_payment_link_status'),
    sa.CheckConstraint('amount_fen > 0', name='ck_payment_link_amount'),
    sa.ForeignKeyConstraint(['call_id'], ['voice_calls.id'], ),
    sa.ForeignKeyConstraint(['contact_point_id'], ['contact_points.id'], ),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], ),
    sa.ForeignKeyConstraint(['sms_attempt_id'], ['contact_attempts.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token', name='uq_payment_link_token')
    )
    op.create_table('voice_bookings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('call_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.Column('promise_id', sa.Integer(), nullable=True),
    sa.Column('callback_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['voice_calls.id'], ),
    sa.ForeignKeyConstraint(['callback_id'], ['callback_tasks.id'], ),
    sa.ForeignKeyConstraint(['promise_id'], ['promises.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_voice_booking_call', 'voice_bookings', ['call_id'], unique=False)
    op.create_table('voice_turns',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('call_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('speaker', sa.String(length=10), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('intent', sa.String(length=20), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("speaker IN ('robot', 'borrower', 'system')", name='ck_voice_turn_speaker'),
    sa.CheckConstraint('confidence IS NULL OR (confidence >= 0 AND confidence <= 1)', name='ck_voice_turn_conf'),
    sa.ForeignKeyConstraint(['call_id'], ['voice_calls.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('call_id', 'seq', name='uq_voice_turn_seq')
    )


def downgrade() -> None:
    op.drop_table('voice_turns')
    op.drop_index('ix_voice_booking_call', table_name='voice_bookings')
    op.drop_table('voice_bookings')
    op.drop_table('payment_links')
    op.drop_index('ix_human_queue_status', table_name='human_queue')
    op.drop_table('human_queue')
    op.drop_index('ix_voice_call_loan', table_name='voice_calls')
    op.drop_index('ix_voice_call_as_of', table_name='voice_calls')
    op.drop_table('voice_calls')
