"""templates: transactional catalogue, notification templates, editor drafts, images

Revision ID: 0005_templates
Revises: 0004_segments_inbox
Create Date: 2026-11-23 20:05:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_templates'
down_revision = '0004_segments_inbox'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('notification_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=160), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('blocks_json', sa.Text(), nullable=True),
    sa.Column('sms_text', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['staff_users.id'], name=op.f('fk_notification_templates_updated_by_id_staff_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_templates'))
    )
    op.create_table('template_images',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=40), nullable=False),
    sa.Column('content_type', sa.String(length=20), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['staff_users.id'], name=op.f('fk_template_images_uploaded_by_id_staff_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_template_images')),
    sa.UniqueConstraint('token', name=op.f('uq_template_images_token'))
    )
    op.create_table('transactional_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_key', sa.String(length=40), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('blocks_json', sa.Text(), nullable=True),
    sa.Column('sms_text', sa.Text(), nullable=False),
    sa.Column('customised', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['staff_users.id'], name=op.f('fk_transactional_templates_updated_by_id_staff_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transactional_templates')),
    sa.UniqueConstraint('event_key', 'language', name=op.f('uq_transactional_templates_event_key'))
    )
    op.create_table('template_drafts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transactional_template_id', sa.Integer(), nullable=True),
    sa.Column('notification_template_id', sa.Integer(), nullable=True),
    sa.Column('staff_user_id', sa.Integer(), nullable=False),
    sa.Column('base_version', sa.Integer(), nullable=False),
    sa.Column('blocks_json', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('(transactional_template_id IS NULL) <> (notification_template_id IS NULL)', name=op.f('ck_template_drafts_one_template')),
    sa.ForeignKeyConstraint(['notification_template_id'], ['notification_templates.id'], name=op.f('fk_template_drafts_notification_template_id_notification_templates'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_template_drafts_staff_user_id_staff_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['transactional_template_id'], ['transactional_templates.id'], name=op.f('fk_template_drafts_transactional_template_id_transactional_templates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_template_drafts'))
    )
    with op.batch_alter_table('template_drafts', schema=None) as batch_op:
        batch_op.create_index('ix_template_drafts_staff', ['staff_user_id'], unique=False)
        batch_op.create_index('uq_template_drafts_notification_staff', ['notification_template_id', 'staff_user_id'], unique=True, sqlite_where=sa.text('notification_template_id IS NOT NULL'), postgresql_where=sa.text('notification_template_id IS NOT NULL'))
        batch_op.create_index('uq_template_drafts_transactional_staff', ['transactional_template_id', 'staff_user_id'], unique=True, sqlite_where=sa.text('transactional_template_id IS NOT NULL'), postgresql_where=sa.text('transactional_template_id IS NOT NULL'))


def downgrade():
    with op.batch_alter_table('template_drafts', schema=None) as batch_op:
        batch_op.drop_index('uq_template_drafts_transactional_staff', sqlite_where=sa.text('transactional_template_id IS NOT NULL'), postgresql_where=sa.text('transactional_template_id IS NOT NULL'))
        batch_op.drop_index('uq_template_drafts_notification_staff', sqlite_where=sa.text('notification_template_id IS NOT NULL'), postgresql_where=sa.text('notification_template_id IS NOT NULL'))
        batch_op.drop_index('ix_template_drafts_staff')

    op.drop_table('template_drafts')
    op.drop_table('transactional_templates')
    op.drop_table('template_images')
    op.drop_table('notification_templates')
