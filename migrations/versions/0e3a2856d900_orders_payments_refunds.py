"""orders, payments, refunds; shipping and manual payment settings

Revision ID: 0e3a2856d900
Revises: 76a77b62733f
Create Date: 2026-11-22 02:34:39.538934

"""
from alembic import op
import sqlalchemy as sa

import app.db_types


# revision identifiers, used by Alembic.
revision = '0e3a2856d900'
down_revision = '76a77b62733f'
branch_labels = None
depends_on = None


def upgrade():
    # Columns added to existing tables carry server defaults so that databases with rows upgrade.
    op.create_table('addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=20), nullable=False),
    sa.Column('mobile', sa.String(length=11), nullable=False),
    sa.Column('province', sa.String(length=20), nullable=False),
    sa.Column('city', sa.String(length=20), nullable=False),
    sa.Column('district', sa.String(length=20), nullable=False),
    sa.Column('detail', sa.String(length=120), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_addresses_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_addresses'))
    )
    with op.batch_alter_table('addresses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_addresses_user_id'), ['user_id'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('refund_status', sa.String(length=16), nullable=False),
    sa.Column('refund_status_before', sa.String(length=16), nullable=True),
    sa.Column('goods_fen', sa.BigInteger(), nullable=False),
    sa.Column('discount_fen', sa.BigInteger(), nullable=False),
    sa.Column('shipping_fen', sa.BigInteger(), nullable=False),
    sa.Column('total_fen', sa.BigInteger(), nullable=False),
    sa.Column('refunded_fen', sa.BigInteger(), nullable=False),
    sa.Column('buyer_note', sa.String(length=200), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('payment_method', sa.String(length=16), nullable=True),
    sa.Column('ship_recipient', sa.String(length=20), nullable=False),
    sa.Column('ship_mobile', sa.String(length=11), nullable=False),
    sa.Column('ship_region', sa.String(length=64), nullable=False),
    sa.Column('ship_detail', sa.String(length=120), nullable=False),
    sa.Column('carrier', sa.String(length=32), nullable=True),
    sa.Column('tracking_no', sa.String(length=40), nullable=True),
    sa.Column('created_at', app.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', app.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', app.db_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('shipped_at', app.db_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', app.db_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', app.db_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.String(length=200), nullable=True),
    sa.Column('staff_note', sa.Text(), nullable=False),
    sa.CheckConstraint('refunded_fen >= 0 AND refunded_fen <= total_fen', name=op.f('ck_orders_refund_within_total')),
    sa.CheckConstraint('total_fen >= 0', name=op.f('ck_orders_total_not_negative')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_orders_user_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('number', name=op.f('uq_orders_number')),
    sa.UniqueConstraint('user_id', 'idempotency_key', name='uq_orders_user_idempotency')
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_completed_at'), ['completed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_refund_status'), ['refund_status'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_status'), ['status'], unique=False)
        batch_op.create_index('ix_orders_status_expires', ['status', 'expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_user_id'), ['user_id'], unique=False)

    op.create_table('order_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=24), nullable=True),
    sa.Column('to_status', sa.String(length=24), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('created_at', app.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_order_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_events_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_events'))
    )
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_events_order_id'), ['order_id'], unique=False)

    op.create_table('payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('out_trade_no', sa.String(length=32), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('gateway_trade_no', sa.String(length=64), nullable=True),
    sa.Column('raw_notify', sa.JSON(), nullable=True),
    sa.Column('needs_refund', sa.Boolean(), nullable=False),
    sa.Column('refund_note', sa.String(length=200), nullable=False),
    sa.Column('created_at', app.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', app.db_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('notified_at', app.db_types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_payments_order_id_orders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    sa.UniqueConstraint('out_trade_no', name=op.f('uq_payments_out_trade_no'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_needs_refund'), ['needs_refund'], unique=False)
        batch_op.create_index(batch_op.f('ix_payments_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payments_status'), ['status'], unique=False)

    op.create_table('cart_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('sku_id', sa.Integer(), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('seen_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', app.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('qty > 0', name=op.f('ck_cart_items_qty_positive')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_cart_items_sku_id_skus'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_cart_items_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cart_items')),
    sa.UniqueConstraint('user_id', 'sku_id', name='uq_cart_items_user_sku')
    )
    with op.batch_alter_table('cart_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cart_items_user_id'), ['user_id'], unique=False)

    op.create_table('order_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('sku_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=60), nullable=False),
    sa.Column('spec_text', sa.String(length=120), nullable=False),
    sa.Column('image_key', sa.String(length=80), nullable=True),
    sa.Column('unit_fen', sa.BigInteger(), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('subtotal_fen', sa.BigInteger(), nullable=False),
    sa.Column('discount_fen', sa.BigInteger(), nullable=False),
    sa.Column('paid_fen', sa.BigInteger(), nullable=False),
    sa.Column('refunded_qty', sa.Integer(), nullable=False),
    sa.Column('refunded_fen', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('qty > 0', name=op.f('ck_order_lines_qty_positive')),
    sa.CheckConstraint('refunded_fen >= 0 AND refunded_fen <= paid_fen', name=op.f('ck_order_lines_refunded_within_paid')),
    sa.CheckConstraint('refunded_qty >= 0 AND refunded_qty <= qty', name=op.f('ck_order_lines_refunded_qty_within_qty')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_lines_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_order_lines_product_id_products'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_order_lines_sku_id_skus'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines'))
    )
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_lines_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_lines_product_id'), ['product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_lines_sku_id'), ['sku_id'], unique=False)

    op.create_table('refunds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('shipping_fen', sa.BigInteger(), nullable=False),
    sa.Column('restock', sa.Boolean(), nullable=False),
    sa.Column('reject_reason', sa.String(length=200), nullable=True),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('created_at', app.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', app.db_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('refunded_at', app.db_types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount_fen >= 0', name=op.f('ck_refunds_amount_not_negative')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_refunds_decided_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_refunds_order_id_orders'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_refunds_payment_id_payments'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('number', name=op.f('uq_refunds_number'))
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refunds_status'), ['status'], unique=False)

    op.create_table('refund_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('refund_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('qty > 0', name=op.f('ck_refund_lines_qty_positive')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_refund_lines_order_line_id_order_lines'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_refund_lines_refund_id_refunds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refund_lines'))
    )
    with op.batch_alter_table('refund_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refund_lines_order_line_id'), ['order_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refund_lines_refund_id'), ['refund_id'], unique=False)

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('free_shipping', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('shop_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shipping_flat_fen', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('free_shipping_over_fen', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('order_expire_minutes', sa.Integer(), nullable=False, server_default='30'))
        batch_op.add_column(sa.Column('autocomplete_days', sa.Integer(), nullable=False, server_default='10'))
        batch_op.add_column(sa.Column('manual_payment_enabled', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('manual_payment_text', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('manual_payment_qr_key', sa.String(length=80), nullable=True))

    # ### end Alembic commands ###


def downgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table('shop_settings', schema=None) as batch_op:
        batch_op.drop_column('manual_payment_qr_key')
        batch_op.drop_column('manual_payment_text')
        batch_op.drop_column('manual_payment_enabled')
        batch_op.drop_column('autocomplete_days')
        batch_op.drop_column('order_expire_minutes')
        batch_op.drop_column('free_shipping_over_fen')
        batch_op.drop_column('shipping_flat_fen')

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_column('free_shipping')

    with op.batch_alter_table('refund_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refund_lines_refund_id'))
        batch_op.drop_index(batch_op.f('ix_refund_lines_order_line_id'))

    op.drop_table('refund_lines')
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refunds_status'))
        batch_op.drop_index(batch_op.f('ix_refunds_order_id'))

    op.drop_table('refunds')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_lines_sku_id'))
        batch_op.drop_index(batch_op.f('ix_order_lines_product_id'))
        batch_op.drop_index(batch_op.f('ix_order_lines_order_id'))

    op.drop_table('order_lines')
    with op.batch_alter_table('cart_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cart_items_user_id'))

    op.drop_table('cart_items')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_status'))
        batch_op.drop_index(batch_op.f('ix_payments_order_id'))
        batch_op.drop_index(batch_op.f('ix_payments_needs_refund'))

    op.drop_table('payments')
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_events_order_id'))

    op.drop_table('order_events')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_user_id'))
        batch_op.drop_index('ix_orders_status_expires')
        batch_op.drop_index(batch_op.f('ix_orders_status'))
        batch_op.drop_index(batch_op.f('ix_orders_refund_status'))
        batch_op.drop_index(batch_op.f('ix_orders_created_at'))
        batch_op.drop_index(batch_op.f('ix_orders_completed_at'))

    op.drop_table('orders')
    with op.batch_alter_table('addresses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_addresses_user_id'))

    op.drop_table('addresses')
    # ### end Alembic commands ###
