"""Where uploaded files are kept: a folder on this host (UPLOAD_FOLDER, the default) or, when MEDIA_S3_BUCKET
is set, an S3-compatible bucket (腾讯云 COS, 阿里云 OSS, MinIO) that every app host shares and that phones
load pictures from directly (MEDIA_PUBLIC_URL). Showing a picture only builds its URL: no page makes a
network call to the bucket, and boto3 loads with the first upload or command that needs it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from flask import Flask, current_app, url_for

if TYPE_CHECKING:
    from botocore.client import BaseClient

ADDRESSING_STYLES = ("virtual", "path", "auto")
_CREDENTIALS = "MEDIA_S3_ACCESS_KEY_ID, MEDIA_S3_SECRET_ACCESS_KEY and the bucket's permissions"
_BUCKET = "MEDIA_S3_BUCKET, MEDIA_S3_REGION and MEDIA_S3_ENDPOINT_URL"
# What to look at when the bucket answers with one of these codes (head requests answer bare 403/404).
S3_HINTS = {
    "NoSuchBucket": _BUCKET,
    "404": _BUCKET,
    "PermanentRedirect": _BUCKET,
    "AuthorizationHeaderMalformed": _BUCKET,
    "InvalidAccessKeyId": _CREDENTIALS,
    "SignatureDoesNotMatch": _CREDENTIALS,
    "AccessDenied": _CREDENTIALS,
    "403": _CREDENTIALS,
}
S3_SETTINGS = (
    "MEDIA_S3_BUCKET",
    "MEDIA_S3_ENDPOINT_URL",
    "MEDIA_S3_REGION",
    "MEDIA_S3_ACCESS_KEY_ID",
    "MEDIA_S3_SECRET_ACCESS_KEY",
    "MEDIA_PUBLIC_URL",
)


class StorageError(RuntimeError):
    """The storage could not be reached or refused a request; the text says which and why, for the log and
    for the operator running a command."""


class Storage(Protocol):
    """What uploads, posters, backups and the `flask media` commands may ask of either kind of storage.
    put/put_file write under a key (a half-written file is never seen), get answers None for a missing
    key; a storage that cannot answer raises StorageError."""

    def put(self, key: str, data: bytes, content_type: str, cache_control: str = "") -> None: ...
    def put_file(
        self, key: str, path: Path, content_type: str = "application/octet-stream", cache_control: str = ""
    ) -> None: ...
    def exists(self, key: str) -> bool: ...
    def get(self, key: str) -> bytes | None: ...
    def list_keys(self, prefix: str = "") -> Iterator[str]: ...
    def url(self, key: str, *, external: bool = False) -> str: ...
    def describe(self) -> str: ...


class LocalStorage:
    """Files under a folder of this host, served by the `media.file` route (or nginx)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def put(self, key: str, data: bytes, content_type: str, cache_control: str = "") -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: a reader never sees half a file.
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    def put_file(
        self, key: str, path: Path, content_type: str = "application/octet-stream", cache_control: str = ""
    ) -> None:
        self.put(key, Path(path).read_bytes(), content_type, cache_control)

    def exists(self, key: str) -> bool:
        # Asked while pages render (which WebP thumbnails exist): keys come from the database, a plain stat.
        return (self.folder / key).is_file()

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.is_file() else None

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):  # not a half-written file
                key = path.relative_to(self.folder).as_posix()
                if key.startswith(prefix):
                    yield key

    def url(self, key: str, *, external: bool = False) -> str:
        return url_for("media.file", key=key, _external=external)

    def describe(self) -> str:
        return f"local folder {self.folder}"

    def _path(self, key: str) -> Path:
        path = (self.folder / key).resolve()
        if not path.is_relative_to(self.folder.resolve()):
            raise StorageError(f"{key!r} is not a key inside the uploads folder")
        return path


class S3Storage:
    """Objects in an S3-compatible bucket. Every call to the bucket is a network request: they are made by
    uploads, posters and commands, never by page rendering (url() only joins strings)."""

    def __init__(
        self,
        *,
        bucket: str,
        public_url: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        addressing_style: str = "virtual",
    ):
        self.bucket = bucket
        self.public_url = public_url.rstrip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self._credentials = (access_key_id, secret_access_key)
        self.addressing_style = addressing_style
        self._client: BaseClient | None = None

    def put(self, key: str, data: bytes, content_type: str, cache_control: str = "") -> None:
        extra = {"CacheControl": cache_control} if cache_control else {}
        self._call(
            "store",
            key,
            "put_object",
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            **extra,
        )

    def put_file(
        self, key: str, path: Path, content_type: str = "application/octet-stream", cache_control: str = ""
    ) -> None:
        """Upload a file from disk (in parts when large, by boto3's transfer manager)."""
        extra = {"ContentType": content_type} | ({"CacheControl": cache_control} if cache_control else {})
        self._call("store", key, "upload_file", str(path), self.bucket, key, ExtraArgs=extra)

    def exists(self, key: str) -> bool:
        return self._call("look up", key, "head_object", Bucket=self.bucket, Key=key) is not None

    def get(self, key: str) -> bytes | None:
        found = self._call("read", key, "get_object", Bucket=self.bucket, Key=key)
        return None if found is None else found["Body"].read()

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        try:
            for page in (
                self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            ):
                for item in page.get("Contents", []):
                    if not item["Key"].rpartition("/")[2].startswith("."):  # e.g. check()'s probe
                        yield item["Key"]
        except Exception as error:
            raise self._error("list", prefix or "the keys", error) from error

    def url(self, key: str, *, external: bool = False) -> str:
        return f"{self.public_url}/{key}"

    def describe(self) -> str:
        return f"bucket {self.bucket} at {self.endpoint_url or 'AWS S3'}"

    def in_bucket(self, bucket: str) -> S3Storage:
        """Another bucket of the same account, reached the same way (the private one backups go to)."""
        access_key_id, secret_access_key = self._credentials
        return S3Storage(
            bucket=bucket,
            public_url=self.public_url,
            endpoint_url=self.endpoint_url,
            region=self.region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            addressing_style=self.addressing_style,
        )

    def check(self) -> None:
        """Ask the bucket whether it is there and these credentials may write to it, and MEDIA_PUBLIC_URL
        whether phones can read what was written; StorageError if not."""
        from urllib.error import URLError
        from urllib.request import urlopen

        self._call("reach", "it", "head_bucket", Bucket=self.bucket)
        probe = ".fenxiao-check"  # one small object, written again by each check
        written = secrets.token_hex(8).encode()
        self.put(probe, written, "text/plain", cache_control="no-store")
        try:
            with urlopen(self.url(probe), timeout=10) as response:
                served = response.read()
        except (URLError, OSError) as error:
            served = f"{error}".encode()
        if served != written:
            raise StorageError(
                f"{self.url(probe)} did not serve the file just written ({served[:100]!r}): MEDIA_PUBLIC_URL "
                "must be the bucket's public address (or its CDN's), and the bucket must allow public reading "
                "(公共读)."
            )

    def _call(self, doing: str, key: str, method: str, *args, **kwargs):
        """Call the client; None when the object is not there, StorageError for anything else."""
        from botocore.exceptions import ClientError

        try:
            return getattr(self.client(), method)(*args, **kwargs)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchKey", "NotFound") and method in ("head_object", "get_object"):
                return None
            raise self._error(doing, key, error) from error
        except Exception as error:  # no connection, bad endpoint, missing credentials, …
            raise self._error(doing, key, error) from error

    def _error(self, doing: str, key: str, error: Exception) -> StorageError:
        from botocore.exceptions import ClientError

        if isinstance(error.__context__, ClientError):  # boto3's transfer manager wraps the bucket's answer
            error = error.__context__
        if isinstance(error, ClientError):
            info = error.response.get("Error", {})
            code = info.get("Code", "?")
            reason = f"{code}: {info.get('Message') or 'no message'}"
            if code in S3_HINTS:
                reason += f" — check {S3_HINTS[code]}"
        else:
            reason = f"{type(error).__name__}: {error} — check MEDIA_S3_ENDPOINT_URL and the network"
        return StorageError(f"{self.describe()}: could not {doing} {key}: {reason}")

    def client(self) -> BaseClient:
        if self._client is None:
            import boto3
            from botocore.config import Config as BotoConfig

            access_key_id, secret_access_key = self._credentials
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                config=BotoConfig(
                    signature_version="s3v4",
                    s3={"addressing_style": self.addressing_style},
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"max_attempts": 3, "mode": "standard"},
                    # COS, OSS and older MinIO refuse the CRC checksums boto3 adds by default since 1.36.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                ),
            )
        return self._client


def init_app(app: Flask) -> None:
    """Choose the storage from the configuration; refuse to start on a half-written one (no network call:
    `flask media check` asks the bucket)."""
    config = app.config
    given = [name for name in S3_SETTINGS if config.get(name)]
    if not config.get("MEDIA_S3_BUCKET"):
        if given:
            raise RuntimeError(
                f"{', '.join(given)} set but MEDIA_S3_BUCKET is not: set the bucket to keep pictures in object "
                "storage, or unset these to keep them in UPLOAD_FOLDER."
            )
        app.extensions["media_storage"] = LocalStorage(Path(config["UPLOAD_FOLDER"]))
        return
    public_url = config.get("MEDIA_PUBLIC_URL") or ""
    if urlsplit(public_url).scheme not in ("http", "https") or not urlsplit(public_url).netloc:
        raise RuntimeError(
            "MEDIA_S3_BUCKET is set but MEDIA_PUBLIC_URL is not a http(s) URL: set it to the address phones "
            "load the bucket's files from, e.g. https://fenxiao-1250000000.cos.ap-guangzhou.myqcloud.com "
            "or your CDN domain."
        )
    endpoint_url = config.get("MEDIA_S3_ENDPOINT_URL") or None
    if endpoint_url and urlsplit(endpoint_url).scheme not in ("http", "https"):
        raise RuntimeError(
            f"MEDIA_S3_ENDPOINT_URL must start with https:// (or http://), not {endpoint_url!r}, "
            "e.g. https://cos.ap-guangzhou.myqcloud.com"
        )
    if bool(config.get("MEDIA_S3_ACCESS_KEY_ID")) != bool(config.get("MEDIA_S3_SECRET_ACCESS_KEY")):
        raise RuntimeError("Set both MEDIA_S3_ACCESS_KEY_ID and MEDIA_S3_SECRET_ACCESS_KEY, or neither.")
    style = config.get("MEDIA_S3_ADDRESSING_STYLE") or "virtual"
    if style not in ADDRESSING_STYLES:
        raise RuntimeError(
            f"MEDIA_S3_ADDRESSING_STYLE must be one of {', '.join(ADDRESSING_STYLES)}, not {style!r}"
        )
    if config.get("BACKUP_S3_BUCKET") == config["MEDIA_S3_BUCKET"]:
        raise RuntimeError(
            "BACKUP_S3_BUCKET is the pictures' bucket, which phones read: backups hold shoppers' phone numbers "
            "and addresses. Create a private bucket for them and set BACKUP_S3_BUCKET to it."
        )
    app.extensions["media_storage"] = S3Storage(
        bucket=config["MEDIA_S3_BUCKET"],
        public_url=public_url,
        endpoint_url=endpoint_url,
        region=config.get("MEDIA_S3_REGION") or None,
        access_key_id=config.get("MEDIA_S3_ACCESS_KEY_ID") or None,
        secret_access_key=config.get("MEDIA_S3_SECRET_ACCESS_KEY") or None,
        addressing_style=style,
    )


def current() -> Storage:
    return current_app.extensions["media_storage"]


def public_origin(app: Flask) -> str | None:
    """The scheme://host phones load pictures from when it is not this site (for the CSP's img-src)."""
    storage = app.extensions.get("media_storage")
    if isinstance(storage, S3Storage):
        parts = urlsplit(storage.public_url)
        return f"{parts.scheme}://{parts.netloc}"
    return None
