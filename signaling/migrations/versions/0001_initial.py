"""initial schema: accounts, sessions, consults and events, stills, audit log

Revision ID: 0001
Revises: 
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('time', sa.Float(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('consult_id', sa.String(length=36), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_consult_id'), ['consult_id'], unique=False)

    op.create_table('consults',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('station_id', sa.String(length=64), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('lead', sa.String(length=64), nullable=True),
    sa.Column('transfer_to', sa.String(length=64), nullable=True),
    sa.Column('created', sa.Float(), nullable=False),
    sa.Column('updated', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('consults', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consults_station_id'), ['station_id'], unique=False)

    op.create_table('station_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('station_id', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('created', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('token_hash')
    )
    with op.batch_alter_table('station_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_station_tokens_station_id'), ['station_id'], unique=False)

    op.create_table('stills',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('consult_id', sa.String(length=36), nullable=True),
    sa.Column('station_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('mime', sa.String(length=32), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('taken', sa.Float(), nullable=False),
    sa.Column('by', sa.String(length=16), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.Column('created', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('stills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stills_consult_id'), ['consult_id'], unique=False)

    op.create_table('users',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('created', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('consult_events',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('consult_id', sa.String(length=36), nullable=False),
    sa.Column('time', sa.Float(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['consult_id'], ['consults.id'], ),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('consult_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consult_events_consult_id'), ['consult_id'], unique=False)

    op.create_table('sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('user', sa.String(length=64), nullable=False),
    sa.Column('csrf', sa.String(length=64), nullable=False),
    sa.Column('expires', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['user'], ['users.name'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash')
    )
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sessions_user'), ['user'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sessions_user'))

    op.drop_table('sessions')
    with op.batch_alter_table('consult_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consult_events_consult_id'))

    op.drop_table('consult_events')
    op.drop_table('users')
    with op.batch_alter_table('stills', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stills_consult_id'))

    op.drop_table('stills')
    with op.batch_alter_table('station_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_station_tokens_station_id'))

    op.drop_table('station_tokens')
    with op.batch_alter_table('consults', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consults_station_id'))

    op.drop_table('consults')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_consult_id'))

    op.drop_table('audit_log')
