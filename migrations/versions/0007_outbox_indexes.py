"""outbox indexes: provider ids indexed only where set, no indexes that no query reads

Revision ID: 0007_outbox_indexes
Revises: 0006_segment_speed
Create Date: 2026-11-23 22:40:00.000000

A send to 100,000 customers paid for these on every row: the provider id is NULL until the
message leaves; the sent-messages page and the abuse guard read ix_deliveries_created, not
(channel, created_at); messages are found by thread or batch, never by (category, created_at).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_outbox_indexes'
down_revision = '0006_segment_speed'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_category_created')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_channel_created')
        batch_op.drop_index('ix_deliveries_provider_id')
        batch_op.create_index(
            'ix_deliveries_provider_id',
            ['provider_id'],
            unique=False,
            postgresql_where=sa.text('provider_id IS NOT NULL'),
            sqlite_where=sa.text('provider_id IS NOT NULL'),
        )


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_category_created', ['category', 'created_at'], unique=False)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_provider_id')
        batch_op.create_index('ix_deliveries_provider_id', ['provider_id'], unique=False)
        batch_op.create_index(
            'ix_deliveries_channel_created', ['channel', 'created_at'], unique=False
        )
