"""Pictures in an S3-compatible bucket (MEDIA_S3_*), against moto's S3 server on a local port: an upload lands
in the bucket with its content type and a year's cache and nothing on this host's disk, pages link
MEDIA_PUBLIC_URL, old /media links are sent there, posters draw from it, and `flask media push|webp|check`
work on it. A missing bucket, wrong keys or a half-written configuration are said in a sentence, never a 500."""

import io
import json
import re
import secrets
import urllib.request
from pathlib import Path

import boto3
import moto.settings
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from app import create_app, storage
from app.media import save_image, thumbnail_key
from app.settings.services import get_shop_settings
from tests import factories
from tests.conftest import base_config, csrf_token, login
from tests.test_distribution import distributor, settings
from tests.test_uploads import FormReader, picture

IMMUTABLE = {"public", "max-age=31536000", "immutable"}
NOT_STORED = "图片暂时没有保存成功"


@pytest.fixture(scope="session")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture
def bucket(s3_endpoint) -> str:
    """A fresh bucket that anyone may read from, as a shop's bucket for pictures is (公共读)."""
    name = f"fenxiao-{secrets.token_hex(4)}"
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket=name)
    public_read = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{name}/*",
    }
    client.put_bucket_policy(
        Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [public_read]})
    )
    return name


def s3_settings(endpoint: str, bucket: str) -> dict:
    return {
        "MEDIA_S3_BUCKET": bucket,
        "MEDIA_S3_ENDPOINT_URL": endpoint,
        "MEDIA_S3_REGION": "us-east-1",
        "MEDIA_S3_ACCESS_KEY_ID": "test",
        "MEDIA_S3_SECRET_ACCESS_KEY": "test",
        "MEDIA_S3_ADDRESSING_STYLE": "path",
        "MEDIA_PUBLIC_URL": f"{endpoint}/{bucket}",
    }


@pytest.fixture
def app_config(s3_endpoint, bucket) -> dict:
    """The `app` of every test here keeps its pictures in the bucket."""
    return s3_settings(s3_endpoint, bucket)


def reconfigure(app, **changes) -> None:
    """As if the shop had been restarted with these settings."""
    app.config.update(changes)
    storage.init_app(app)


def stored(endpoint: str, bucket: str) -> dict[str, dict]:
    """Each object in the bucket with the headers it is served with."""
    client = s3_client(endpoint)
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: client.head_object(Bucket=bucket, Key=key) for key in keys}


def fetch(url: str) -> bytes:
    """What a phone gets from the public address."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def upload_in_product_form(client, data: bytes):
    token = csrf_token(client, "/admin/products/new")
    return client.post(
        "/admin/products/images",
        data={"image": (io.BytesIO(data), "photo.jpg")},
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    )


def files_in(folder: str) -> list[Path]:
    return [path for path in Path(folder).rglob("*") if path.is_file()]


# ---------------------------------------------------------------- uploads and pages


def test_a_picture_uploaded_in_the_product_form_lands_in_the_bucket_not_on_disk(
    owner_client, app, s3_endpoint, bucket
):
    response = upload_in_product_form(owner_client, picture("JPEG"))
    assert response.status_code == 200
    key = re.search(r'name="image_keys" value="([^"]+)"', response.get_data(as_text=True))[1]
    public = f"{s3_endpoint}/{bucket}"
    assert f'src="{public}/{thumbnail_key(key, 400)}"' in response.get_data(as_text=True)
    objects = stored(s3_endpoint, bucket)
    stem = key.rsplit(".", 1)[0]
    assert sorted(objects) == sorted(
        [key, f"{stem}_400.jpg", f"{stem}_800.jpg", f"{stem}_400.webp", f"{stem}_800.webp"]
    )
    for name, head in objects.items():
        assert head["ContentType"] == ("image/webp" if name.endswith(".webp") else "image/jpeg")
        assert {d.strip() for d in head["CacheControl"].split(",")} == IMMUTABLE
    with Image.open(io.BytesIO(fetch(f"{public}/{thumbnail_key(key, 800)}"))) as thumb:
        assert thumb.size == (800, 600)  # phones load it from the public address
    assert files_in(app.config["UPLOAD_FOLDER"]) == []


def test_shop_pages_link_pictures_at_the_public_address(client, app, s3_endpoint, bucket):
    product = factories.ProductFactory(title="青花瓷碗")
    factories.ProductImageFactory(product_id=product.id, image_key=save_image(picture("JPEG")))
    public = f"{s3_endpoint}/{bucket}"
    response = client.get(f"/p/{product.id}")
    html = response.get_data(as_text=True)
    stem = re.escape(public) + r"/[0-9a-f]{2}/[0-9a-f]{32}"
    assert re.search(rf'<img src="{stem}_800\.jpg" srcset="{stem}_400\.jpg 400w, {stem}_800\.jpg 800w"', html)
    assert re.search(
        rf'<source type="image/webp" srcset="{stem}_400\.webp 400w, {stem}_800\.webp 800w"', html
    )
    assert "/media/" not in html
    assert s3_endpoint in response.headers["Content-Security-Policy"].split("img-src")[1].split(";")[0]
    home = client.get("/").get_data(as_text=True)
    assert re.search(rf'srcset="{stem}_400\.webp 400w', home)


def test_old_media_links_are_sent_to_the_bucket(client, app, s3_endpoint, bucket):
    key = save_image(picture("PNG"))
    response = client.get(f"/media/{thumbnail_key(key, 400)}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"{s3_endpoint}/{bucket}/{thumbnail_key(key, 400)}"
    assert fetch(response.headers["Location"]).startswith(b"\xff\xd8")  # the JPEG it points at is there


def test_a_poster_draws_the_product_picture_from_the_bucket(client, app, session, tmp_path):
    app.instance_path = str(tmp_path / "instance")  # posters are cached there
    settings(session)
    seller = distributor(session, factories.UserFactory(nickname="小B"))
    green = io.BytesIO()
    Image.new("RGB", (600, 600), (20, 160, 60)).save(green, "PNG")
    product = factories.ProductFactory(title="抹茶粉")
    factories.ProductImageFactory(product_id=product.id, image_key=save_image(green.getvalue()))
    login(client, seller.user)
    response = client.get(f"/d/share/{seller.code}/poster/{product.id}.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    with Image.open(io.BytesIO(response.data)) as poster:
        red, green_, blue = poster.convert("RGB").getpixel((375, 375))  # the middle of the picture
    assert green_ > 140 and red < 60 and blue < 90


# ---------------------------------------------------------------- commands


def test_media_push_copies_the_uploads_folder_into_the_bucket_once(app, s3_endpoint, bucket, tmp_path):
    folder = tmp_path / "old-uploads"
    local = create_app(
        {**base_config(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path), "UPLOAD_FOLDER": str(folder)}
    )
    with local.app_context():
        keys = [save_image(picture("JPEG")), save_image(picture("PNG", size=(300, 500)))]
    (folder / keys[0]).with_name(f".{Path(keys[0]).name}.1234.tmp").write_bytes(
        b"half"
    )  # an unfinished write
    reconfigure(app, UPLOAD_FOLDER=str(folder))
    result = app.test_cli_runner().invoke(args=["media", "push"])
    assert result.exit_code == 0, result.output
    assert f"10 files copied to bucket {bucket}" in result.output and "0 already there" in result.output
    objects = stored(s3_endpoint, bucket)
    assert sorted(objects) == sorted(
        p.relative_to(folder).as_posix() for p in files_in(folder) if not p.name.startswith(".")
    )
    assert objects[keys[0]]["ContentType"] == "image/jpeg"
    assert objects[thumbnail_key(keys[0], 400, "webp")]["ContentType"] == "image/webp"
    assert {d.strip() for d in objects[keys[1]]["CacheControl"].split(",")} == IMMUTABLE
    assert fetch(f"{s3_endpoint}/{bucket}/{keys[1]}") == (folder / keys[1]).read_bytes()
    again = app.test_cli_runner().invoke(args=["media", "push"])
    assert again.exit_code == 0 and "0 files copied" in again.output and "10 already there" in again.output


def test_media_push_without_a_bucket_says_what_to_set(app, tmp_path):
    reconfigure(app, **dict.fromkeys(storage.S3_SETTINGS))
    result = app.test_cli_runner().invoke(args=["media", "push"])
    assert result.exit_code == 1
    assert "MEDIA_S3_BUCKET is not set" in result.output and "Traceback" not in result.output


def test_media_webp_makes_the_missing_webp_thumbnails_in_the_bucket(app, s3_endpoint, bucket):
    key = save_image(picture("JPEG"))
    client = s3_client(s3_endpoint)
    for size in (400, 800):
        client.delete_object(Bucket=bucket, Key=thumbnail_key(key, size, "webp"))
    result = app.test_cli_runner().invoke(args=["media", "webp"])
    assert result.exit_code == 0 and "2 WebP thumbnails made" in result.output
    webp = stored(s3_endpoint, bucket)[thumbnail_key(key, 800, "webp")]
    assert webp["ContentType"] == "image/webp"
    with Image.open(io.BytesIO(fetch(f"{s3_endpoint}/{bucket}/{thumbnail_key(key, 800, 'webp')}"))) as image:
        assert image.format == "WEBP" and image.size == (800, 600)
    assert app.test_cli_runner().invoke(args=["media", "webp"]).output.startswith("0 ")


def test_media_check_says_the_bucket_is_ready(app, bucket):
    result = app.test_cli_runner().invoke(args=["media", "check"])
    assert result.exit_code == 0, result.output
    assert f"ok: pictures are kept in the bucket {bucket}" in result.output


def test_media_check_on_the_local_folder_says_where(app, tmp_path):
    reconfigure(app, **dict.fromkeys(storage.S3_SETTINGS))
    result = app.test_cli_runner().invoke(args=["media", "check"])
    assert result.exit_code == 0 and f"local folder {tmp_path / 'uploads'}" in result.output


# ---------------------------------------------------------------- misconfiguration


@pytest.fixture
def enforce_keys():
    """moto's server checks access keys (it knows none but the ones it issued) while this is on."""
    before = moto.settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    yield
    moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = before


def missing_bucket(app):
    reconfigure(app, MEDIA_S3_BUCKET="no-such-bucket")


def wrong_keys(app):
    reconfigure(app, MEDIA_S3_ACCESS_KEY_ID="AKIDWRONG", MEDIA_S3_SECRET_ACCESS_KEY="wrong")


def closed_port(app):
    reconfigure(app, MEDIA_S3_ENDPOINT_URL="http://127.0.0.1:9")


BREAKAGES = {
    "missing bucket": (missing_bucket, "404: Not Found", "MEDIA_S3_BUCKET"),
    "wrong keys": (wrong_keys, "403: Forbidden", "MEDIA_S3_ACCESS_KEY_ID"),
    "unreachable endpoint": (closed_port, "EndpointConnectionError", "MEDIA_S3_ENDPOINT_URL"),
}


@pytest.mark.parametrize("case", list(BREAKAGES))
def test_an_upload_the_bucket_refuses_is_a_form_error_and_changes_nothing(
    owner_client, app, session, request, case, caplog
):
    break_it, _code, _setting = BREAKAGES[case]
    if case == "wrong keys":
        request.getfixturevalue("enforce_keys")
    break_it(app)
    response = upload_in_product_form(owner_client, picture("JPEG"))
    assert response.status_code == 422
    # A sentence for whoever uploads (shoppers too); the cause and what to run go to the operator's log.
    assert NOT_STORED in response.get_data(as_text=True)
    assert "flask media check" not in response.get_data(as_text=True) and "flask media check" in caplog.text
    reader = FormReader()
    reader.feed(owner_client.get("/admin/settings").get_data(as_text=True))
    form = {**reader.form_with("name"), "name": "新店名", "logo": (io.BytesIO(picture("PNG")), "logo.png")}
    page = owner_client.post("/admin/settings", data=form, content_type="multipart/form-data")
    assert page.status_code in (200, 422) and NOT_STORED in page.get_data(as_text=True)
    session.expire_all()
    assert get_shop_settings(session).name != "新店名" and get_shop_settings(session).logo_key is None
    assert files_in(app.config["UPLOAD_FOLDER"]) == []


@pytest.mark.parametrize("case", list(BREAKAGES))
def test_media_check_names_what_is_wrong(app, request, case):
    break_it, code, setting = BREAKAGES[case]
    if case == "wrong keys":
        request.getfixturevalue("enforce_keys")
    break_it(app)
    result = app.test_cli_runner().invoke(args=["media", "check"])
    assert result.exit_code == 1
    assert code in result.output
    assert setting in result.output and "Traceback" not in result.output


def test_media_check_finds_a_bucket_phones_cannot_read(app, s3_endpoint):
    private = f"fenxiao-{secrets.token_hex(4)}"
    s3_client(s3_endpoint).create_bucket(Bucket=private)
    reconfigure(app, MEDIA_S3_BUCKET=private, MEDIA_PUBLIC_URL=f"{s3_endpoint}/{private}")
    result = app.test_cli_runner().invoke(args=["media", "check"])
    assert result.exit_code == 1
    assert "MEDIA_PUBLIC_URL" in result.output and "公共读" in result.output


def test_a_poster_waits_when_the_bucket_cannot_be_reached(client, app, session, tmp_path):
    app.instance_path = str(tmp_path / "instance")
    settings(session)
    seller = distributor(session, factories.UserFactory(nickname="小B"))
    product = factories.ProductFactory(title="抹茶粉")
    factories.ProductImageFactory(product_id=product.id, image_key=save_image(picture("JPEG")))
    closed_port(app)
    login(client, seller.user)
    response = client.get(f"/d/share/{seller.code}/poster/{product.id}.png")
    assert response.status_code == 503
    assert "海报暂时生成不了" in response.get_data(as_text=True)
    assert not list(Path(app.instance_path).rglob("*.png"))  # no poster cached without its picture


HALF_WRITTEN = {
    "bucket without public address": ({"MEDIA_PUBLIC_URL": None}, "MEDIA_PUBLIC_URL is not a http(s) URL"),
    "public address without scheme": ({"MEDIA_PUBLIC_URL": "img.example.com"}, "MEDIA_PUBLIC_URL is not"),
    "settings without a bucket": ({"MEDIA_S3_BUCKET": None}, "MEDIA_S3_BUCKET is not"),
    "key without secret": ({"MEDIA_S3_SECRET_ACCESS_KEY": None}, "Set both MEDIA_S3_ACCESS_KEY_ID"),
    "endpoint without scheme": (
        {"MEDIA_S3_ENDPOINT_URL": "cos.ap-guangzhou.myqcloud.com"},
        "must start with https://",
    ),
    "unknown addressing style": (
        {"MEDIA_S3_ADDRESSING_STYLE": "sideways"},
        "MEDIA_S3_ADDRESSING_STYLE must be",
    ),
}


@pytest.mark.parametrize("case", list(HALF_WRITTEN))
def test_a_half_written_bucket_configuration_refuses_to_start(case, tmp_path):
    changes, sentence = HALF_WRITTEN[case]
    config = {
        **base_config(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path),
        **s3_settings("http://127.0.0.1:9", "b"),
    }
    with pytest.raises(RuntimeError, match=re.escape(sentence)):
        create_app({**config, **changes})


def test_a_backup_lists_the_buckets_pictures_and_goes_to_the_private_backup_bucket(app, s3_endpoint, bucket):
    import tarfile

    key = save_image(picture("JPEG"))
    private = f"fenxiao-backups-{secrets.token_hex(4)}"
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket=private)  # no public policy: backups hold shoppers' details
    app.config["BACKUP_S3_BUCKET"] = private
    result = app.test_cli_runner().invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    assert f"sent to bucket {private}" in result.output
    (local,) = Path(app.config["BACKUP_DIR"]).glob("fenxiao-*.tar")
    sent = client.get_object(Bucket=private, Key=f"backups/{local.name}")["Body"].read()
    assert sent == local.read_bytes()
    with tarfile.open(local) as tar:
        media = json.load(tar.extractfile("manifest.json"))["media"]
    listed = {file["key"] for file in media["files"]}
    in_bucket = {item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert key in listed and listed == in_bucket and bucket in media["bucket"]


def test_a_backup_the_bucket_refuses_is_kept_here_and_the_run_is_failed(app, s3_endpoint):
    app.config["BACKUP_S3_BUCKET"] = "no-such-bucket-here"
    result = app.test_cli_runner().invoke(args=["backup"])
    assert result.exit_code != 0
    assert "was written to BACKUP_DIR but not sent off-site" in result.output
    assert len(list(Path(app.config["BACKUP_DIR"]).glob("fenxiao-*.tar"))) == 1
    from app.extensions import db
    from app.jobs import JobRun

    assert db.session.get(JobRun, "backup").ok is False


def test_the_backup_bucket_cannot_be_the_pictures_bucket(app, bucket):
    with pytest.raises(RuntimeError, match="private bucket"):
        reconfigure(app, BACKUP_S3_BUCKET=bucket)


def test_a_backup_is_made_when_the_pictures_bucket_cannot_be_listed(app):
    reconfigure(app, MEDIA_S3_BUCKET="no-such-bucket-here")
    result = app.test_cli_runner().invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    import tarfile

    (made,) = Path(app.config["BACKUP_DIR"]).glob("fenxiao-*.tar")
    with tarfile.open(made) as tar:
        media = json.load(tar.extractfile("manifest.json"))["media"]
    assert media["files"] == [] and "no-such-bucket-here" in media["error"]
