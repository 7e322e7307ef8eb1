"""sms: monthly usage against the tier, segments and provider status per delivery, lead customers

Revision ID: 0003_sms
Revises: 0002_sending_core
Create Date: 2026-11-23 20:08:54.291295

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003_sms"
down_revision = "0002_sending_core"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sms_usage_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("allowance", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("paused_notice_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("used >= 0", name=op.f("ck_sms_usage_months_used_not_negative")),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_sms_usage_months")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_lead", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("segments", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("provider_status", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("provider_error_code", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("provider_status_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("provider_status_at")
        batch_op.drop_column("provider_error_code")
        batch_op.drop_column("provider_status")
        batch_op.drop_column("segments")

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("is_lead")

    op.drop_table("sms_usage_months")
