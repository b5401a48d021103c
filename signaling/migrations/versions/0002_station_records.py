"""station records: readings, chat and notes uploaded from stations' outboxes, unique per station and key

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('station_records',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('consult_id', sa.String(length=36), nullable=True),
    sa.Column('time', sa.Float(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('received', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('station_id', 'key', name='uq_station_records_station_key')
    )
    with op.batch_alter_table('station_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_station_records_consult_id'), ['consult_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('station_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_station_records_consult_id'))

    op.drop_table('station_records')
