"""Every sentence a user can see is translated: the msgids extracted from the code and the templates (as
babel.cfg says) must all have a non-fuzzy Simplified Chinese translation, and the compiled catalog the
app loads must say the same as the .po file."""

import gettext
from functools import cache
from pathlib import Path

from babel.messages import frontend
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).parent.parent
CATALOG = ROOT / "app" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages"
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}


@cache
def extracted_messages() -> list[tuple[str, int, str | tuple[str, ...]]]:
    parse_mapping = getattr(frontend, "parse_mapping_cfg", None) or frontend.parse_mapping
    with open(ROOT / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping(cfg)
    for options in options_map.values():
        # A template Jinja cannot parse would otherwise be skipped silently, with all its sentences.
        options.setdefault("silent", "false")
    return [
        (filename, lineno, message)
        for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS
        )
    ]


def test_extraction_finds_the_apps_sentences():
    msgids = {m if isinstance(m, str) else m[0] for _f, _l, m in extracted_messages()}
    assert len(msgids) > 100
    assert "Page not found" in msgids  # from app/__init__.py
    assert "Search products" in msgids  # from templates/shop/index.html


def test_every_msgid_in_code_and_templates_has_a_chinese_translation():
    with open(f"{CATALOG}.po", "rb") as po:
        catalog = read_po(po)
    problems = []
    for filename, lineno, message in extracted_messages():
        msgid = message if isinstance(message, str) else message[0]
        entry = catalog.get(msgid)
        if entry is None:
            problem = "missing from the catalog (run /tmp/tr/update.sh or make extract-messages)"
        elif entry.fuzzy:
            problem = "fuzzy: check the translation and remove the fuzzy flag"
        elif not all(entry.string if isinstance(entry.string, tuple) else [entry.string]):
            problem = "not translated"
        else:
            continue
        problems.append(f"{filename}:{lineno}: {msgid!r} is {problem}")
    assert not problems, f"{len(problems)} untranslated sentences:\n" + "\n".join(sorted(set(problems)))


def test_the_compiled_catalog_matches_the_po_file():
    """The app reads messages.mo: a translation only in the .po never reaches the shop."""
    with open(f"{CATALOG}.po", "rb") as po:
        source = read_po(po)
    mo_file = Path(f"{CATALOG}.mo")
    assert mo_file.exists(), "messages.mo is missing: run `make translations` (make run and make test do it)"
    with mo_file.open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)  # the reader the app uses (babel's read_mo garbles plurals)
    stale = []
    for message in source:
        if not message.id or message.fuzzy or not message.string:
            continue
        if message.pluralizable:
            in_mo = tuple(compiled.ngettext(*message.id, n) for n in range(len(message.string)))
        else:
            in_mo = compiled.gettext(message.id)
        if in_mo != message.string:
            stale.append(message.id)
    assert not stale, "messages.mo is out of date (run `make translations`):\n" + "\n".join(
        map(repr, stale[:20])
    )
