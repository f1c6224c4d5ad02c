"""Static files the way a phone on 4G wants them, when the app serves them itself (nginx can serve /static/
instead; README): compressed with gzip when the browser accepts it, and cached for a year under a URL that
names the file's content (`?v=…`), so a new release is fetched at once and an unchanged file never again.

Each file is hashed and compressed once per process, again only when its size or modification time change
(development edits show up on the next request)."""

import gzip
import hashlib
import mimetypes
import os

from flask import Flask, Response, current_app, request, send_from_directory
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

from app.webutil import takes_gzip

COMPRESSIBLE = {".css", ".js", ".svg", ".json", ".txt"}
ONE_YEAR = 365 * 24 * 3600

_versions: dict[str, tuple[tuple[int, int], str]] = {}
_compressed: dict[str, tuple[tuple[int, int], bytes]] = {}


def init_app(app: Flask) -> None:
    app.url_defaults(_add_version)
    app.view_functions["static"] = serve


def _stamp(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size


def version(path: str) -> str:
    """A short hash of the file's content."""
    stamp = _stamp(path)
    known = _versions.get(path)
    if known is None or known[0] != stamp:
        with open(path, "rb") as file:
            known = (stamp, hashlib.sha256(file.read()).hexdigest()[:10])
        _versions[path] = known
    return known[1]


def _gzipped(path: str) -> bytes:
    stamp = _stamp(path)
    known = _compressed.get(path)
    if known is None or known[0] != stamp:
        with open(path, "rb") as file:
            known = (stamp, gzip.compress(file.read(), compresslevel=9, mtime=0))
        _compressed[path] = known
    return known[1]


def _add_version(endpoint: str, values: dict) -> None:
    if endpoint != "static" or "v" in values or "filename" not in values:
        return
    path = safe_join(current_app.static_folder, values["filename"])
    if path is not None and os.path.isfile(path):
        values["v"] = version(path)


def serve(filename: str) -> Response:
    folder = current_app.static_folder
    path = safe_join(folder, filename)
    if path is None or not os.path.isfile(path):
        raise NotFound()
    current = version(path)
    compressible = os.path.splitext(path)[1].lower() in COMPRESSIBLE
    if compressible and takes_gzip():
        response = Response(_gzipped(path), mimetype=mimetypes.guess_type(path)[0])
        response.headers["Content-Encoding"] = "gzip"
        response.set_etag(f"{current}-gzip")
    else:
        response = send_from_directory(folder, filename)
        response.set_etag(current)
    if compressible:
        response.vary.add("Accept-Encoding")
    if request.args.get("v") == current:  # this URL always means these bytes
        response.cache_control.no_cache = None  # send_file's default when no max_age was given
        response.cache_control.public = True
        response.cache_control.max_age = ONE_YEAR
        response.cache_control.immutable = True
    else:
        response.cache_control.no_cache = True  # an old or missing ?v=: ask again every time
    return response.make_conditional(request)
