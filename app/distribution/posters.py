"""Share posters: a PNG with the product picture, title, price, the distributor's name and a QR code of
their share link (or, when the shop has a mini-program, the 小程序码 of the same share: mini_program.py), for WeChat's long-press "save image". Chinese is drawn with the Noto Sans SC subset in
static/fonts, so it renders on a fresh machine. Posters are cached per distributor, product and version.
The merchant's own posters (distributor None: the shop recommends, the link carries no ref) are the same
drawing, cached under posters/shop/; the whole-shop poster with a few products is in shop_posters.py.
Pillow and qrcode load with the first poster drawn, not in every worker."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _

from app import storage
from app.catalog.models import Product
from app.distribution.models import Distributor
from app.marketing import pricing
from app.media import thumbnail_key
from app.money import format_fen, format_fen_range

if TYPE_CHECKING:
    from PIL import Image, ImageFont

    from app.distribution.mini_program import MpCode

WIDTH, HEIGHT = 750, 1200
MARGIN = 40
RED = (230, 45, 45)
INK = (33, 33, 33)
GREY = (136, 136, 136)
POSTER_VERSION = "2"  # bump when the layout changes, so old cached posters are not served


@lru_cache(maxsize=8)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    from PIL import ImageFont

    name = "NotoSansSC-Bold-GB2312.otf" if bold else "NotoSansSC-Regular-GB2312.otf"
    return ImageFont.truetype(str(Path(current_app.static_folder) / "fonts" / name), size)


@dataclass(frozen=True)
class Poster:
    """A distributor's poster for a product, or (product None) for the whole shop with its logo. With
    distributor None it is the merchant's own poster: the shop recommends, the link is the plain one."""

    distributor: Distributor | None
    product: Product | None
    shop_name: str
    share_url: str
    logo_key: str | None = None
    mp_code: MpCode | None = None  # the 小程序码 it carries instead of the link's QR code

    @property
    def path(self) -> Path:
        """Where the poster for this distributor, product and product version is (or will be) cached."""
        product = self.product
        # The words drawn ("… recommends", the hint) are in the viewer's language: it is part of the key.
        parts = [POSTER_VERSION, str(get_locale()), self.share_url, self.recommender, self.shop_name]
        parts.append(self.logo_key or "")
        parts.append(self.mp_code.key if self.mp_code is not None else "qr")
        if product is not None:
            low, high = pricing.display_range([sku.price_fen for sku in product.active_skus])
            parts += [
                str(product.id),
                product.updated_at.isoformat(),
                product.title,
                str(low),
                str(high),
                product.main_image_key or "",
            ]
        version = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]
        name = f"product-{product.id}-{version}.png" if product is not None else f"shop-{version}.png"
        owner = str(self.distributor.id) if self.distributor is not None else "shop"
        return Path(current_app.instance_path) / "posters" / owner / name

    @property
    def recommender(self) -> str:
        """Who recommends: the distributor's name, or the shop itself on the merchant's poster."""
        return self.distributor.user.display_name if self.distributor is not None else self.shop_name

    def cached_png(self) -> Path:
        """The cached poster PNG, drawn first if this version is not there yet."""
        code_png = None
        if self.mp_code is not None:
            code_png = code_image_or_none(self.mp_code)
            if code_png is None:  # WeChat failed: the poster carries the QR code, cached as such
                return replace(self, mp_code=None).cached_png()
        old = f"product-{self.product.id}-*.png" if self.product else "shop-*.png"
        return cached_file(
            self.path,
            old,
            lambda: draw_poster(
                self.recommender,
                self.product,
                shop_name=self.shop_name,
                share_url=self.share_url,
                logo_key=self.logo_key,
                code_png=code_png,
            ),
        )


def code_image_or_none(mp_code: MpCode) -> bytes | None:
    """The 小程序码's image for a poster, or None (logged) when WeChat cannot give it."""
    from app.distribution import mini_program
    from app.extensions import db

    return mini_program.wxacode_or_none(db.session, mp_code)


def cached_file(path: Path, old_pattern: str, draw) -> Path:
    """`path`, written with `draw()` if it is not there yet; older versions (`old_pattern` in the same
    folder) are removed. Written to a temporary file of its own (two threads or processes may draw the
    same poster at once) and renamed, so no reader sees half a PNG."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob(old_pattern):
            if old != path:  # another request may have just written this very version
                old.unlink(missing_ok=True)  # an older version of the same poster
        png = draw()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(png)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def draw_poster(
    nickname: str,
    product: Product | None,
    *,
    shop_name: str,
    share_url: str,
    logo_key: str | None = None,
    price: str | None = None,
    caption: str | None = None,
    code_png: bytes | None = None,
) -> bytes:
    """The poster PNG. `price` and `caption` replace the product's price range and "… recommends" (a 拼团
    poster shows the group price and invites to the group)."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(canvas)
    picture_side = WIDTH - 2 * MARGIN
    top = MARGIN
    picture = picture_box(product.main_image_key if product is not None else logo_key, picture_side)
    canvas.paste(picture, (MARGIN, top))
    y = top + picture_side + 28

    if product is not None:
        if price is None:
            low, high = pricing.display_range([sku.price_fen for sku in product.active_skus])
            price = format_fen(low) if low == high else format_fen_range(low, high)
        draw.text((MARGIN, y), drawable(price), font=font(52, bold=True), fill=RED)
        y += 78
        for line in wrap(product.title, font(34, bold=True), picture_side, max_lines=2):
            draw.text((MARGIN, y), line, font=font(34, bold=True), fill=INK)
            y += 48
    else:
        for line in wrap(shop_name, font(44, bold=True), picture_side, max_lines=2):
            draw.text((MARGIN, y), line, font=font(44, bold=True), fill=INK)
            y += 60

    caption = caption or _("%(name)s recommends", name=nickname)
    footer(canvas, share_url, caption, shop_name, code_png=code_png)
    return png_bytes(canvas)


FOOTER_TOP = HEIGHT - MARGIN - 200 - 24  # where the footer's rule is: the poster's body ends above it


def footer(
    canvas: Image.Image,
    share_url: str,
    caption: str,
    shop_name: str,
    hint: str | None = None,
    *,
    code_png: bytes | None = None,
) -> None:
    """The bottom of every poster: a rule, the caption and a hint on the left, the QR code on the right
    (the 小程序码 `code_png` instead, when there is one)."""
    from PIL import ImageDraw

    draw = ImageDraw.Draw(canvas)
    qr_side = 200
    qr_top = HEIGHT - MARGIN - qr_side
    draw.line((MARGIN, qr_top - 24, WIDTH - MARGIN, qr_top - 24), fill=(235, 235, 235), width=2)
    code = code_picture(code_png, qr_side) if code_png else _qr(share_url, qr_side)
    canvas.paste(code, (WIDTH - MARGIN - qr_side, qr_top))
    if hint is None:
        hint = _("Long-press to open the mini-program") if code_png else _("Long-press to scan and buy")
    text_width = WIDTH - 3 * MARGIN - qr_side
    line_y = qr_top + 20
    for line in wrap(caption, font(30, bold=True), text_width, max_lines=2):
        draw.text((MARGIN, line_y), line, font=font(30, bold=True), fill=INK)
        line_y += 44
    draw.text((MARGIN, line_y + 8), hint, font=font(26), fill=GREY)
    draw.text((MARGIN, line_y + 52), drawable(shop_name)[:16], font=font(24), fill=GREY)


def png_bytes(canvas: Image.Image) -> bytes:
    out = io.BytesIO()
    canvas.save(out, "PNG", optimize=True)
    return out.getvalue()


def drawable(text: str) -> str:
    """Keep what the bundled font can draw (ASCII, GB2312, CJK punctuation): an emoji or a rare
    character in a nickname would otherwise print as an empty box."""
    return "".join(ch for ch in text if _in_font(ch))


_EXTRA_GLYPHS = frozenset("¥·—…“”‘’")


def _in_font(ch: str) -> bool:
    if ch in _EXTRA_GLYPHS or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef":
        return True
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def wrap(text: str, face: ImageFont.FreeTypeFont, width: int, *, max_lines: int) -> list[str]:
    """Break Chinese (and mixed) text by measured width; the last line ends with … when cut."""
    lines, current = [], ""
    for char in drawable(text):
        if face.getlength(current + char) > width:
            lines.append(current)
            current = char
            if len(lines) == max_lines:
                break
        else:
            current += char
    else:
        if current:
            lines.append(current)
        return lines[:max_lines]
    last = lines[max_lines - 1]
    while last and face.getlength(last + "…") > width:
        last = last[:-1]
    lines[max_lines - 1] = last + "…"
    return lines[:max_lines]


def picture_box(key: str | None, side: int, height: int | None = None, *, cover: bool = False) -> Image.Image:
    """The product's main picture (or the shop's logo), centred on a light square (or a side × height box);
    `cover` fills the box instead, cutting what sticks out."""
    from PIL import Image, ImageOps

    box = (side, height or side)
    if key:
        # From the media storage (a bucket is asked over the network): a StorageError goes up, so that no
        # poster is cached without its picture.
        data = storage.current().get(thumbnail_key(key, 800))
        if data is not None:
            with Image.open(io.BytesIO(data)) as image:
                picture = image.convert("RGB")
                if cover:
                    return ImageOps.fit(picture, box)
                picture.thumbnail(box)
                square = Image.new("RGB", box, (245, 245, 245))
                square.paste(picture, ((box[0] - picture.width) // 2, (box[1] - picture.height) // 2))
                return square
    return Image.new("RGB", box, (245, 245, 245))


def _qr(url: str, side: int) -> Image.Image:
    import qrcode

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=1, box_size=10)
    code.add_data(url)
    code.make(fit=True)
    return (
        code.make_image(fill_color="black", back_color="white")
        .get_image()
        .convert("RGB")
        .resize((side, side))
    )


def code_picture(png: bytes, side: int) -> Image.Image:
    """A 小程序码 image, side × side."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return image.convert("RGB").resize((side, side))


def qr_png(url: str, side: int = 360) -> bytes:
    """A plain QR code of a share link (the "QR code" share tool)."""
    out = io.BytesIO()
    _qr(url, side).save(out, "PNG")
    return out.getvalue()
