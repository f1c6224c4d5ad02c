"""Upgrading a database that already holds a shop keeps every row (SQLite batch mode rebuilds tables)."""

import sqlite3
from pathlib import Path

from flask_migrate import upgrade

from app import create_app
from app.extensions import db
from tests.conftest import base_config

MIGRATIONS = str(Path(__file__).parent.parent / "migrations")
FIRST_REVISION = "76a77b62733f"


def test_upgrading_a_sqlite_shop_keeps_its_skus_and_pictures(tmp_path):
    path = tmp_path / "shop.sqlite3"
    app = create_app(base_config(f"sqlite:///{path}", tmp_path))
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision=FIRST_REVISION)
        db.engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            INSERT INTO products (id, title, subtitle, description, is_on_shelf, sort_weight, sales_count, options,
                                  created_at, updated_at)
                 VALUES (1, '茶', '', '', 1, 0, 0, '[]', '2026-01-01 00:00:00', '2026-01-01 00:00:00');
            INSERT INTO skus (product_id, spec_values, spec_key, price_fen, stock, position, is_active)
                 VALUES (1, '[]', '', 990, 5, 0, 1);
            INSERT INTO product_images (product_id, image_key, position) VALUES (1, 'ab/cd.jpg', 0);
            """
        )
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        db.engine.dispose()
    with sqlite3.connect(path) as conn:
        counts = [
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("products", "skus", "product_images")
        ]
        enforced = conn.execute("PRAGMA foreign_key_check").fetchall()
    assert counts == [1, 1, 1]
    assert enforced == []


def test_frozen_commission_of_received_orders_gets_its_release_date(tmp_path):
    path = tmp_path / "shop.sqlite3"
    app = create_app(base_config(f"sqlite:///{path}", tmp_path))
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="05892f6c08f9")
        db.engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            INSERT INTO users (id, mobile, nickname, role, is_active, auth_version, created_at, referrer_fixed)
                 VALUES (1, '13800000001', 'A', 'customer', 1, 1, '2026-01-01 00:00:00', 0),
                        (2, '13800000002', 'B', 'customer', 1, 1, '2026-01-01 00:00:00', 0);
            INSERT INTO distribution_settings (id, enabled, mode, spend_threshold_fen, levels, rates_bp,
                        self_purchase, binding_mode, binding_days, freeze_days, withdrawal_min_fen,
                        withdrawal_fee_bp, updated_at)
                 VALUES (1, 1, 'apply', 0, 2, '[1000, 500]', 0, 'first', 0, 10, 100, 0, '2026-01-01 00:00:00');
            INSERT INTO distributors (id, user_id, code, status, source, real_name, frozen_fen, available_fen,
                        withdrawn_fen, created_at)
                 VALUES (1, 1, 'abcd2345', 'active', 'apply', '', 100, 0, 0, '2026-01-01 00:00:00');
            INSERT INTO orders (id, number, user_id, status, refund_status, goods_fen, discount_fen, shipping_fen,
                        total_fen, refunded_fen, buyer_note, idempotency_key, ship_recipient, ship_mobile,
                        ship_region, ship_detail, created_at, expires_at, completed_at, staff_note)
                 VALUES (1, '2601010000000001', 2, 'completed', 'none', 1000, 0, 0, 1000, 0, '', 'k1', '乙',
                        '13800000002', '广东省 深圳市 南山区', '一号', '2026-01-01 00:00:00',
                        '2026-01-01 00:30:00', '2026-01-05 08:00:00', ''),
                        (2, '2601010000000002', 2, 'shipped', 'none', 1000, 0, 0, 1000, 0, '', 'k2', '乙',
                        '13800000002', '广东省 深圳市 南山区', '一号', '2026-01-01 00:00:00',
                        '2026-01-01 00:30:00', NULL, '');
            INSERT INTO commissions (id, order_id, distributor_id, level, status, original_fen, held, created_at)
                 VALUES (1, 1, 1, 1, 'frozen', 100, 0, '2026-01-02 00:00:00'),
                        (2, 2, 1, 1, 'frozen', 100, 0, '2026-01-02 00:00:00');
            """
        )
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        db.engine.dispose()
    with sqlite3.connect(path) as conn:
        dates = dict(conn.execute("SELECT id, release_after FROM commissions").fetchall())
    assert dates[1].startswith("2026-01-15 08:00:00")  # received 5 Jan + the shop's 10 freeze days
    assert dates[2] is None  # not received yet: no date until it is


def test_the_final_orders_backfill_leaves_recent_and_frozen_orders_to_settle(tmp_path):
    """36a22047492b: only orders past the shop's freeze days whose commission is no longer frozen are final
    from their receipt; a recent one, or one with frozen (or held) commission, waits for settle."""
    from datetime import UTC, datetime, timedelta

    path = tmp_path / "shop.sqlite3"
    app = create_app(base_config(f"sqlite:///{path}", tmp_path))
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="77447480a8d1")
        db.engine.dispose()
    now = datetime.now(UTC).replace(tzinfo=None)
    old, recent = (now - timedelta(days=30)).isoformat(" "), (now - timedelta(days=5)).isoformat(" ")
    orders = ",\n".join(
        f"({n}, '26010100000000{n:02d}', 2, 'completed', 'none', 1000, 0, 0, 1000, 0, '', 'k{n}', '乙',"
        f" '13800000002', '广东省 深圳市 南山区', '一号', '2026-01-01 00:00:00', '2026-01-01 00:30:00', '{when}', '')"
        for n, when in ((1, old), (2, old), (3, recent), (4, old))
    )
    with sqlite3.connect(path) as conn:
        conn.executescript(
            f"""
            INSERT INTO users (id, mobile, nickname, role, is_active, auth_version, created_at, referrer_fixed)
                 VALUES (1, '13800000001', 'A', 'customer', 1, 1, '2026-01-01 00:00:00', 0),
                        (2, '13800000002', 'B', 'customer', 1, 1, '2026-01-01 00:00:00', 0);
            INSERT INTO distribution_settings (id, enabled, mode, spend_threshold_fen, levels, rates_bp,
                        self_purchase, binding_mode, binding_days, freeze_days, withdrawal_min_fen,
                        withdrawal_fee_bp, updated_at)
                 VALUES (1, 1, 'apply', 0, 2, '[1000, 500]', 0, 'first', 0, 10, 100, 0, '2026-01-01 00:00:00');
            INSERT INTO distributors (id, user_id, code, status, source, real_name, frozen_fen, available_fen,
                        withdrawn_fen, created_at)
                 VALUES (1, 1, 'abcd2345', 'active', 'apply', '', 100, 100, 0, '2026-01-01 00:00:00');
            INSERT INTO orders (id, number, user_id, status, refund_status, goods_fen, discount_fen, shipping_fen,
                        total_fen, refunded_fen, buyer_note, idempotency_key, ship_recipient, ship_mobile,
                        ship_region, ship_detail, created_at, expires_at, completed_at, staff_note)
                 VALUES {orders};
            INSERT INTO commissions (id, order_id, distributor_id, level, status, original_fen, held, created_at)
                 VALUES (1, 1, 1, 1, 'released', 100, 0, '2026-01-02 00:00:00'),
                        (2, 2, 1, 1, 'frozen', 100, 1, '2026-01-02 00:00:00'),
                        (3, 3, 1, 1, 'released', 100, 0, '2026-01-02 00:00:00');
            """
        )
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="36a22047492b")
        db.engine.dispose()
    with sqlite3.connect(path) as conn:
        final = dict(conn.execute("SELECT id, final_at FROM orders").fetchall())
    assert final[1] is not None and final[1].startswith(old[:19])  # 30 days ago, commission released
    assert final[2] is None  # its commission is held, still frozen
    assert final[3] is None  # 5 days ago: within the shop's 10 freeze days
    assert final[4] is not None  # no commission at all
