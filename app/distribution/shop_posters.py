"""The whole-shop poster: the shop's logo and name, a few products on sale with their prices, and a QR code
of the shop's home page, drawn with the product posters' fonts, footer and picture box (posters.py).
Cached by what it shows (a hash of the link, the names, the products' versions and prices), so a request
draws nothing while the shop has not changed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import exists
from sqlalchemy.orm import Session

from app.catalog import services as catalog
from app.catalog.models import Product, Sku
from app.distribution import posters
from app.distribution.posters import GREY, INK, MARGIN, RED, WIDTH, drawable, font, wrap
from app.marketing import pricing
from app.money import format_fen, format_fen_range

if TYPE_CHECKING:
    from app.distribution.mini_program import MpCode

SHOWCASE_PRODUCTS = 4  # two rows of two
LOGO_SIDE = 110
GAP = 20
CELL_TEXT_HEIGHT = 98  # under each picture: the title and the price


@dataclass(frozen=True)
class ShowcaseItem:
    """One product on the poster: what is drawn for it."""

    product_id: int
    title: str
    price: str
    image_key: str | None
    version: str  # the product's updated_at: its picture may change without its key


def price_label(product: Product) -> str:
    """The product's price as the shop shows it (one price, or the range of its SKUs)."""
    low, high = pricing.display_range([sku.price_fen for sku in product.active_skus])
    return format_fen(low) if low == high else format_fen_range(low, high)


def showcase_items(session: Session, limit: int = SHOWCASE_PRODUCTS) -> list[ShowcaseItem]:
    """The first products on sale in the shop's own order (the merchant's weight, then the newest); one
    whose SKUs are all switched off has no price to show and gives its place to the next."""
    buyable = exists().where(Sku.product_id == Product.id, Sku.is_active)
    products = session.scalars(catalog.shop_products_query().where(buyable).limit(limit)).unique().all()
    return [
        ShowcaseItem(p.id, p.title, price_label(p), p.main_image_key, p.updated_at.isoformat())
        for p in products
        if p.active_skus
    ]


@dataclass(frozen=True)
class ShopPoster:
    """The merchant's whole-shop poster (no distributor: the plain shop link, no commission)."""

    shop_name: str
    share_url: str
    logo_key: str | None
    items: tuple[ShowcaseItem, ...]
    mp_code: MpCode | None = None  # the 小程序码 it carries instead of the link's QR code

    @property
    def path(self) -> Path:
        # Its words are drawn in the viewer's language: it is part of the key (as in posters.Poster.path).
        parts = [posters.POSTER_VERSION, "showcase", str(get_locale()), self.share_url, self.shop_name]
        parts.append(self.logo_key or "")
        parts.append(self.mp_code.key if self.mp_code is not None else "qr")
        for item in self.items:
            parts += [str(item.product_id), item.title, item.price, item.image_key or "", item.version]
        version = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]
        return Path(current_app.instance_path) / "posters" / "shop" / f"showcase-{version}.png"

    @property
    def version(self) -> str:
        return self.path.stem.rsplit("-", 1)[-1]

    def cached_png(self) -> Path:
        code_png = None
        if self.mp_code is not None:
            code_png = posters.code_image_or_none(self.mp_code)
            if code_png is None:  # WeChat failed: the poster carries the QR code, cached as such
                return replace(self, mp_code=None).cached_png()
        return posters.cached_file(self.path, "showcase-*.png", lambda: self.draw(code_png))

    def draw(self, code_png: bytes | None = None) -> bytes:
        from PIL import Image, ImageDraw

        canvas = Image.new("RGB", (posters.WIDTH, posters.HEIGHT), "white")
        draw = ImageDraw.Draw(canvas)
        top = MARGIN
        canvas.paste(posters.picture_box(self.logo_key, LOGO_SIDE), (MARGIN, top))
        name_left = MARGIN + LOGO_SIDE + 24
        name_width = WIDTH - MARGIN - name_left
        lines = wrap(self.shop_name, font(40, bold=True), name_width, max_lines=2)
        y = top + (LOGO_SIDE - 52 * len(lines)) // 2 - 6
        for line in lines:
            draw.text((name_left, y), line, font=font(40, bold=True), fill=INK)
            y += 52
        grid_top = top + LOGO_SIDE + 30
        items = self.items[:SHOWCASE_PRODUCTS]
        # One product fills the space, two share one row, three or four make two rows of two.
        cols, rows = (1, 1) if len(items) == 1 else (2, 1) if len(items) == 2 else (2, 2)
        width = (WIDTH - 2 * MARGIN - (cols - 1) * GAP) // cols
        room = posters.FOOTER_TOP - grid_top - GAP
        # Pictures are at most square (a product photo cut to a thin strip shows nothing); the grid is
        # centred in the room left between the name and the footer.
        row_height = min((room - (rows - 1) * GAP) // rows, width + CELL_TEXT_HEIGHT)
        grid_top += (room - rows * row_height - (rows - 1) * GAP) // 2
        for index, item in enumerate(items):
            left = MARGIN + (index % cols) * (width + GAP)
            row_top = grid_top + (index // cols) * (row_height + GAP)
            self._cell(canvas, draw, item, (left, row_top, width, row_height))
        if not self.items:
            draw.text((MARGIN, grid_top + 40), _("New products are on their way."), font=font(30), fill=GREY)
        posters.footer(
            canvas,
            self.share_url,
            _("Our picks for you"),
            self.shop_name,
            hint=_("Long-press the mini-program code to visit the shop")
            if code_png
            else _("Long-press to scan and visit the shop"),
            code_png=code_png,
        )
        return posters.png_bytes(canvas)

    @staticmethod
    def _cell(canvas, draw, item: ShowcaseItem, box: tuple[int, int, int, int]) -> None:
        """A product in its (left, top, width, height) box: its picture across the width, then its title
        on one line and its price."""
        left, top, width, height = box
        picture_height = height - CELL_TEXT_HEIGHT
        canvas.paste(posters.picture_box(item.image_key, width, picture_height, cover=True), (left, top))
        y = top + picture_height + 10
        for line in wrap(item.title, font(26), width, max_lines=1):
            draw.text((left, y), line, font=font(26), fill=INK)
        draw.text((left, y + 40), drawable(item.price), font=font(32, bold=True), fill=RED)
