"""What benchmarks share, built on first use: a Fenxiao app on a temporary SQLite database, migrated
like production and filled with N products, plus test clients (one logged in to the back office)."""

import contextlib
import io
import random
import re
import time
from functools import cached_property
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import insert, select

from app import create_app, demo_art
from app.accounts import services as accounts
from app.accounts.models import Role
from app.catalog.models import Category, Product, ProductImage, Sku
from app.catalog.services import save_category, spec_key
from app.extensions import db
from app.media import save_image

MIGRATIONS = str(Path(__file__).parent.parent / "migrations")
OWNER_MOBILE, OWNER_PASSWORD = "13800000000", "bench1234"
KINDS = ["apple", "mug", "tshirt", "book", "pump_bottle", "snack_bag", "tea_tin", "earbuds"]
COLORS = ["红色", "蓝色", "黑色", "白色"]
SIZES = ["S", "M", "L", "XL"]


class Env:
    def __init__(self, folder: str, *, products: int, requests: int, warmup: int):
        self.folder = Path(folder)
        self.products = products
        self.requests = requests
        self.warmup = warmup
        self.summary = "nothing was set up"

    @cached_property
    def app(self):
        """The app on a migrated, seeded SQLite database. No app context stays pushed: each request gets
        its own, as in production (a shared one would share `g` and the db session between requests)."""
        app = create_app(
            {
                "TESTING": True,  # quiet logging; CSRF stays on
                "SECRET_KEY": "bench",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{self.folder / 'bench.sqlite3'}",
                "UPLOAD_FOLDER": str(self.folder / "uploads"),
            }
        )
        started = time.perf_counter()
        with app.app_context():
            with contextlib.redirect_stderr(io.StringIO()):  # Alembic's INFO lines
                upgrade(directory=MIGRATIONS)
            accounts.register_user(db.session, mobile=OWNER_MOBILE, password=OWNER_PASSWORD, role=Role.OWNER)
            seed_catalog(db.session, self.products)
            db.session.remove()
        self.summary = (
            f"{self.products:,} products in SQLite (seeded in {time.perf_counter() - started:.1f} s)"
        )
        return app

    @cached_property
    def product_ids(self) -> list[int]:
        with self.app.app_context():
            return list(db.session.scalars(select(Product.id).where(Product.is_on_shelf)))

    @cached_property
    def client(self):
        return self.app.test_client()

    @cached_property
    def owner_client(self):
        client = self.app.test_client()
        page = client.get("/admin/login").get_data(as_text=True)
        token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
        response = client.post(
            "/admin/login", data={"mobile": OWNER_MOBILE, "password": OWNER_PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 302, "benchmark owner could not log in"
        return client

    def close(self) -> None:
        if "app" in self.__dict__:
            with self.app.app_context():
                db.engine.dispose()


def seed_catalog(session, products: int) -> None:
    """`products` products in 8 categories of 3 subcategories, half with 16 SKUs (颜色 × 尺码), 3 pictures
    each, 90 % on the shelf. Bulk inserts: the point is a big catalog quickly, not the rules (the demo uses
    the services). Commits."""
    rng = random.Random(42)
    pictures = [
        save_image(demo_art.render(kind, [(200, 80, 60), (60, 120, 200)], 0, kind, size=400))
        for kind in KINDS
    ]
    for n in range(8):
        parent = save_category(
            session, None, name=f"分类{n + 1}", parent_id=None, sort=n, icon_key=pictures[n]
        )
        for m in range(3):
            save_category(session, None, name=f"子类{n + 1}-{m + 1}", parent_id=parent.id)
    category_ids = list(session.scalars(select(Category.id).where(Category.parent_id.isnot(None))))
    session.execute(
        insert(Product),
        [
            {
                "title": f"压测商品 {n:05d} 新疆长绒棉纯色圆领T恤",
                "subtitle": "220g 重磅 不透不变形",
                "description": "面料：100% 棉\n可机洗\n七天无理由退换",
                "category_id": rng.choice(category_ids),
                "is_on_shelf": rng.random() < 0.9,
                "sort_weight": rng.randint(0, 100),
                "sales_count": rng.randint(0, 5000),
                "options": [{"name": "颜色", "values": COLORS}, {"name": "尺码", "values": SIZES}]
                if n % 2
                else [],
            }
            for n in range(products)
        ],
    )
    rows = session.execute(select(Product.id, Product.options)).all()
    skus, images = [], []
    for product_id, options in rows:
        combos = [[c, s] for c in COLORS for s in SIZES] if options else [[]]
        for position, combo in enumerate(combos):
            price = rng.randint(990, 29900)
            skus.append(
                {
                    "product_id": product_id,
                    "spec_values": combo,
                    "spec_key": spec_key(combo),
                    "price_fen": price,
                    "original_price_fen": price * 13 // 10 if position % 3 == 0 else None,
                    "stock": rng.randint(0, 300),
                    "position": position,
                    "is_active": True,
                }
            )
        for position in range(3):
            images.append({"product_id": product_id, "image_key": rng.choice(pictures), "position": position})
    session.execute(insert(Sku), skus)
    session.execute(insert(ProductImage), images)
    session.commit()
