"""address region codes (GB/T 2260) beside the names

Revision ID: 5c1d2e3f4a6b
Revises: 36a22047492b
Create Date: 2026-12-07 04:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c1d2e3f4a6b'
down_revision = '36a22047492b'
branch_labels = None
depends_on = None


def upgrade():
    # Addresses saved before the picker keep their names and no codes: the form finds their codes by
    # name when the shopper next edits them.
    with op.batch_alter_table('addresses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('province_code', sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column('city_code', sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column('district_code', sa.String(length=12), nullable=True))


def downgrade():
    with op.batch_alter_table('addresses', schema=None) as batch_op:
        batch_op.drop_column('district_code')
        batch_op.drop_column('city_code')
        batch_op.drop_column('province_code')
