"""Helpers for the browser tests: a believable shop to look at, and layout checks run in the page."""

import io

from PIL import Image, ImageDraw

from app.accounts import services as accounts
from app.catalog import services as catalog
from app.catalog.services import ProductInput, SkuInput
from app.extensions import db
from app.media import save_image
from app.settings.services import update_shop_settings

SHOPPER_MOBILE = "13900000001"
SHOPPER_PASSWORD = "abc12345"
COLOURS = ["#e76f51", "#2a9d8f", "#e9c46a", "#264653", "#f4a261", "#8ab17d", "#b5838d", "#6d597a"]


def picture(colour: str, size: int = 800) -> str:
    """A stored product-like picture (a plate on a coloured ground), drawn without network."""
    image = Image.new("RGB", (size, size), colour)
    draw = ImageDraw.Draw(image)
    draw.ellipse((size * 0.18, size * 0.18, size * 0.82, size * 0.82), fill="#ffffff")
    draw.rounded_rectangle(
        (size * 0.36, size * 0.36, size * 0.64, size * 0.64), radius=size // 20, fill=colour
    )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return save_image(out.getvalue())


def product(title: str, *, options=None, skus, images=0, colour=0, **fields):
    """save_product with SKU rows given as (values, price_fen, stock[, original_price_fen])."""
    rows = [
        SkuInput(
            spec_values=list(values), price_fen=price, stock=stock, original_price_fen=(rest or [None])[0]
        )
        for values, price, stock, *rest in skus
    ]
    keys = [picture(COLOURS[(colour + n) % len(COLOURS)]) for n in range(images)]
    fields.setdefault("is_on_shelf", True)
    saved = catalog.save_product(
        db.session,
        None,
        ProductInput(title=title, options=options or [], skus=rows, image_keys=keys, **fields),
    )
    db.session.commit()
    return saved


def t_shirt(category_id=None):
    """颜色 红/蓝 × 尺寸 M/L; 红 / L is sold out."""
    return product(
        "纯棉圆领T恤",
        subtitle="新疆长绒棉 亲肤透气",
        description="【面料】100% 新疆长绒棉\n【洗涤】30℃ 以下水洗，请勿漂白\n\n由于拍摄光线不同，图片可能存在轻微色差。",
        options=[{"name": "颜色", "values": ["红", "蓝"]}, {"name": "尺寸", "values": ["M", "L"]}],
        skus=[
            (["红", "M"], 5900, 3, 7900),
            (["红", "L"], 6900, 0, 8900),
            (["蓝", "M"], 5900, 7, 7900),
            (["蓝", "L"], 6900, 5, 8900),
        ],
        images=3,
        colour=0,
        category_id=category_id,
    )


def seed_shop() -> dict:
    """Shop settings, categories (with and without icons and sub-categories) and products in every
    state the pages must handle: long titles, no pictures, many SKUs, sold out, off shelf."""
    session = db.session
    update_shop_settings(
        session,
        name="小满好物",
        service_phone="400-820-8820",
        announcement="全场满 99 元包邮，今日下单明天发货。春节期间（2 月 8 日至 2 月 17 日）暂停发货，敬请谅解。",
        logo_key=picture("#fa5151", 200),
    )
    categories = {}
    for sort, (name, children, icon) in enumerate(
        [
            ("服饰", ["T恤", "外套"], True),
            ("鞋靴", [], True),
            ("美妆护肤", ["面霜"], True),
            ("家居日用", [], False),
            ("食品生鲜", ["水果"], True),
            ("数码配件", [], True),
        ]
    ):
        icon_key = picture(COLOURS[sort], 200) if icon else None
        top = catalog.save_category(session, None, name=name, parent_id=None, sort=sort, icon_key=icon_key)
        categories[name] = top
        for child_sort, child in enumerate(children):
            categories[child] = catalog.save_category(
                session, None, name=child, parent_id=top.id, sort=child_sort
            )
    session.commit()
    shirt = t_shirt(categories["T恤"].id)
    long_title = product(
        "【官方旗舰店正品】2024 新款春夏季男女同款超轻透气减震防滑耐磨运动休闲跑步鞋子",
        subtitle="轻至 220 克，全天舒适",
        options=[{"name": "尺码", "values": [str(size) for size in range(35, 46)]}],
        skus=[([str(size)], 29900, 0 if size == 40 else 8, 39900) for size in range(35, 46)],
        images=2,
        colour=3,
        category_id=categories["鞋靴"].id,
    )
    many = product(
        "丝绒哑光口红",
        options=[
            {
                "name": "色号",
                "values": [f"色号 {n:02d} 号经典正红" if n == 1 else f"色号{n:02d}" for n in range(1, 13)],
            },
            {"name": "规格", "values": ["标准装", "礼盒装（含手提袋）"]},
        ],
        skus=[
            ([f"色号 {n:02d} 号经典正红" if n == 1 else f"色号{n:02d}", size], 12900 + 3000 * s, n % 5)
            for n in range(1, 13)
            for s, size in enumerate(["标准装", "礼盒装（含手提袋）"])
        ],
        images=1,
        colour=6,
        category_id=categories["美妆护肤"].id,
    )
    no_picture = product(
        "北欧简约陶瓷马克杯", skus=[([], 3900, 25)], category_id=categories["家居日用"].id, description=""
    )
    sold_out = product(
        "赣南脐橙 5 斤装",
        options=[{"name": "规格", "values": ["5 斤装", "10 斤装"]}],
        skus=[(["5 斤装"], 3990, 0), (["10 斤装"], 6990, 0)],
        images=1,
        colour=4,
        category_id=categories["水果"].id,
    )
    off_shelf = product("已下架的保温杯", skus=[([], 9900, 5)], images=1, is_on_shelf=False)
    for n in range(22):
        product(
            f"每日坚果 {n + 1} 号 混合果仁 30 袋装",
            skus=[([], 5990 + n * 100, 50)],
            images=1 if n % 4 else 0,
            colour=n,
            category_id=categories["食品生鲜"].id,
        )
    accounts.register_user(session, mobile=SHOPPER_MOBILE, password=SHOPPER_PASSWORD, nickname="小王")
    session.commit()
    return {
        "categories": categories,
        "shirt": shirt,
        "long_title": long_title,
        "many": many,
        "no_picture": no_picture,
        "sold_out": sold_out,
        "off_shelf": off_shelf,
    }


# Runs in the page: what a person on a phone would notice is wrong with the layout.
LAYOUT_PROBLEMS_JS = """
() => {
  const problems = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth) {
    problems.push(`scrolls sideways: ${doc.scrollWidth}px wide on a ${window.innerWidth}px screen`);
  }
  const targets = "a[href], button, select, textarea, label.sku-value > span, label.avatar-field__pick, " +
    "input:not([type=hidden]):not([type=radio]):not([type=checkbox]):not([type=file])";
  for (const el of document.querySelectorAll(targets)) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || getComputedStyle(el).visibility === "hidden") continue;
    if (el.closest("[hidden]")) continue;
    if (box.height < 40 || box.width < 40) {
      problems.push(`tap target ${Math.round(box.width)}×${Math.round(box.height)} px: ` +
                    el.outerHTML.replace(/\\s+/g, " ").slice(0, 100));
    }
  }
  const bar = document.querySelector(".shop-tabbar, .action-bar");
  if (bar) {
    window.scrollTo({top: doc.scrollHeight, behavior: "instant"});
    const content = document.querySelector("main.page").getBoundingClientRect();
    const barTop = bar.getBoundingClientRect().top;
    if (content.bottom > barTop + 1) {
      problems.push(`the bottom bar covers ${Math.round(content.bottom - barTop)} px of the page`);
    }
    window.scrollTo({top: 0, behavior: "instant"});
  }
  return problems;
}
"""


def layout_problems(page) -> list[str]:
    # Measured once the page's stylesheets have loaded: on a busy machine an assertion on the new page's
    # text can pass while a stylesheet is still on its way, and boxes would be measured unstyled.
    page.wait_for_load_state("load")
    return page.evaluate(LAYOUT_PROBLEMS_JS)


def log_in(page, base_url: str, mobile: str = SHOPPER_MOBILE, password: str = SHOPPER_PASSWORD) -> None:
    page.goto(base_url + "/login")
    page.fill("#mobile", mobile)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/me")
