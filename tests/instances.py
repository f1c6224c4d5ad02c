"""Start the shop as production runs it — `gunicorn -w 2`, FENXIAO_ENV=production, settings from the
environment — on a test database, once (tests/test_gunicorn.py) or as several hosts (tests/test_scale_out.py)."""

import os
import re
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(db_url: str, folder: Path, **settings: str) -> dict[str, str]:
    """This process's environment without any Fenxiao or rate-limit setting of its own, plus production mode
    on `db_url` and `settings` (SECRET_KEY and SECRETS_KEY at least)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("FENXIAO_", "RATELIMIT_"))}
    return (
        inherited
        | {
            "FENXIAO_ENV": "production",
            "DATABASE_URL": db_url,
            "UPLOAD_FOLDER": str(folder / "uploads"),
            "BACKUP_DIR": str(folder / "backups"),
        }
        | settings
    )


def _wait_until_up(base: str, process: subprocess.Popen, log: Path) -> None:
    for _ in range(300):
        try:
            if requests.get(base + "/", timeout=10).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or still warming up
            pass
        if process.poll() is not None:
            pytest.fail("gunicorn stopped:\n" + log.read_text()[-3000:])
        time.sleep(0.1)
    pytest.fail("gunicorn did not answer:\n" + log.read_text()[-3000:])


@contextmanager
def hosts(envs: list[dict[str, str]], logs: list[Path], app_spec: str = "app:create_app()"):
    """One `gunicorn -w 2` per environment, each its own host, all run from this worktree; they start side by
    side (each takes a few seconds). Yields their base URLs once every one answers."""
    with ExitStack() as stack:
        started = []
        for env, log in zip(envs, logs, strict=True):
            port = free_port()
            output = stack.enter_context(open(log, "w"))  # noqa: SIM115 - the stack closes it
            process = subprocess.Popen(
                [str(GUNICORN), "-w", "2", "-b", f"127.0.0.1:{port}", app_spec],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, process)
            started.append((f"http://127.0.0.1:{port}", process, log))
        for base, process, log in started:
            _wait_until_up(base, process, log)
        yield [base for base, _process, _log in started]


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(15)


def browser(base: str, path: str) -> tuple[requests.Session, str]:
    """A new visitor with the CSRF token of the page at `path`."""
    visitor = requests.Session()
    token = CSRF_RE.search(visitor.get(base + path, timeout=10).text)[1]
    return visitor, token
