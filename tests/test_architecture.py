"""Arrows point down: a lower package never imports a higher one (STYLE.md). catalog, accounts and settings
know nothing of orders; orders nothing of payments; payments nothing of distribution or marketing; no
domain package knows the views. Higher areas react to lower ones through signals instead. Every import in
every module is read, those inside functions too."""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"

# Lower number, lower layer. A module may import its own layer and the layers below.
LAYERS = {
    0: {
        "money",
        "errors",
        "numbers",
        "timeutil",
        "db_types",
        "extensions",
        "secrets_box",
        "request_input",
        "webutil",
        "forms",
        "config",
        "jobs",
        "media",
        "storage",
        "ratelimit",
        "static_files",
        "lazy_csrf",
        "page_cache",
        "backups",
    },  # fmt: skip
    1: {"accounts", "catalog", "settings"},
    2: {"orders"},
    3: {"payments"},
    4: {"distribution", "marketing", "notifications"},
    5: {"shop", "admin", "api", "reports", "customers"},
    6: {
        "demo",
        "demo_history",
        "demo_orders",
        "demo_marketing",
        "demo_groups",
        "demo_art",
        "demo_drawings",
        "demo_sketch",
        "cli",
        "models",
        "__init__",
    },
}
LAYER_OF = {name: layer for layer, names in LAYERS.items() for name in names}
# Pure functions (no database, no request) that only use layer 0: any layer may call them. The price of a
# basket is marketing's rule, but checkout (orders) must ask it, as it asks money how to allocate.
PURE_MODULES = {"app.marketing.pricing", "app.distribution.engine"}


def area(module: str) -> str:
    """app.orders.checkout -> orders; app.money -> money; app -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("app"):
            # from app import orders / from app.marketing import pricing: the module, or the submodule
            # named (a name that is not a module reads as its package, which is in the same area).
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("app.")]
    return found


def test_every_area_has_a_layer():
    areas = {p.stem if p.is_file() else p.name for p in APP.iterdir() if p.suffix == ".py" or p.is_dir()}
    missing = sorted(a for a in areas - {"translations", "__pycache__"} if a not in LAYER_OF)
    assert not missing, f"say which layer these belong to: {missing}"


def test_no_package_imports_a_higher_one():
    wrong = []
    for path in sorted(APP.rglob("*.py")):
        module = "app." + ".".join(path.relative_to(APP).with_suffix("").parts)
        mine = (
            area(module.removesuffix(".__init__"))
            if path.name != "__init__.py" or path.parent != APP
            else "__init__"
        )
        for lineno, imported in imports_of(path):
            if any(imported == pure or imported.startswith(pure + ".") for pure in PURE_MODULES):
                continue
            theirs = area(imported)
            if LAYER_OF.get(theirs, 0) > LAYER_OF[mine]:
                wrong.append(
                    f"{path.relative_to(APP.parent)}:{lineno} ({mine}) imports {imported} ({theirs})"
                )
    assert not wrong, "lower packages import higher ones:\n" + "\n".join(wrong)


def test_pure_modules_use_nothing_but_the_bottom_layer():
    for module in PURE_MODULES:
        path = APP.parent / (module.replace(".", "/") + ".py")
        higher = [imported for _line, imported in imports_of(path) if LAYER_OF.get(area(imported), 0) > 0]
        assert not higher, f"{module} is meant to be pure but imports {higher}"
