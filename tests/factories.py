"""factory-boy factories for test data, bound to the test's session by conftest."""

import itertools
from datetime import timedelta

import factory
from factory.alchemy import SQLAlchemyModelFactory

from app.accounts.models import User
from app.catalog.models import Category, Product, ProductImage, Sku
from app.catalog.services import spec_key
from app.marketing import campaigns
from app.orders.models import Address
from app.timeutil import utcnow

DEFAULT_PASSWORD = "secret123"
# Made-up numbers far from the ones tests pick by hand (13900000001 is the browser tests' shopper): one test
# session hands out hundreds, and a collision fails whichever test comes later.
_mobiles = itertools.count(13988000000)


class _Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_persistence = "commit"

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        # Post-generation hooks (passwords, SKUs) change the object after the first commit.
        if create:
            cls._meta.sqlalchemy_session.commit()


class UserFactory(_Base):
    class Meta:
        model = User

    mobile = factory.LazyFunction(lambda: str(next(_mobiles)))
    nickname = factory.Sequence(lambda n: f"用户{n}")
    role = "customer"

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or DEFAULT_PASSWORD)


class CategoryFactory(_Base):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"分类{n}")
    sort = 0


class ProductFactory(_Base):
    class Meta:
        model = Product

    title = factory.Sequence(lambda n: f"测试商品{n}")
    subtitle = "好物推荐"
    description = "第一行\n第二行"
    is_on_shelf = True
    options = factory.LazyFunction(list)

    @factory.post_generation
    def skus(obj, create, extracted, **kwargs):
        """A default SKU unless given: ProductFactory(skus=[dict(price_fen=…, stock=…), …])."""
        rows = (
            extracted
            if extracted is not None
            else [{"price_fen": kwargs.get("price_fen", 9900), "stock": kwargs.get("stock", 10)}]
        )
        for position, row in enumerate(rows):
            values = row.get("spec_values", [])
            obj.skus.append(
                Sku(
                    spec_values=values,
                    spec_key=spec_key(values),
                    price_fen=row["price_fen"],
                    original_price_fen=row.get("original_price_fen"),
                    stock=row.get("stock", 10),
                    code=row.get("code"),
                    position=position,
                    is_active=row.get("is_active", True),
                )
            )


class ProductImageFactory(_Base):
    class Meta:
        model = ProductImage

    image_key = "00/00000000000000000000000000000000.jpg"
    position = 0


class AddressFactory(_Base):
    class Meta:
        model = Address

    user_id = factory.LazyAttribute(lambda o: o.user.id)
    recipient = "张三"
    mobile = "13812345678"
    province = "广东省"
    city = "深圳市"
    district = "南山区"
    detail = "科技园路 1 号"
    is_default = True

    class Params:
        user = None


FACTORIES = [UserFactory, CategoryFactory, ProductFactory, ProductImageFactory, AddressFactory]


def bind(session) -> None:
    for factory_class in FACTORIES:
        factory_class._meta.sqlalchemy_session = session


def running_discount(session, *items, name="限时", ends_in=timedelta(hours=1), **fields):
    """A 限时折扣 on `items` (campaigns.ItemDraft) that began an hour ago and ends `ends_in` from now."""
    return campaigns.save_timed_discount(session, None, _running(name, ends_in, items=list(items), **fields))


def running_reduction(session, *tiers, name="满减", ends_in=timedelta(hours=1), **fields):
    """A 满减 on the whole shop with `tiers` (campaigns.TierDraft), begun an hour ago, ending `ends_in` from
    now."""
    fields = {"scope_kind": "all", **fields}
    return campaigns.save_full_reduction(session, None, _running(name, ends_in, tiers=list(tiers), **fields))


def _running(name: str, ends_in: timedelta, **fields) -> dict:
    now = utcnow()
    return {"name": name, "starts_at": now - timedelta(hours=1), "ends_at": now + ends_in, **fields}
