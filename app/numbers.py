"""Numbers as people type them on Chinese phones: ASCII or full-width digits, nothing else. Python's int()
would also take "1_0" (as 10), " 12 ", "+3" and Arabic-Indic or superscript digits; a form must not."""

import re

# Full-width digits, point and yuan sign (what a Chinese IME gives) become their ASCII twins.
FULL_WIDTH = str.maketrans({**{chr(0xFF10 + d): str(d) for d in range(10)}, "．": ".", "￥": "¥", "－": "-"})

_WHOLE = re.compile(r"(-?)([0-9]{1,15})", re.ASCII)


def parse_whole_number(text, *, allow_negative: bool = False, max_digits: int = 9) -> int | None:
    """ "12" or "１２" -> 12; None for anything else (empty, "1_0", "1e3", "12.0", too many digits)."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        text = str(text)
    if not isinstance(text, str):
        return None
    match = _WHOLE.fullmatch(text.translate(FULL_WIDTH).strip())
    if not match or len(match[2]) > max_digits or (match[1] and not allow_negative):
        return None
    return int(match[0])
