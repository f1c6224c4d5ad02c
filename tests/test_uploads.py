"""Image uploads: only real JPEG/PNG/WebP pictures get in, cleaned of EXIF and upright, with 400 px and
800 px thumbnails; everything else is refused with a sentence the merchant understands; /media serves
them with long cache headers and nothing outside the uploads folder."""

import io
import random
import shutil
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import ExifTags, Image
from werkzeug.datastructures import FileStorage

from app import create_app
from app.media import ImageError, save_image, thumbnail_key
from app.settings.services import get_shop_settings, update_shop_settings
from tests.conftest import base_config


@pytest.fixture
def media_app(sqlite_template, tmp_path):
    """Uploads need no second database: one SQLite copy is enough (error pages read the settings)."""
    path = tmp_path / "media.sqlite3"
    shutil.copy(sqlite_template, path)
    app = create_app(base_config(f"sqlite:///{path}", tmp_path))
    with app.app_context():
        yield app


def uploads(app) -> Path:
    return Path(app.config["UPLOAD_FOLDER"])


def stored_files(app) -> list[str]:
    folder = uploads(app)
    return (
        sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        if folder.exists()
        else []
    )


def picture(fmt: str, size=(1200, 900), **save_args) -> bytes:
    """A picture whose left half is red and right half blue, so rotation can be checked."""
    image = Image.new("RGB", size, (220, 30, 30))
    image.paste((30, 60, 220), (size[0] // 2, 0, size[0], size[1]))
    out = io.BytesIO()
    image.save(out, fmt, **save_args)
    return out.getvalue()


def photo_with_gps_and_rotation() -> bytes:
    """Like a phone photo: held upright (EXIF orientation 6 = turn 90° clockwise) and geotagged."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "FenxiaoPhone"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (31.0, 13.0, 44.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (121.0, 28.0, 10.0)
    return picture("JPEG", exif=exif)


def noisy_jpeg(size=(800, 600)) -> bytes:
    rng = random.Random(1)
    image = Image.frombytes("RGB", size, bytes(rng.getrandbits(8) for _ in range(size[0] * size[1] * 3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A tiny file that claims to be a huge PNG: the classic decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------- accepted


@pytest.mark.parametrize(("fmt", "ext"), [("JPEG", "jpg"), ("PNG", "jpg"), ("WEBP", "jpg")])
def test_real_pictures_are_stored_with_bounded_thumbnails(media_app, fmt, ext):
    key = save_image(picture(fmt))
    assert key.endswith(f".{ext}")
    folder = uploads(media_app)
    with Image.open(folder / key) as stored:
        assert stored.size == (1200, 900)
    for size, expected in ((400, (400, 300)), (800, (800, 600))):
        with Image.open(folder / thumbnail_key(key, size)) as thumb:
            assert thumb.size == expected
            assert max(thumb.size) <= size


def test_a_transparent_png_stays_a_png(media_app):
    image = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    image.paste((200, 40, 40, 255), (50, 50, 250, 250))
    out = io.BytesIO()
    image.save(out, "PNG")
    key = save_image(out.getvalue())
    assert key.endswith(".png")
    with Image.open(uploads(media_app) / key) as stored:
        assert stored.mode == "RGBA" and stored.getpixel((0, 0))[3] == 0


def test_the_same_picture_twice_is_stored_once(media_app):
    assert save_image(picture("PNG")) == save_image(picture("PNG"))
    assert len(stored_files(media_app)) == 5  # the picture, its two thumbnails and their WebP versions


def test_exif_is_stripped_and_the_photo_is_turned_upright(media_app):
    raw = photo_with_gps_and_rotation()
    with Image.open(io.BytesIO(raw)) as original:  # the test photo really carries what we strip
        assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    key = save_image(raw)
    data = (uploads(media_app) / key).read_bytes()
    assert b"FenxiaoPhone" not in data and b"Exif" not in data
    with Image.open(io.BytesIO(data)) as stored:
        assert not stored.getexif()
        assert "exif" not in stored.info
        assert stored.size == (900, 1200)  # portrait, as the phone showed it
        red, blue = stored.convert("RGB").getpixel((450, 100)), stored.convert("RGB").getpixel((450, 1100))
        assert red[0] > 150 and red[2] < 100  # the left (red) half is now on top
        assert blue[2] > 150 and blue[0] < 100
    for size in (400, 800):
        thumb = (uploads(media_app) / thumbnail_key(key, size)).read_bytes()
        assert b"FenxiaoPhone" not in thumb and b"Exif" not in thumb


def test_a_script_appended_to_a_picture_does_not_survive(media_app):
    payload = b"<?php system($_GET['cmd']); ?>"
    key = save_image(picture("JPEG") + payload)
    assert payload not in (uploads(media_app) / key).read_bytes()


def test_an_uploaded_file_object_is_accepted(media_app):
    upload = FileStorage(io.BytesIO(picture("JPEG")), filename="照片.JPG", content_type="image/jpeg")
    key = save_image(upload)
    assert (uploads(media_app) / key).exists()


# ---------------------------------------------------------------- refused


NOT_A_PICTURE = "这个文件不是图片，请上传 JPEG、PNG 或 WebP 格式的图片。"


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (50, 50), 1).save(out, "GIF")
    return out.getvalue()


REFUSALS = {
    "text": (b"Dear shop owner,\nthis is a letter, not a picture.\n" * 20, NOT_A_PICTURE),
    "too big": (b"\xff\xd8\xff\xe0" + b"\0" * (5 * 1024 * 1024), "图片超过 5 MB，请换一张小一点的。"),
    "script renamed .jpg": (b"#!/bin/sh\nrm -rf / --no-preserve-root\n", NOT_A_PICTURE),
    "svg": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', NOT_A_PICTURE),
    "decompression bomb": (png_header_only(30000, 30000), "图片尺寸过大（每边最多 8000 像素）。"),
    "too many pixels": (png_header_only(9000, 100), "图片尺寸过大（每边最多 8000 像素）。"),
    "gif": (gif(), "只支持 JPEG、PNG 和 WebP 格式的图片。"),
    "empty": (b"", "文件是空的，请选择一张图片。"),
    "truncated jpeg": (noisy_jpeg()[:20000], NOT_A_PICTURE),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_bad_uploads_are_refused_with_a_clear_chinese_message(media_app, case):
    data, message = REFUSALS[case]
    upload = FileStorage(io.BytesIO(data), filename="photo.jpg", content_type="image/jpeg")
    with pytest.raises(ImageError) as refused:
        save_image(upload)
    assert str(refused.value) == message
    assert stored_files(media_app) == []


class FormReader(HTMLParser):
    """The values a browser would submit for each form on a page."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict[str, str]] = []
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({})
        if not self.forms:
            return
        values = self.forms[-1]
        if tag == "input" and a.get("name") and a.get("type") not in ("file", "submit", "button"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                values[a["name"]] = a.get("value") or ("y" if a.get("type") == "checkbox" else "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            values[a["name"]] = ""
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and (self._select not in values or "selected" in a):
            values[self._select] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._textarea and self.forms:
            self.forms[-1][self._textarea] += data

    def form_with(self, field: str) -> dict[str, str]:
        return next(form for form in self.forms if field in form)


def test_a_bad_logo_upload_in_the_back_office_shows_the_reason_next_to_the_field(owner_client, session):
    update_shop_settings(session, name="老店名")
    session.commit()
    reader = FormReader()
    reader.feed(owner_client.get("/admin/settings").get_data(as_text=True))
    data = {
        **reader.form_with("name"),
        "name": "新店名",
        "logo": (io.BytesIO(b"#!/bin/sh\necho hi\n"), "logo.jpg"),
    }
    response = owner_client.post("/admin/settings", data=data, content_type="multipart/form-data")
    assert response.status_code in (200, 422)
    assert NOT_A_PICTURE in response.get_data(as_text=True)
    session.expire_all()
    assert get_shop_settings(session).name == "老店名"


# ---------------------------------------------------------------- serving


def test_stored_pictures_are_served_with_long_immutable_cache_headers(media_app):
    key = save_image(picture("JPEG"))
    client = media_app.test_client()
    for path in (key, thumbnail_key(key, 400), thumbnail_key(key, 800)):
        response = client.get(f"/media/{path}")
        assert response.status_code == 200
        assert response.mimetype == "image/jpeg"
        directives = {d.strip() for d in response.headers["Cache-Control"].split(",")}
        assert {"public", "max-age=31536000", "immutable"} <= directives


@pytest.mark.parametrize(
    "path",
    [
        "/media/../secret.txt",
        "/media/..%2fsecret.txt",
        "/media/%2e%2e/secret.txt",
        "/media/..%5csecret.txt",
        "/media//etc/passwd",
        "/media/ab/../../secret.txt",
        "/media/00/missing.jpg",
    ],
)
def test_media_never_serves_anything_outside_the_uploads(media_app, tmp_path, path):
    (tmp_path / "secret.txt").write_text("database password")
    save_image(picture("JPEG"))  # the uploads folder exists and has files
    response = media_app.test_client().get(path, follow_redirects=True)
    assert response.status_code == 404
    assert "database password" not in response.get_data(as_text=True)


def test_each_thumbnail_is_also_stored_as_webp_and_offered_in_a_srcset(media_app):
    from app.media import image_srcset

    key = save_image(picture("JPEG"))
    stem = key.rsplit(".", 1)[0]
    assert {f"{stem}_400.webp", f"{stem}_800.webp"} <= set(stored_files(media_app))
    with Image.open(uploads(media_app) / f"{stem}_800.webp") as webp:
        assert webp.format == "WEBP" and webp.size == (800, 600)
    with media_app.test_request_context():
        assert image_srcset(key) == f"/media/{stem}_400.jpg 400w, /media/{stem}_800.jpg 800w"
        assert image_srcset(key, "webp") == f"/media/{stem}_400.webp 400w, /media/{stem}_800.webp 800w"
        assert image_srcset(None) == ""


def test_pictures_stored_before_webp_get_theirs_from_the_command(media_app):
    from app.media import image_srcset

    key = save_image(picture("PNG"))
    stem = key.rsplit(".", 1)[0]
    for size in (400, 800):
        (uploads(media_app) / f"{stem}_{size}.webp").unlink()
    with media_app.test_request_context():
        assert image_srcset(key, "webp") == ""  # the page offers no WebP that is not there
    result = media_app.test_cli_runner().invoke(args=["media", "webp"])
    assert result.exit_code == 0 and "2 WebP thumbnails made" in result.output
    assert media_app.test_cli_runner().invoke(args=["media", "webp"]).output.startswith("0 ")
    with media_app.test_request_context():
        assert image_srcset(key, "webp").count("webp") == 2


def test_the_webp_thumbnails_carry_no_exif_either(media_app):
    key = save_image(photo_with_gps_and_rotation())
    for size in (400, 800):
        data = (uploads(media_app) / thumbnail_key(key, size, "webp")).read_bytes()
        assert b"FenxiaoPhone" not in data and b"Exif" not in data
