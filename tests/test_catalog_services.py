"""Catalog rules: SKU combinations, saving products with their SKUs, stock that never goes below zero,
the shelf, and what the shop may show."""

import pytest
from sqlalchemy import select

from app.catalog import services as catalog
from app.catalog.forms import split_option_values
from app.catalog.models import Product, Sku
from app.catalog.services import CatalogError, ProductInput, SkuInput
from tests import factories

COLOUR_SIZE = [{"name": "颜色", "values": ["红", "蓝"]}, {"name": "尺寸", "values": ["M", "L"]}]


def two_by_two_skus(price_fen=9900, stock=10):
    return [
        SkuInput(spec_values=combo, price_fen=price_fen, stock=stock)
        for combo in catalog.generate_combinations(COLOUR_SIZE)
    ]


def save_tshirt(session, product=None, **changes):
    data = ProductInput(
        title="纯棉圆领T恤",
        options=COLOUR_SIZE,
        skus=two_by_two_skus(),
        is_on_shelf=True,
    )
    for name, value in changes.items():
        setattr(data, name, value)
    product = catalog.save_product(session, product, data)
    session.commit()
    return product


# ---------------------------------------------------------------- combinations (no database)


def test_two_by_two_options_give_four_combinations_in_order():
    assert catalog.generate_combinations(catalog.clean_options(COLOUR_SIZE)) == [
        ["红", "M"],
        ["红", "L"],
        ["蓝", "M"],
        ["蓝", "L"],
    ]


def test_a_product_without_options_has_one_default_combination():
    assert catalog.generate_combinations(catalog.clean_options([])) == [[]]


def test_duplicate_option_values_are_collapsed():
    options = catalog.clean_options([{"name": "颜色", "values": ["红", " 红 ", "蓝", "红"]}])
    assert options == [{"name": "颜色", "values": ["红", "蓝"]}]
    assert len(catalog.generate_combinations(options)) == 2


def test_empty_option_rows_are_dropped():
    assert catalog.clean_options([{"name": "", "values": []}, {"name": " ", "values": [" "]}]) == []


def test_too_many_combinations_are_refused():
    axes = [{"name": f"规格{n}", "values": [str(v) for v in range(7)]} for n in range(3)]  # 7³ = 343
    with pytest.raises(CatalogError) as refused:
        catalog.clean_options(axes)
    assert refused.value.field == "options"
    assert "200" in str(refused.value.message)


@pytest.mark.parametrize(
    "axes",
    [
        [{"name": "颜色", "values": []}],
        [{"name": "", "values": ["红"]}],
        [{"name": "颜色", "values": ["红"]}, {"name": "颜色", "values": ["M"]}],
        [{"name": f"规格{n}", "values": ["a"]} for n in range(4)],
        [{"name": "颜色", "values": ["x" * 21]}],
    ],
    ids=["no values", "no name", "same name twice", "four axes", "value too long"],
)
def test_unusable_options_are_refused(axes):
    with pytest.raises(CatalogError):
        catalog.clean_options(axes)


@pytest.mark.parametrize(
    ("typed", "values"),
    [
        ("红,蓝", ["红", "蓝"]),
        ("红，蓝、白", ["红", "蓝", "白"]),
        ("S M  L", ["S", "M", "L"]),
        ("红\n蓝\r\n白", ["红", "蓝", "白"]),
        ("  ", []),
    ],
)
def test_option_values_can_be_typed_with_any_common_separator(typed, values):
    assert split_option_values(typed) == values


# ---------------------------------------------------------------- saving products


def test_saving_a_product_with_two_by_two_options_makes_four_skus(session):
    product = save_tshirt(session)
    session.expire_all()
    skus = session.scalars(select(Sku).where(Sku.product_id == product.id).order_by(Sku.position)).all()
    assert [sku.spec_values for sku in skus] == [["红", "M"], ["红", "L"], ["蓝", "M"], ["蓝", "L"]]
    assert all(sku.is_active and sku.price_fen == 9900 and sku.stock == 10 for sku in skus)


def test_changing_options_keeps_sku_ids_and_deactivates_dropped_combinations(session):
    product = save_tshirt(session)
    ids = {tuple(sku.spec_values): sku.id for sku in product.skus}
    options = [{"name": "颜色", "values": ["红"]}, {"name": "尺寸", "values": ["M", "L", "XL"]}]
    skus = [
        SkuInput(spec_values=combo, price_fen=9900, stock=5)
        for combo in catalog.generate_combinations(options)
    ]
    save_tshirt(session, product, options=options, skus=skus)
    session.expire_all()
    by_values = {tuple(sku.spec_values): sku for sku in session.get(Product, product.id).skus}
    assert by_values[("红", "M")].id == ids[("红", "M")]
    assert by_values[("红", "L")].id == ids[("红", "L")]
    assert by_values[("蓝", "M")].is_active is False
    assert by_values[("蓝", "L")].is_active is False
    assert by_values[("红", "XL")].is_active is True
    assert [sku.spec_values for sku in session.get(Product, product.id).active_skus] == [
        ["红", "M"],
        ["红", "L"],
        ["红", "XL"],
    ]


def test_a_code_of_another_product_is_refused_and_points_at_the_row(session):
    factories.ProductFactory(skus=[{"price_fen": 100, "code": "TS-001"}])
    skus = two_by_two_skus()
    skus[2].code = "TS-001"
    with pytest.raises(CatalogError) as refused:
        catalog.save_product(session, None, ProductInput(title="新T恤", options=COLOUR_SIZE, skus=skus))
    session.rollback()
    assert (refused.value.field, refused.value.row, refused.value.row_field) == ("skus", 2, "code")
    assert session.scalar(select(Product).where(Product.title == "新T恤")) is None


def test_a_missing_combination_is_refused(session):
    with pytest.raises(CatalogError) as refused:
        catalog.save_product(
            session, None, ProductInput(title="缺规格", options=COLOUR_SIZE, skus=two_by_two_skus()[:3])
        )
    session.rollback()
    assert refused.value.field == "skus"


def test_an_unknown_category_is_refused(session):
    with pytest.raises(CatalogError) as refused:
        catalog.save_product(
            session,
            None,
            ProductInput(title="无分类", category_id=999_999, skus=[SkuInput([], price_fen=100, stock=1)]),
        )
    session.rollback()
    assert refused.value.field == "category_id"


def test_editing_stock_in_the_form_applies_the_difference_to_what_is_in_stock_now(session):
    product = save_tshirt(session)
    first = product.skus[0]
    catalog.adjust_stock(session, first.id, -3)  # a shopper buys 3 while the merchant edits
    session.commit()
    skus = two_by_two_skus()
    for row in skus:
        row.stock_seen = 10
    skus[0].stock = 15  # the merchant saw 10 and typed 15: five more units arrived
    save_tshirt(session, product, skus=skus)
    session.expire_all()
    assert session.get(Sku, first.id).stock == 12


# ---------------------------------------------------------------- stock


def test_stock_never_goes_below_zero(session):
    sku = factories.ProductFactory(skus__stock=2).skus[0]
    with pytest.raises(CatalogError):
        catalog.adjust_stock(session, sku.id, -3)
    session.rollback()
    with pytest.raises(CatalogError):
        catalog.set_stock(session, sku.id, new_stock=-1, seen_stock=2)
    session.rollback()
    assert session.get(Sku, sku.id).stock == 2


def test_set_stock_keeps_a_sale_made_meanwhile(session):
    sku = factories.ProductFactory(skus__stock=10).skus[0]
    catalog.adjust_stock(session, sku.id, -3)  # a sale takes 3 after the merchant saw 10
    assert catalog.set_stock(session, sku.id, new_stock=15, seen_stock=10) == 12
    session.commit()
    session.expire_all()
    assert session.get(Sku, sku.id).stock == 12


def test_set_stock_refuses_when_sales_leave_too_little_to_take_away(session):
    sku = factories.ProductFactory(skus__stock=10).skus[0]
    catalog.adjust_stock(session, sku.id, -9)
    with pytest.raises(CatalogError):
        catalog.set_stock(session, sku.id, new_stock=0, seen_stock=10)  # would be 1 - 10
    session.rollback()
    assert session.get(Sku, sku.id).stock == 10


def test_huge_stock_is_refused(session):
    sku = factories.ProductFactory(skus__stock=1).skus[0]
    with pytest.raises(CatalogError):
        catalog.set_stock(session, sku.id, new_stock=catalog.MAX_STOCK + 1, seen_stock=1)


# ---------------------------------------------------------------- shelf and shop queries


def test_change_shelf_counts_products_that_cannot_go_on_shelf(session):
    sellable = factories.ProductFactory(is_on_shelf=False)
    no_sku = factories.ProductFactory(is_on_shelf=False, skus=[])
    retired = factories.ProductFactory(is_on_shelf=False, skus=[{"price_fen": 100, "is_active": False}])
    result = catalog.change_shelf(session, [sellable.id, no_sku.id, retired.id], True)
    session.commit()
    assert (result.changed, result.refused) == (1, 2)
    session.expire_all()
    assert session.get(Product, sellable.id).is_on_shelf
    assert not session.get(Product, no_sku.id).is_on_shelf


def test_off_shelf_products_are_not_in_shop_queries(session):
    on = factories.ProductFactory(title="上架的杯子")
    off = factories.ProductFactory(title="下架的杯子", is_on_shelf=False)
    found = session.scalars(catalog.shop_products_query(q="杯子")).all()
    assert [p.id for p in found] == [on.id]
    assert catalog.get_shop_product(session, off.id) is None


def test_admin_search_finds_products_by_sku_code(session):
    target = factories.ProductFactory(title="马克杯", skus=[{"price_fen": 100, "code": "MUG-42"}])
    factories.ProductFactory(title="别的东西")
    found = session.scalars(catalog.admin_products_query(q="mug-4")).all()
    assert [p.id for p in found] == [target.id]


def test_admin_category_filter_includes_sub_categories(session):
    clothing = factories.CategoryFactory(name="服装")
    shirts = factories.CategoryFactory(name="T恤", parent=clothing)
    shirt = factories.ProductFactory(category=shirts)
    factories.ProductFactory()
    found = session.scalars(catalog.admin_products_query(category_id=clothing.id)).all()
    assert [p.id for p in found] == [shirt.id]


def test_category_with_children_or_products_cannot_be_deleted(session):
    clothing = factories.CategoryFactory(name="服装")
    shirts = factories.CategoryFactory(name="T恤", parent=clothing)
    factories.ProductFactory(category=shirts)
    session.refresh(clothing)
    with pytest.raises(CatalogError):
        catalog.delete_category(session, clothing)
    with pytest.raises(CatalogError) as refused:
        catalog.delete_category(session, shirts)
    assert "1" in str(refused.value.message)
