"""Where a worker's memory goes: the resident size (VmRSS) of a fresh Python process after each step a
gunicorn worker takes — its own modules, Flask, SQLAlchemy, the database driver, the Flask extensions,
Fenxiao's code, and the shop pages served once — measured in a new process per step, so each figure is
what a worker holds at that point and the differences are what each step adds. `make bench-http` prints it
beside the worker RSS it measured under load."""

import json
import subprocess
import sys
from pathlib import Path

from bench.servers import ROOT

# Each step's code runs after every step before it, in one new process.
_STEPS = [
    ("Python + gunicorn's sync worker", "import gunicorn.app.wsgiapp, gunicorn.workers.sync"),
    ("+ Flask, Werkzeug, Jinja", "import flask"),
    ("+ SQLAlchemy ORM", "import sqlalchemy.orm"),
    (
        "+ Flask extensions (SQLAlchemy, Login, WTF, Babel, Limiter, htmx)",
        "import flask_sqlalchemy, flask_login, flask_wtf, flask_babel, flask_limiter, flask_htmx",
    ),
    ("+ the database driver and dialect", "import {driver}"),
    ("+ Fenxiao's code (import wsgi: the app made)", "import wsgi"),
    (
        "+ the shop pages served once",
        "client = wsgi.app.test_client()\nfor path in {paths!r}: client.get(path)",
    ),
]
_DRIVERS = {
    "sqlite": "sqlite3, sqlalchemy.dialects.sqlite",
    "postgresql": "psycopg, sqlalchemy.dialects.postgresql",
}
_RSS = "for line in open('/proc/self/status'):\n    if line.startswith('VmRSS:'): print(int(line.split()[1]))"


def steps(env: dict, paths: list[str]) -> list[tuple[str, float]]:
    """(step, MB after it) for a worker with `env` (the server's environment) serving `paths`."""
    driver = _DRIVERS["postgresql" if env["DATABASE_URL"].startswith("postgres") else "sqlite"]
    code, found = [], []
    for label, step in _STEPS:
        code.append(step.format(driver=driver, paths=paths))
        output = subprocess.run(
            [sys.executable, "-c", "\n".join([*code, _RSS])],
            env={**env, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        found.append((label, int(output.split()[-1]) / 1024))
    return found


def report(columns: dict[str, list[tuple[str, float]]]) -> None:
    """Print the steps of each backend side by side: the size after each step and what it added."""
    names = list(columns)
    print("where a Fenxiao worker's memory goes (VmRSS of a new process after each step, MB; + what it adds)")
    print(f"{'step':<66}" + "".join(f" {name:>18}" for name in names))
    for index, (label, _mb) in enumerate(next(iter(columns.values()))):
        cells = []
        for name in names:
            mb = columns[name][index][1]
            added = mb - columns[name][index - 1][1] if index else mb
            cells.append(f" {mb:>8.1f} (+{added:>5.1f})")
        print(f"{label:<66}" + "".join(cells))


if __name__ == "__main__":  # python -m bench.memory DATABASE_URL [PATH ...], on a migrated database
    url, *given = sys.argv[1:] or ["sqlite:///" + str(Path(ROOT) / "instance" / "fenxiao.sqlite3")]
    from bench.servers import server_env

    result = steps(server_env(url, Path("/tmp"), "production"), given or ["/", "/categories", "/search?q=a"])
    report({url.split(":")[0]: result})
    print(json.dumps(result))
