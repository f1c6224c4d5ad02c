"""Turn the explanation stored at payment time into sentences a merchant (or a distributor, with the buyer
masked) understands: who earned what and why, and why someone earned nothing. The answer to the most
common complaint merchants get: "why didn't I get commission?"."""

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User, mask_mobile
from app.distribution import engine
from app.distribution.ledger import commission_net
from app.distribution.models import Commission, CommissionExplanation, CommissionStatus
from app.money import format_bp, format_fen
from app.orders.models import Order

SOURCE_TEXT = {
    "product": lambda: _("the product's own rates"),
    "grade": lambda: _("the distributor's grade"),
    "settings": lambda: _("the shop's rates"),
}


def mask_name(name: str) -> str:
    """张三丰 -> 张**: how a buyer's name is shown to a distributor."""
    name = (name or "").strip()
    return name[:1] + "**" if name else "**"


@dataclass
class ShareRow:
    line_title: str
    level: int
    who: str
    base_fen: int
    rate: str
    granted: str
    amount_fen: int
    note: str


@dataclass
class PersonRow:
    level: int
    who: str
    distributor_id: int | None
    status: str
    original_fen: int
    current_fen: int


@dataclass
class Explanation:
    available: bool
    buyer: str = ""
    chain: list[str] = field(default_factory=list)
    people: list[PersonRow] = field(default_factory=list)
    shares: list[ShareRow] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


def explain(session: Session, order: Order, *, for_distributor_id: int | None = None) -> Explanation:
    """The explanation of an order's commission. With `for_distributor_id` the buyer is masked and only
    that distributor's rows are shown (a distributor sees why *they* got what they got)."""
    record = session.scalar(select(CommissionExplanation).where(CommissionExplanation.order_id == order.id))
    if record is None:
        return Explanation(
            available=False, reasons=[_("This order has not been paid, so there is no commission yet.")]
        )
    data = record.data
    masked = for_distributor_id is not None
    buyer = order.user
    buyer_text = (
        f"{mask_name(buyer.nickname)} / {mask_mobile(buyer.mobile)}"
        if masked
        else f"{buyer.display_name} {buyer.mobile or ''}"
    )
    result = Explanation(available=True, buyer=buyer_text)
    if not data.get("enabled", False):
        result.reasons.append(_("Distribution was switched off when this order was paid."))
        return result

    names = {info["distributor_id"]: info for info in data["chain"] if info.get("distributor_id")}
    for level, info in enumerate(data["chain"], start=1):
        state = _("active") if info["active"] else _("inactive (earns nothing; levels do not shift)")
        grade = f" · {info['grade']}" if info.get("grade") else ""
        until = _bound_until(info)
        result.chain.append(
            _(
                "Level %(level)d: %(name)s (%(state)s%(grade)s)%(until)s",
                level=level,
                name=info["name"],
                state=state,
                grade=grade,
                until=until,
            )
        )
    result.reasons += _why_chain_stops(data)

    commissions = {
        (c.distributor_id, c.level): c
        for c in session.scalars(select(Commission).where(Commission.order_id == order.id))
    }
    for (distributor_id, level), commission in sorted(commissions.items(), key=lambda item: item[0][1]):
        if masked and distributor_id != for_distributor_id:
            continue
        frozen, available = commission_net(session, commission.id)
        result.people.append(
            PersonRow(
                level,
                names.get(distributor_id, {}).get("name", f"#{distributor_id}"),
                distributor_id,
                _status_text(commission, frozen + available),
                commission.original_fen,
                frozen + available,
            )
        )
        if commission.status == CommissionStatus.VOIDED:
            result.reasons.append(_("Voided by the shop: %(reason)s", reason=commission.void_reason or ""))

    settings = data["settings"]
    for share in data["shares"]:
        if masked and share["distributor_id"] != for_distributor_id:
            continue
        line = data["lines"][share["line"]]
        who = names.get(share["distributor_id"], {}).get("name") if share["distributor_id"] else None
        result.shares.append(
            ShareRow(
                line_title=line["title"] + (f" · {line['spec']}" if line.get("spec") else ""),
                level=share["level"],
                who=who or "—",
                base_fen=share["base_fen"],
                rate=f"{format_bp(share['rate_bp'])} · {SOURCE_TEXT[share['rate_source']]()}",
                granted=format_bp(share["granted_bp"]),
                amount_fen=share["amount_fen"],
                note=_share_note(share, line, settings),
            )
        )
    if record.flags:
        result.flags = [_flag_text(flag, names, masked) for flag in record.flags]
        if record.flags_cleared_at:
            result.reasons.append(
                _("Fraud flags were cleared by the shop on %(date)s.", date=_date(record.flags_cleared_at))
            )
        else:
            result.reasons.append(
                _("Held by a fraud flag: the commission stays frozen until the shop clears or voids it.")
            )
    return result


def _bound_until(info: dict) -> str:
    if info.get("bound_until"):
        return " " + _("bound until %(date)s", date=info["bound_until"][:10])
    return ""


def _why_chain_stops(data: dict) -> list[str]:
    stop = data.get("stop")
    levels = data["settings"]["levels"]
    if not stop or stop["after"] >= levels:
        return []
    if stop["why"] == "no_binding":
        if stop["after"] == 0:
            return [_("The buyer was not bound to any distributor when paying, so nobody earns commission.")]
        return [
            _(
                "The chain ends at level %(n)d: that person has no referrer, so no one earns above it.",
                n=stop["after"],
            )
        ]
    if stop["why"] == "binding_lapsed":
        return [
            _(
                "A binding lapsed on %(date)s (after level %(n)d), so no one above it earns.",
                date=stop["until"][:10],
                n=stop["after"],
            )
        ]
    return [_("The chain loops back on itself after level %(n)d; it stops there.", n=stop["after"])]


def _share_note(share: dict, line: dict, settings: dict) -> str:
    reason = share["reason"]
    if reason == engine.NO_BENEFICIARY:
        return _("No one at this level")
    if reason == engine.OPTED_OUT and line.get("activity_no_commission"):
        return _("Sold at an activity price: the activity pays no commission")
    if reason == engine.OPTED_OUT:
        return _("The product pays no commission")
    if reason == engine.INACTIVE:
        return _("Distributor inactive at payment time")
    if reason == engine.CAPPED:
        return _("Trimmed by the 30%% cap (from %(rate)s)", rate=format_bp(share["rate_bp"]))
    if reason == engine.ZERO_RATE:
        return _("Rate is 0 at this level")
    if reason == engine.ZERO_BASE:
        return _("Nothing was paid for this line after discounts")
    exact = share["base_fen"] * share["granted_bp"]
    if exact % 10000:
        return _(
            "%(base)s × %(rate)s = %(amount)s (rounded down)",
            base=format_fen(share["base_fen"]),
            rate=format_bp(share["granted_bp"]),
            amount=format_fen(share["amount_fen"]),
        )
    return _("%(base)s × %(rate)s", base=format_fen(share["base_fen"]), rate=format_bp(share["granted_bp"]))


def _status_text(commission: Commission, current_fen: int) -> str:
    if commission.status == CommissionStatus.VOIDED:
        return _("Voided")
    if current_fen == 0 and commission.original_fen > 0:
        return _("Refunded")
    if commission.status == CommissionStatus.RELEASED:
        return _("Available")
    if commission.held:
        return _("Frozen (held for review)")
    return _("Frozen")


FLAG_TEXT = {
    "same_mobile": lambda who: _("The delivery phone number is %(who)s's own number", who=who),
    "same_address": lambda who: _("The delivery address is one of %(who)s's addresses", who=who),
    "same_device": lambda who: _("The buyer used the same device as %(who)s", who=who),
}


def _flag_text(flag: dict, names: dict, masked: bool) -> str:
    if flag["kind"] == "many_orders_one_ip":
        return ngettext(
            "%(num)d order from one network address within an hour",
            "%(num)d orders from one network address within an hour",
            flag.get("count", 0),
        )
    who = names.get(flag.get("distributor_id"), {}).get("name", "?")
    return FLAG_TEXT.get(flag["kind"], lambda w: flag["kind"])(who)


def _date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def buyer_label(user: User) -> str:
    return f"{mask_name(user.nickname)} / {mask_mobile(user.mobile)}"
