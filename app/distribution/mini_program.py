"""Sharing inside the shop's WeChat mini-program: the `scene` that carries a distributor's code (and the
product) through a share or a 小程序码, the mini-program pages a share opens, and the 小程序码 itself
(wxacode.getUnlimited), cached on disk per distributor and product so it is asked of WeChat once.

The scene is WeChat's: at most 32 visible characters, handed to the page as options.scene (URL-encoded).
Ours is "r=CODE" (the shop home), "r=CODE&p=ID" (a product), "p=ID" (the merchant's own product code, no
distributor) or "home" (the merchant's shop code). The mini-program decodes it, or sends it as it is to
POST /api/v1/visits, where `decode_scene` reads it; a visit from it counts and binds exactly as `?ref=`
on an H5 page does (share_links.open_share_link)."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from flask import current_app
from sqlalchemy.orm import Session

from app.db_types import MAX_ID
from app.distribution.services import CODE_ALPHABET
from app.payments import wechat_mp
from app.payments.wechat_web import WechatApiError

log = logging.getLogger(__name__)

# The mini-program's pages a share opens: it must have both (README, "API").
HOME_PAGE = "pages/index/index"
PRODUCT_PAGE = "pages/product/index"

SCENE_MAX = 32
SHOP_SCENE = "home"  # the merchant's own shop code: no distributor, no product
CODE_MAX = 16  # as services.distributor_by_code reads a code
WXACODE_WIDTH = 430
_CODE_RE = re.compile(f"[{CODE_ALPHABET}]{{1,{CODE_MAX}}}")
_ID_RE = re.compile(r"[1-9][0-9]{0,9}")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Share:
    """What a scene says: whose share (None: the merchant's own) and which product (None: the shop)."""

    code: str | None
    product_id: int | None

    @property
    def page(self) -> str:
        return PRODUCT_PAGE if self.product_id is not None else HOME_PAGE

    @property
    def scene(self) -> str:
        return encode_scene(self.code, self.product_id)


def encode_scene(code: str | None, product_id: int | None = None) -> str:
    """The scene for a distributor's code (lower case, as codes are kept) and an optional product id.
    Raises ValueError for a code or id that no scene can carry."""
    parts = []
    if code is not None:
        code = code.lower()
        if not _CODE_RE.fullmatch(code):
            raise ValueError(f"not a share code: {code!r}")
        parts.append(f"r={code}")
    if product_id is not None:
        if isinstance(product_id, bool) or not isinstance(product_id, int) or not 0 < product_id <= MAX_ID:
            raise ValueError(f"not a product id: {product_id!r}")
        parts.append(f"p={product_id}")
    scene = "&".join(parts) or SHOP_SCENE
    assert len(scene) <= SCENE_MAX
    return scene


def decode_scene(scene: object) -> Share | None:
    """The share a scene carries, or None for anything that is not exactly what encode_scene makes (never
    raises): unknown or repeated keys, a code outside the alphabet, a product id that is not a plain
    positive number, too long."""
    if not isinstance(scene, str) or not 0 < len(scene) <= SCENE_MAX:
        return None
    if scene == SHOP_SCENE:
        return Share(None, None)
    values: dict[str, str] = {}
    for part in scene.split("&"):
        key, sep, value = part.partition("=")
        if not sep or key not in ("r", "p") or key in values:
            return None
        values[key] = value
    code, product = values.get("r"), values.get("p")
    if code is not None and not _CODE_RE.fullmatch(code):
        return None
    if product is not None and (not _ID_RE.fullmatch(product) or int(product) > MAX_ID):
        return None
    if list(values) not in (["r"], ["p"], ["r", "p"]):  # in encode_scene's order: one spelling per share
        return None
    return Share(code, int(product) if product is not None else None)


def share_path(code: str | None, product_id: int | None = None) -> str:
    """The path a mini-program share opens (onShareAppMessage's `path`): the page, with the scene as its
    query, so a share and a scanned 小程序码 reach the page with the same scene."""
    share = Share(code.lower() if code else None, product_id)
    return f"{share.page}?scene={quote(share.scene, safe='')}"


# ---------------------------------------------------------------- 小程序码


@dataclass(frozen=True)
class MpCode:
    """A 小程序码: which mini-program (appid), page and scene. What a poster carries when the shop has a
    mini-program; its `key` is part of the poster's cache key."""

    appid: str
    share: Share

    @property
    def key(self) -> str:
        return f"wxacode|{self.appid}|{self.share.page}|{self.share.scene}"

    @property
    def path(self) -> Path:
        """Where its image is cached: one folder per distributor (shop: the merchant's own)."""
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:16]
        what = f"p{self.share.product_id}" if self.share.product_id is not None else "home"
        owner = self.share.code or "shop"
        return Path(current_app.instance_path) / "wxacodes" / owner / f"{what}-{digest}.png"


class MiniProgramNotConfigured(WechatApiError):
    """The shop has no mini-program (AppID and AppSecret) on its payment settings page."""


def mp_code(session: Session, code: str | None, product_id: int | None = None) -> MpCode | None:
    """The 小程序码 for this share, or None when the shop has no mini-program (posters then carry the H5
    link's QR code)."""
    if not wechat_mp.configured(session):
        return None
    return MpCode(wechat_mp.appid(session), Share(code.lower() if code else None, product_id))


def wxacode_file(session: Session, code: MpCode) -> Path:
    """The 小程序码 image, from the cache or (once) from WeChat. Raises WechatApiError when WeChat cannot
    give it (nothing is cached then: the next request asks again)."""
    from app.distribution.posters import cached_file

    what = code.path.name.rsplit("-", 1)[0]

    def fetch() -> bytes:
        if not wechat_mp.configured(session):
            raise MiniProgramNotConfigured("the mini-program's appid and app secret are not set")
        image = wechat_mp.unlimited_wxacode(
            session, scene=code.share.scene, page=code.share.page, width=WXACODE_WIDTH
        )
        return checked_png(image)

    return cached_file(code.path, f"{what}-*.png", fetch)


WXACODE_MAX_SIDE = 2 * 1280  # WeChat draws at most 1280 wide (a little taller with the logo); we ask 430


def checked_png(image: bytes) -> bytes:
    """The 小程序码 as a whole, sensibly sized PNG, or WechatApiError: an answer that starts like a PNG but
    is cut short or garbage, or is a picture far larger than a 小程序码, is never cached or drawn on a
    poster. WeChat may answer a JPEG: kept (and served) as PNG, like every other picture of a share."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(image)) as picture:
            width, height = picture.size
            if not (0 < width <= WXACODE_MAX_SIDE and 0 < height <= WXACODE_MAX_SIDE):
                raise WechatApiError(f"the 小程序码 WeChat sent is {width}×{height}")
            picture.load()  # the whole picture decodes: not cut short, not garbage after the header
            if image.startswith(PNG_MAGIC):
                return image
            out = io.BytesIO()
            picture.convert("RGB").save(out, "PNG")
            return out.getvalue()
    except WechatApiError:
        raise
    except Exception:  # Pillow raises OSError, SyntaxError, ValueError... for a broken picture
        raise WechatApiError("the 小程序码 WeChat sent is not a usable picture") from None


def wxacode_or_none(session: Session, code: MpCode) -> bytes | None:
    """For a poster: the 小程序码's bytes, or None (logged) when WeChat fails — the poster then carries
    the QR code of the H5 link instead, and never fails because of WeChat."""
    try:
        path = wxacode_file(session, code)
        try:
            return checked_png(path.read_bytes())
        except WechatApiError:  # damaged in the cache: dropped, so the next poster asks WeChat again
            path.unlink(missing_ok=True)
            raise
    except (WechatApiError, OSError) as error:
        log.warning("no 小程序码 for the poster, the QR code instead: %s", error)
        return None
