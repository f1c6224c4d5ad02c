"""No module in app/ grows past 600 lines (STYLE.md): past that, find-ability dies first, so a module is
split by subject before it gets there."""

from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
MAX_LINES = 600


def test_no_module_in_app_is_over_600_lines():
    too_long = []
    for path in sorted(APP.rglob("*.py")):
        if "migrations" in path.relative_to(APP).parts:
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            too_long.append(f"{path.relative_to(APP.parent)}: {lines} lines")
    listing = "\n".join(too_long)
    assert not too_long, f"split these by subject (at most {MAX_LINES} lines a module):\n{listing}"
