"""Uploaded images: checked to be real JPEG/PNG/WebP pictures, re-encoded without EXIF, stored under
content-hash names with 400 px and 800 px thumbnails (each also in WebP, which phones take at about two
thirds of the bytes) in the media storage (app/storage.py: a local folder, or a bucket), and served with
long cache headers. Pillow loads with the first upload, not in every worker: showing a picture only needs
its URL."""

from __future__ import annotations

import hashlib
import io
import logging
import mimetypes
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Blueprint, abort, current_app, redirect, send_from_directory, url_for
from flask_babel import lazy_gettext as _l

from app import storage
from app.storage import LocalStorage, S3Storage, Storage, StorageError

if TYPE_CHECKING:
    from PIL import Image

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}
THUMBNAIL_SIZES = (400, 800)
MAX_PIXELS = 40_000_000  # a 40-megapixel photo is already more than any phone takes
MAX_SIDE = 8000
# Names are content hashes: what is stored under a name never changes.
IMMUTABLE = "public, max-age=31536000, immutable"

log = logging.getLogger(__name__)
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
    store = storage.current()
    try:
        if not store.exists(key):
            for size in THUMBNAIL_SIZES:
                thumb = image.copy()
                thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
                _put(store, thumbnail_key(key, size), _encode(thumb, ext)[0])
                _put(store, thumbnail_key(key, size, "webp"), _webp(thumb))
            _put(store, key, encoded)  # last: its presence says the thumbnails are there
    except StorageError:
        # Shoppers upload pictures too: the sentence is for anyone; the cause is for the operator's log.
        log.exception("upload not stored: `flask media check` says why")
        raise ImageError(
            _l("The picture could not be stored just now. Please try again in a minute.")
        ) from None
    return key


PRIVATE_PREFIX = "private/"


def save_private_image(data: bytes | object, *, max_bytes: int | None = None) -> str:
    """Check and clean an image as save_image does, stored under private/ (no thumbnails): never served by
    the public media route, only by a view that checks who is asking (after-sales photos)."""
    raw = _read_limited(data, max_bytes or current_app.config["MAX_IMAGE_BYTES"])
    image = _open_checked(raw)
    image.thumbnail((2000, 2000))  # enough to see a scratch; a phone's 12 MP photo is not needed
    encoded, ext = _encode(image)
    digest = hashlib.sha256(encoded).hexdigest()[:32]
    key = f"{PRIVATE_PREFIX}{digest[:2]}/{digest}.{ext}"
    try:
        storage.current().put(key, encoded, _content_type(key), cache_control="private, no-store")
    except StorageError:
        log.exception("upload not stored: `flask media check` says why")
        raise ImageError(
            _l("The picture could not be stored just now. Please try again in a minute.")
        ) from None
    return key


def private_image(key: str) -> tuple[bytes, str] | None:
    """(bytes, content type) of a private image, or None."""
    if not key.startswith(PRIVATE_PREFIX):
        return None
    try:
        data = storage.current().get(key)
    except StorageError:
        return None
    return (data, _content_type(key)) if data is not None else None


def private_image_response(key: str | None):
    """A private image for someone a view has let see it: never kept by a cache in between; 404 if gone."""
    found = private_image(key) if key else None
    if found is None:
        abort(404)
    response = current_app.response_class(found[0], content_type=found[1])
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def image_size(key: str, size: int = 800) -> tuple[int, int] | None:
    """(width, height) of a stored image's `size` px thumbnail, read from its header; None when it is not
    stored (a key typed by hand, or a picture lost from the folder)."""
    from PIL import Image

    data = storage.current().get(thumbnail_key(key, size))
    if data is None:
        return None
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def thumbnail_key(key: str, size: int, ext: str | None = None) -> str:
    stem, _dot, own = key.rpartition(".")
    return f"{stem}_{size}.{ext or own}"


def image_srcset(key: str | None, ext: str | None = None) -> str:
    """The thumbnails of a stored image as a srcset ("…_400.jpg 400w, …_800.jpg 800w"). With ext="webp" in a
    local folder, only the WebP ones that exist (an image stored before they were made has none until
    `flask media webp`); in a bucket always both, as a page asks the bucket nothing: every upload makes
    them, and `flask media push` and `flask media webp` make them for older pictures."""
    if not key:
        return ""
    store = storage.current()
    found = [
        size
        for size in THUMBNAIL_SIZES
        if ext is None or isinstance(store, S3Storage) or store.exists(thumbnail_key(key, size, ext))
    ]
    return ", ".join(f"{store.url(thumbnail_key(key, size, ext))} {size}w" for size in found)


def add_missing_webp(store: Storage) -> int:
    """WebP versions of the thumbnails of images stored before they were made; returns how many."""
    from PIL import Image

    keys = set(store.list_keys())
    made = 0
    for key in sorted(keys):
        stem, _dot, ext = key.rpartition(".")
        size = stem.rpartition("_")[2]
        if ext not in ("jpg", "png") or not size.isdigit() or int(size) not in THUMBNAIL_SIZES:
            continue
        target = f"{stem}.webp"
        data = None if target in keys else store.get(key)
        if data is None:
            continue  # made before, or gone since the listing
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            _put(store, target, _webp(image))
        made += 1
    return made


def push_folder(folder: Path, store: S3Storage) -> tuple[int, int]:
    """Copy the pictures of a local uploads folder into the bucket, skipping those already there (so it can
    run again after an interruption); returns (copied, skipped)."""
    there = set(store.list_keys())
    copied = skipped = 0
    for key in LocalStorage(folder).list_keys():
        if key in there:
            skipped += 1
            continue
        store.put_file(key, folder / key, content_type=_content_type(key), cache_control=IMMUTABLE)
        copied += 1
    return copied, skipped


def image_url(key: str | None, size: int | None = None, *, external: bool = False) -> str:
    """URL of a stored image (or of its thumbnail); a neutral placeholder when there is none. external=True
    gives a full URL (for og:image and share cards) also when the pictures are served by this site."""
    if not key:
        return url_for("static", filename="img/placeholder.svg", _external=external)
    if size is not None:
        size = min((s for s in THUMBNAIL_SIZES if s >= size), default=None)
    return storage.current().url(thumbnail_key(key, size) if size else key, external=external)


@bp.get("/<path:key>")
def file(key: str):
    if key.startswith(PRIVATE_PREFIX):
        abort(404)  # after-sales photos: only through the views that check who is asking
    store = storage.current()
    if isinstance(store, S3Storage):
        # Pictures moved to the bucket: links written before the move (shared messages, cached pages) follow.
        return redirect(store.url(key), 302)
    response = send_from_directory(store.folder, key, max_age=365 * 24 * 3600)
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


def _content_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def _put(store: Storage, key: str, data: bytes) -> None:
    store.put(key, data, _content_type(key), cache_control=IMMUTABLE)
