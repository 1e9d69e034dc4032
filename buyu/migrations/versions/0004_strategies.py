"""strategies: strategies, strategy versions and lifecycle events

Versions are immutable documents (sha256 of the canonical JSON) that move draft → approved →
active → retired. The database keeps the invariants the service checks: four eyes
(approved_by <> author), one active version per portfolio (a partial unique index, on both
dialects), consistent lifecycle columns, and triggers that refuse to change a document or delete a
version, and any UPDATE or DELETE of the events (history is never rewritten).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 12:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
ACTIVE = sa.text("status = 'active'")
IMMUTABLE = ('document', 'sha256', 'portfolio', 'name', 'version', 'author')


def upgrade() -> None:
    op.create_table('strategy_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('portfolio', sa.String(length=60), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('author', sa.String(length=60), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('approved_by', sa.String(length=60), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('activated_by', sa.String(length=60), nullable=True),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('effective_from', sa.Date(), nullable=True),
    sa.Column('effective_to', sa.Date(), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('draft','approved','active','retired')", name='ck_strategy_status'),
    sa.CheckConstraint('version >= 1', name='ck_strategy_version'),
    sa.CheckConstraint("status = 'draft' OR (approved_by IS NOT NULL AND approved_at IS NOT NULL)",
                       name='ck_strategy_approved'),
    sa.CheckConstraint('approved_by IS NULL OR approved_by <> author', name='ck_strategy_four_eyes'),
    sa.CheckConstraint("status NOT IN ('active','retired') OR (effective_from IS NOT NULL AND activated_by IS NOT NULL)",
                       name='ck_strategy_activated'),
    sa.CheckConstraint("(status = 'retired') = (retired_at IS NOT NULL)", name='ck_strategy_retired'),
    sa.CheckConstraint("(status = 'retired') = (effective_to IS NOT NULL)", name='ck_strategy_effective_to'),
    sa.CheckConstraint('effective_to IS NULL OR effective_to >= effective_from', name='ck_strategy_effective'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('portfolio', 'name', 'version', name='uq_strategy_version')
    )
    with op.batch_alter_table('strategy_versions', schema=None) as batch_op:
        batch_op.create_index('ix_strategy_portfolio_effective', ['portfolio', 'effective_from'], unique=False)
        batch_op.create_index('uq_strategy_active_portfolio', ['portfolio'], unique=True,
                              postgresql_where=ACTIVE, sqlite_where=ACTIVE)

    op.create_table('strategy_events',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('strategy_version_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=12), nullable=False),
    sa.Column('actor', sa.String(length=60), nullable=False),
    sa.Column('effective', sa.Date(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("action IN ('created','approved','activated','retired')", name='ck_strategy_event_action'),
    sa.ForeignKeyConstraint(['strategy_version_id'], ['strategy_versions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('strategy_events', schema=None) as batch_op:
        batch_op.create_index('ix_strategy_event_version', ['strategy_version_id', 'id'], unique=False)

    _history_guards()


PG_GUARDS = """
CREATE OR REPLACE FUNCTION strategy_versions_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'strategy_versions: versions are history, DELETE refused' USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.document::text IS DISTINCT FROM OLD.document::text OR NEW.sha256 IS DISTINCT FROM OLD.sha256
     OR NEW.portfolio IS DISTINCT FROM OLD.portfolio OR NEW.name IS DISTINCT FROM OLD.name
     OR NEW.version IS DISTINCT FROM OLD.version OR NEW.author IS DISTINCT FROM OLD.author THEN
    RAISE EXCEPTION 'strategy_versions: a document is immutable once created' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION strategy_events_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'strategy_events is append-only: % refused', TG_OP USING ERRCODE = 'check_violation';
END $$ LANGUAGE plpgsql;
"""


def _history_guards() -> None:
    """Documents never change and versions and events are never deleted: the database refuses it too."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_GUARDS)
        op.execute("CREATE TRIGGER strategy_versions_guard BEFORE UPDATE OR DELETE ON strategy_versions "
                   "FOR EACH ROW EXECUTE FUNCTION strategy_versions_guard()")
        op.execute("CREATE TRIGGER strategy_events_no_change BEFORE UPDATE OR DELETE ON strategy_events "
                   "FOR EACH ROW EXECUTE FUNCTION strategy_events_append_only()")
        return
    changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in IMMUTABLE)
    op.execute(f"CREATE TRIGGER strategy_versions_immutable BEFORE UPDATE ON strategy_versions WHEN {changed} "
               "BEGIN SELECT RAISE(ABORT, 'strategy_versions: a document is immutable once created'); END")
    op.execute("CREATE TRIGGER strategy_versions_no_delete BEFORE DELETE ON strategy_versions "
               "BEGIN SELECT RAISE(ABORT, 'strategy_versions: versions are history, DELETE refused'); END")
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER strategy_events_no_{verb.lower()} BEFORE {verb} ON strategy_events "
                   f"BEGIN SELECT RAISE(ABORT, 'strategy_events is append-only: {verb} refused'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS strategy_events_no_change ON strategy_events")
        op.execute("DROP TRIGGER IF EXISTS strategy_versions_guard ON strategy_versions")
        op.execute("DROP FUNCTION IF EXISTS strategy_events_append_only()")
        op.execute("DROP FUNCTION IF EXISTS strategy_versions_guard()")
    with op.batch_alter_table('strategy_events', schema=None) as batch_op:
        batch_op.drop_index('ix_strategy_event_version')
    op.drop_table('strategy_events')
    with op.batch_alter_table('strategy_versions', schema=None) as batch_op:
        batch_op.drop_index('uq_strategy_active_portfolio', postgresql_where=ACTIVE, sqlite_where=ACTIVE)
        batch_op.drop_index('ix_strategy_portfolio_effective')
    op.drop_table('strategy_versions')
