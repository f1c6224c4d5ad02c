"""Uploaded images: checked to be real JPEG/PNG/WebP pictures, re-encoded without EXIF, stored under
content-hash names with 400 px and 800 px thumbnails (each also in WebP, which phones take at about two
thirds of the bytes), and served with long cache headers. Pillow loads with the first upload, not in every
worker: showing a picture only needs its URL."""

from __future__ import annotations

import hashlib
import io
import secrets
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Blueprint, current_app, send_from_directory, url_for
from flask_babel import lazy_gettext as _l

if TYPE_CHECKING:
    from PIL import Image

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}
THUMBNAIL_SIZES = (400, 800)
MAX_PIXELS = 40_000_000  # a 40-megapixel photo is already more than any phone takes
MAX_SIDE = 8000

bp = Blueprint("media", __name__)


class ImageError(ValueError):
    """Why an upload was refused, in a sentence the merchant can act on."""


def save_image(data: bytes | object, *, max_bytes: int | None = None) -> str:
    """Check, clean and store an uploaded image; return its key (e.g. "3f/3f9a….jpg")."""
    from PIL import Image

    raw = _read_limited(data, max_bytes or current_app.config["MAX_IMAGE_BYTES"])
    image = _open_checked(raw)
    encoded, ext = _encode(image)
    digest = hashlib.sha256(encoded).hexdigest()[:32]
    key = f"{digest[:2]}/{digest}.{ext}"
    folder = Path(current_app.config["UPLOAD_FOLDER"])
    target = folder / key
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        for size in THUMBNAIL_SIZES:
            thumb = image.copy()
            thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
            _write_atomic(folder / thumbnail_key(key, size), _encode(thumb, ext)[0])
            _write_atomic(folder / thumbnail_key(key, size, "webp"), _webp(thumb))
        _write_atomic(target, encoded)
    return key


def thumbnail_key(key: str, size: int, ext: str | None = None) -> str:
    stem, _dot, own = key.rpartition(".")
    return f"{stem}_{size}.{ext or own}"


def image_srcset(key: str | None, ext: str | None = None) -> str:
    """The thumbnails of a stored image as a srcset ("…_400.jpg 400w, …_800.jpg 800w"); with ext="webp" only
    the WebP ones that exist (an image stored before they were made has none until `flask media webp`)."""
    if not key:
        return ""
    folder = Path(current_app.config["UPLOAD_FOLDER"])
    found = [
        size for size in THUMBNAIL_SIZES if ext is None or (folder / thumbnail_key(key, size, ext)).is_file()
    ]
    return ", ".join(f"{url_for('media.file', key=thumbnail_key(key, size, ext))} {size}w" for size in found)


def add_missing_webp(folder: Path) -> int:
    """WebP versions of the thumbnails of images stored before they were made; returns how many."""
    from PIL import Image

    made = 0
    for size in THUMBNAIL_SIZES:
        for thumb in sorted(folder.glob(f"*/*_{size}.*")):
            target = thumb.with_suffix(".webp")
            if thumb.name.startswith(".") or thumb.suffix not in (".jpg", ".png") or target.exists():
                continue  # a WebP already, one made before, or a half-written file (_write_atomic)
            with Image.open(thumb) as image:
                image.load()
                _write_atomic(target, _webp(image))
            made += 1
    return made


def image_url(key: str | None, size: int | None = None) -> str:
    """URL of a stored image (or of its thumbnail); a neutral placeholder when there is none."""
    if not key:
        return url_for("static", filename="img/placeholder.svg")
    if size is not None:
        size = min((s for s in THUMBNAIL_SIZES if s >= size), default=None)
    return url_for("media.file", key=thumbnail_key(key, size) if size else key)


@bp.get("/<path:key>")
def file(key: str):
    response = send_from_directory(current_app.config["UPLOAD_FOLDER"], key, max_age=365 * 24 * 3600)
    # Names are content hashes: a file at a name never changes.
    response.cache_control.immutable = True
    response.cache_control.public = True
    return response


def _read_limited(data, max_bytes: int) -> bytes:
    if isinstance(data, bytes | bytearray):
        raw = bytes(data)
    else:
        stream = getattr(data, "stream", data)
        raw = stream.read(max_bytes + 1)
    if not raw:
        raise ImageError(_l("The file is empty. Please choose a picture."))
    if len(raw) > max_bytes:
        raise ImageError(
            _l(
                "The picture is larger than %(mb)d MB. Please choose a smaller one.",
                mb=max_bytes // (1024 * 1024),
            )
        )
    return raw


def _open_checked(raw: bytes) -> Image.Image:
    from PIL import Image, ImageOps, UnidentifiedImageError

    not_image = ImageError(_l("This file is not a picture. Please upload a JPEG, PNG or WebP image."))
    too_many_pixels = ImageError(
        _l("The picture is too large in pixels (at most %(side)d px on a side).", side=MAX_SIDE)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            probe = Image.open(io.BytesIO(raw))
            fmt = probe.format
            width, height = probe.size
            probe.verify()  # structural check; the image must be reopened after this
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise too_many_pixels from None
        except UnidentifiedImageError:
            raise not_image from None
        except Exception:  # truncated or corrupt data raise many kinds of error inside Pillow
            raise not_image from None
        if fmt not in ACCEPTED_FORMATS:
            raise ImageError(_l("Only JPEG, PNG and WebP pictures are accepted."))
        if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
            raise too_many_pixels
        try:
            image = Image.open(io.BytesIO(raw))
            image.seek(0)  # first frame of an animation
            image.load()
        except Exception:
            raise not_image from None
    image = ImageOps.exif_transpose(image)  # keep the photo upright once EXIF is dropped
    if image.mode not in ("RGB", "RGBA"):
        has_alpha = image.mode in ("LA", "PA") or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    return image


def _encode(image: Image.Image, ext: str | None = None) -> tuple[bytes, str]:
    """PNG when the picture has transparency, otherwise a progressive JPEG. No metadata is written."""
    if ext is None:
        ext = "png" if image.mode == "RGBA" and image.getextrema()[3][0] < 255 else "jpg"
    out = io.BytesIO()
    if ext == "png":
        image.save(out, "PNG", optimize=True)
    else:
        image.convert("RGB").save(out, "JPEG", quality=85, optimize=True, progressive=True)
    return out.getvalue(), ext


def _webp(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "WEBP", quality=80, method=4)
    return out.getvalue()


def _write_atomic(path: Path, content: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(content)
    tmp.replace(path)
