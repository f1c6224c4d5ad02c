"""Browser tests: the real app served on a free port from a background thread, driven by Playwright
through Debian's Chromium, on a WeChat phone (375×812) and on a desktop for the back office.

Every page's console errors and uncaught exceptions (a CSP violation is a console error) fail the test.
Screenshots go to test-artifacts/<test name>/ (git-ignored) so that a person can look at them."""

import re
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from app import create_app
from app.extensions import db
from tests import factories
from tests.conftest import base_config, skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.50(0x1800322c) NetType/WIFI Language/zh_CN"
)
PHONE = {
    "viewport": {"width": 375, "height": 812},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": WECHAT_UA,
    "locale": "zh-CN",
}
DESKTOP = {"viewport": {"width": 1280, "height": 800}, "locale": "zh-CN"}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 10_000


# ---------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        skip_or_fail(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("browser tests need Playwright for Python (pip install -e '.[dev]')")
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)  # the machine running CI may be busy
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# ---------------------------------------------------------------- the app, served for real


class QuietHandler(WSGIRequestHandler):
    """No access log: a failing test's output should show the test, not every image request."""

    def log_request(self, code="-", size="-"):
        pass


class LiveServer:
    """The app on http://127.0.0.1:<free port>. `app` is the same Flask app the server runs, so a test
    can arrange data with the factories inside `with live_server.app.app_context()` (they commit)."""

    def __init__(self, app):
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-server", daemon=True)

    def start(self) -> "LiveServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()

    def __call__(self, path: str = "/") -> str:
        return self.url + path


# Configuration value meaning "this live server's own address" (known once its port is bound).
SELF_URL = "<the live server's own URL>"


@pytest.fixture
def start_live_server(sqlite_template, tmp_path):
    """start_live_server(extra_config) -> LiveServer, for tests that need more configuration than the
    defaults (the fake gateways' addresses, for instance). PUBLIC_URL=SELF_URL becomes the server's own
    address, so that gateways (the fakes) can call it back over HTTP. At most one per test."""
    started = []

    def start(extra: dict | None = None) -> LiveServer:
        assert not started, "one live server per test"
        db_path = tmp_path / "browser.sqlite3"
        shutil.copy(sqlite_template, db_path)
        app = create_app(base_config(f"sqlite:///{db_path}", tmp_path) | (extra or {}))
        server = LiveServer(app)
        if app.config.get("PUBLIC_URL") == SELF_URL:
            app.config["PUBLIC_URL"] = server.url
        server.start()
        context = app.app_context()
        context.push()
        factories.bind(db.session)
        started.append((server, context))
        return server

    yield start
    for server, context in started:
        try:
            db.session.remove()
            server.stop()
            db.engine.dispose()
        finally:
            context.pop()


@pytest.fixture
def live_server(start_live_server):
    """A fresh copy of the migrated SQLite database, uploads in a temporary folder, CSRF on."""
    return start_live_server()


# ---------------------------------------------------------------- pages that watch for errors


class BrowserErrors:
    """Console errors and page errors of every page in a context. Known, expected ones (a 404 page
    that the test opens on purpose) are allowed by a regular expression."""

    def __init__(self):
        self.seen: list[str] = []
        self.allowed: list[re.Pattern] = []

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def watch(self, page) -> None:
        def on_console(message):
            if message.type == "error":
                url = (message.location or {}).get("url") or ""
                self.seen.append(f"console: {message.text} [{url}]")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.seen.append(f"page error: {error}"))

    def unexpected(self) -> list[str]:
        return [e for e in self.seen if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def open_context(browser):
    """open_context(PHONE, java_script_enabled=False) -> (context, errors). Closed after the test,
    which then fails if any of its pages logged an error nobody allowed."""
    opened = []

    def open_(options: dict, **extra):
        errors = BrowserErrors()
        context = browser.new_context(**options, **extra)
        context.set_default_timeout(TIMEOUT_MS)
        context.on("page", errors.watch)
        opened.append((context, errors))
        return context, errors

    yield open_
    unexpected = []
    for context, errors in opened:
        context.close()
        unexpected += errors.unexpected()
    if unexpected:
        pytest.fail("the browser reported errors:\n" + "\n".join(unexpected), pytrace=False)


@pytest.fixture
def phone_context(open_context):
    """WeChat on an iPhone-sized screen: (context, errors)."""
    return open_context(PHONE)


@pytest.fixture
def phone(phone_context):
    return phone_context[0].new_page()


@pytest.fixture
def phone_errors(phone_context) -> BrowserErrors:
    return phone_context[1]


@pytest.fixture
def phone_without_js_context(open_context):
    """The same phone with JavaScript off (browsing must still work): (context, errors)."""
    return open_context(PHONE, java_script_enabled=False)


@pytest.fixture
def phone_without_js(phone_without_js_context):
    return phone_without_js_context[0].new_page()


def accept_confirms(page) -> list[str]:
    """Say yes to the browser's own confirm() (the back office's hx-confirm on money actions) and keep
    what each one asked, for the test to check. Without this Playwright says no, and nothing is sent."""
    asked: list[str] = []

    def on_dialog(dialog):
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", on_dialog)
    return asked


@pytest.fixture
def desktop_context(open_context):
    return open_context(DESKTOP)


@pytest.fixture
def desktop(desktop_context):
    return desktop_context[0].new_page()


@pytest.fixture
def desktop_errors(desktop_context) -> BrowserErrors:
    return desktop_context[1]


# ---------------------------------------------------------------- screenshots


@pytest.fixture
def shot(request):
    """shot(page, "name") saves test-artifacts/<test>/<nn>-name.png and returns its path."""
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    count = iter(range(1, 1000))

    def take(page, name: str, *, full_page: bool = False) -> Path:
        path = folder / f"{next(count):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take
