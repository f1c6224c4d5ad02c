"""after-sales types: 仅退款 / 退货退款 / 换货, photos, return address and timeouts

Revision ID: 7a3f1c9e2b40
Revises: 6219d2639300
Create Date: 2026-12-07 07:05:00

"""
from alembic import op
import sqlalchemy as sa

import app.db_types


# revision identifiers, used by Alembic.
revision = '7a3f1c9e2b40'
down_revision = '6219d2639300'
branch_labels = None
depends_on = None


def upgrade():
    # Existing requests are all 仅退款: the server default fills them.
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='refund_only', nullable=False))
        batch_op.add_column(sa.Column('photos', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('return_carrier', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('return_carrier_code', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('return_tracking_no', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('return_shipped_at', app.db_types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('received_at', app.db_types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('replacement_sku_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('replacement_spec_text', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('replacement_carrier', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('replacement_carrier_code', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('replacement_tracking_no', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('replacement_shipped_at', app.db_types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closed_at', app.db_types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_refunds_replacement_sku_id_skus'), 'skus', ['replacement_sku_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('shop_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('return_contact', sa.String(length=20), server_default='', nullable=False))
        batch_op.add_column(sa.Column('return_phone', sa.String(length=20), server_default='', nullable=False))
        batch_op.add_column(sa.Column('return_address', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('aftersales_reply_days', sa.Integer(), server_default='3', nullable=False))
        batch_op.add_column(sa.Column('aftersales_return_days', sa.Integer(), server_default='7', nullable=False))


def downgrade():
    with op.batch_alter_table('shop_settings', schema=None) as batch_op:
        batch_op.drop_column('aftersales_return_days')
        batch_op.drop_column('aftersales_reply_days')
        batch_op.drop_column('return_address')
        batch_op.drop_column('return_phone')
        batch_op.drop_column('return_contact')

    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_refunds_replacement_sku_id_skus'), type_='foreignkey')
        for column in ('closed_at', 'replacement_shipped_at', 'replacement_tracking_no', 'replacement_carrier_code',
                       'replacement_carrier', 'replacement_spec_text', 'replacement_sku_id', 'received_at',
                       'return_shipped_at', 'return_tracking_no', 'return_carrier_code', 'return_carrier',
                       'photos', 'kind'):
            batch_op.drop_column(column)
