"""What the HTTP benchmarks (`make bench-http`, `make bench-lighthouse`) share: a gunicorn server started for
the run, a browser-like client that logs in, and the Debian packages they install when missing."""

import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

from app.storage import S3_SETTINGS

ROOT = Path(__file__).resolve().parent.parent


class Server:
    """A gunicorn master started for the benchmark; its workers' RSS is read from /proc."""

    def __init__(
        self, label: str, app: str, env: dict, *, workers: int, folder: Path, port: int | None = None
    ):
        self.label = label
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"gunicorn-{self.port}.log"
        command = [
            sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{self.port}",
            "--chdir", str(ROOT), "--error-logfile", str(self.log), app,
        ]  # fmt: skip
        with self.log.open("ab") as log:  # the app's own log lines go there too, not into the table
            self.process = subprocess.Popen(
                command, env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn for {self.label} exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=5) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn for {self.label} did not answer within 60 s")

    def worker_rss_mb(self) -> list[float]:
        sizes = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
            except OSError:
                continue
            if re.search(rf"^PPid:\s+{self.process.pid}$", text, re.M):
                found = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
                if found:
                    sizes.append(int(found.group(1)) / 1024)
        return sorted(sizes)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database_url: str, folder: Path, environment: str) -> dict:
    """The environment Fenxiao runs with in a benchmark: `environment` is production for what a shopper
    reaches, development only where the sandbox is needed (its payments, `flask seed-demo`)."""
    return {
        "FENXIAO_ENV": environment,
        "SECRET_KEY": "bench-http-secret-key",
        "DATABASE_URL": database_url,
        "UPLOAD_FOLDER": str(folder / "uploads"),
        "LOGIN_RATE_LIMIT": "1000 per minute",  # the benchmark logs its shoppers in from one address
        # the operator's own buckets stay out of it: the benchmark's pictures go to its temporary folder
        **{name: "" for name in (*S3_SETTINGS, "MEDIA_S3_ADDRESSING_STYLE", "BACKUP_S3_BUCKET")},
    }


class Browser:
    """Cookies and CSRF tokens, as the shop's own pages hand them out."""

    def __init__(self, base: str):
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> tuple[str, str]:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.geturl(), response.read().decode()

    def post(self, path: str, data: dict, csrf_from: str) -> tuple[str, str]:
        token = re.search(r'"X-CSRFToken": "([^"]+)"', csrf_from) or re.search(
            r'name="csrf_token" value="([^"]+)"', csrf_from
        )
        body = urllib.parse.urlencode({**data, "csrf_token": token.group(1) if token else ""}, doseq=True)
        request = urllib.request.Request(self.base + path, data=body.encode(), method="POST")
        with self.opener.open(request, timeout=30) as response:
            return response.geturl(), response.read().decode()

    def log_in(self, mobile: str, password: str) -> None:
        _url, page = self.get("/login")
        url, _page = self.post("/login", {"mobile": mobile, "password": password}, page)
        if "/login" in urllib.parse.urlparse(url).path:
            raise RuntimeError(f"{mobile} could not log in")

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


def form_fields(page: str, action: str) -> dict[str, str]:
    """The values a browser would send from the form posting to `action`: hidden inputs and checked
    radios and checkboxes."""
    form = re.search(rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', page, re.S)
    if form is None:
        raise RuntimeError(f"no form posting to {action}")
    fields = {}
    for tag in re.findall(r"<input\b[^>]*>", form.group(1)):
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', tag))
        kind = attrs.get("type", "text")
        if "name" not in attrs or (kind in ("radio", "checkbox") and "checked" not in tag):
            continue
        fields[attrs["name"]] = html.unescape(attrs.get("value", ""))
    return fields


def apt_install(packages: list[str], needed_by: str) -> None:
    """Install Debian packages a benchmark needs when running as root (as CI does); otherwise say how and
    stop."""
    names = " ".join(packages)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing {names} (apt-get install -y {names}) …", flush=True)
        apt = {"env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, "stdout": subprocess.DEVNULL}
        subprocess.run(["apt-get", "update", "-qq"], **apt)  # a fresh machine has no package lists yet
        if subprocess.run(["apt-get", "install", "-y", "-qq", *packages], **apt).returncode == 0:
            return
    sys.exit(f"{needed_by} needs {names}: install it (Debian/Ubuntu: sudo apt-get install {names})")
