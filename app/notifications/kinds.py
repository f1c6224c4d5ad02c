"""The message types the shop sends, the values each can fill in, and the merchant's mapping text: one
`keyword=text` a line, the text holding placeholders such as {order_no}. WeChat's older templates use
first/keyword1…/remark, the newer ones thing1/amount2/time3…; the mapping serves both."""

import re
from dataclasses import dataclass

from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.money import format_fen


@dataclass(frozen=True)
class Kind:
    name: str
    label: object  # lazy string
    audience: object
    placeholders: tuple[str, ...]
    first: object  # the default mapping's opening line, and its closing one
    remark: object
    keywords: tuple[str, ...]  # the default mapping's keyword1, keyword2, … in order


ORDER_VALUES = ("order_no", "amount", "product", "time", "status", "shop")
KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("order_paid", _l("Order paid"), _l("Shoppers"), ORDER_VALUES,
             _l("We have your payment."), _l("We will ship it soon."), ("order_no", "product", "amount", "time")),
        Kind("order_shipped", _l("Order shipped"), _l("Shoppers"), (*ORDER_VALUES, "carrier", "tracking_no"),
             _l("Your order is on its way."), _l("Tap to see where the parcel is."),
             ("order_no", "carrier", "tracking_no", "time")),
        Kind("refund_result", _l("After-sales result (approved, refunded, rejected)"), _l("Shoppers"),
             (*ORDER_VALUES, "reason"), _l("Your after-sales request has news."), _l("Tap to see the details."),
             ("order_no", "status", "amount", "time")),
        Kind("group_result", _l("Group buy result (formed or not)"), _l("Shoppers"), ORDER_VALUES,
             _l("Your group buy has a result."), _l("If it did not form, the money goes back the way you paid."),
             ("order_no", "product", "status", "time")),
        Kind("commission_new", _l("New commission"), _l("Distributors"), ORDER_VALUES,
             _l("You earned a commission."), _l("It can be withdrawn once the order is settled."),
             ("order_no", "amount", "status", "time")),
        Kind("withdrawal_paid", _l("Withdrawal paid"), _l("Distributors"), ("amount", "time", "status", "shop", "reference"),
             _l("Your withdrawal has been paid."), _l("Please check your account."), ("amount", "reference", "time")),
    )
}  # fmt: skip

PLACEHOLDER_LABELS = {
    "order_no": _l("order number"),
    "amount": _l("amount"),
    "product": _l("product"),
    "time": _l("time"),
    "status": _l("status"),
    "shop": _l("shop name"),
    "carrier": _l("carrier"),
    "tracking_no": _l("tracking number"),
    "reason": _l("reason"),
    "reference": _l("transfer reference"),
}
KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
TEMPLATE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{10,64}$")
MAX_LINES, MAX_TEXT = 20, 200
SHORT_KEYS = {"thing": 20, "character_string": 32, "phrase": 5, "car_number": 8, "phone_number": 17}


def default_mapping(kind: Kind) -> str:
    """first=… / keyword1={…} … / remark=…: WeChat's classic template layout, with the kind's values."""
    lines = [f"first={kind.first}"]
    lines += [f"keyword{number}={{{value}}}" for number, value in enumerate(kind.keywords, 1)]
    lines.append(f"remark={kind.remark}")
    return "\n".join(lines)


def parse_mapping(kind: Kind, text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The mapping's (keyword, text) pairs, and what is wrong with it (messages for people)."""
    pairs, problems, seen = [], [], set()
    lines = [line.strip() for line in (text or "").replace("\r", "").split("\n") if line.strip()]
    if not lines:
        return [], [_("Please say which template keyword gets which text, one keyword=text a line.")]
    if len(lines) > MAX_LINES:
        problems.append(_("At most %(n)d lines, one a template keyword.", n=MAX_LINES))
    for number, line in enumerate(lines, 1):
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep or not KEY_RE.match(key):
            problems.append(_("Line %(n)d: write keyword=text, e.g. keyword1={order_no}.", n=number))
            continue
        if key in seen:
            problems.append(_("Line %(n)d: the keyword %(key)s is there twice.", n=number, key=key))
        seen.add(key)
        if len(value) > MAX_TEXT:
            problems.append(_("Line %(n)d: at most %(max)d characters.", n=number, max=MAX_TEXT))
        if value.count("{") != value.count("}"):
            problems.append(_("Line %(n)d: a { or } has no partner.", n=number))
        unknown = [name for name in PLACEHOLDER_RE.findall(value) if name not in kind.placeholders]
        if unknown:
            problems.append(
                _(
                    "Line %(n)d: {%(name)s} is not a value of this message. It can use: %(names)s",
                    n=number,
                    name=unknown[0],
                    names=" ".join(f"{{{name}}}" for name in kind.placeholders),
                )
            )
        pairs.append((key, value))
    return pairs, problems


def _limit(key: str, value: str) -> str:
    """WeChat refuses values longer than a newer template's field allows (thing: 20 characters, …)."""
    for prefix, length in SHORT_KEYS.items():
        if key.startswith(prefix) and key[len(prefix) :].isdigit():
            return value if len(value) <= length else value[: length - 1] + "…"
    return value[:MAX_TEXT]


def render(kind: Kind, mapping: str, values: dict[str, str]) -> dict:
    """The `data` of the template message: {keyword: {"value": text with the placeholders filled in}}."""
    pairs, _problems = parse_mapping(kind, mapping)
    return {
        key: {"value": _limit(key, PLACEHOLDER_RE.sub(lambda m: str(values.get(m.group(1), "")), text))}
        for key, text in pairs
    }


def money(fen: int) -> str:
    """¥1280.00: WeChat's amount keywords take a currency sign and digits, no thousands separator."""
    return format_fen(fen, grouping=False)


def when(moment) -> str:
    return format_datetime(moment, "yyyy-MM-dd HH:mm") if moment else ""
