"""Back-office forms for the offers: 限时折扣 with its SKU rows, 满减/满折 with its tiers, and coupon templates,
with the scope chooser the last two share. Parsing only: the rules are in marketing.campaigns and
marketing.coupons."""

from dataclasses import dataclass
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, RadioField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional

from app.db_types import parse_id
from app.forms import IntegerField, MoneyField, text_field, whole_number
from app.marketing import campaigns
from app.marketing.forms import (
    MAX_SCOPE_IDS,
    NAME_MAX,
    IdListField,
    MarketingForm,
    ShopTimeField,
    ZheField,
    parse_zhe_bp,
    same_names,
    zhe_text,
)
from app.marketing.models import CouponChannel, CouponKind
from app.money import MoneyError, parse_yuan, yuan
from app.timeutil import utcnow

SUGGESTED_DAYS = 7

# ---------------------------------------------------------------- what an offer covers


SCOPE_CHOICES = [
    SelectChoice("all", _l("All products")),
    SelectChoice("products", _l("Chosen products")),
    SelectChoice("categories", _l("Chosen categories")),
]

SCOPE_ALIASES = {"scope_ids": "scope", "scope_kind": "scope"}  # the chooser shows both services' refusals


class ScopeMixin:
    """The scope chooser: all products, chosen products or chosen categories."""

    scope_kind = RadioField(_l("Applies to"), choices=SCOPE_CHOICES, default="all", validate_choice=False)
    scope_product_ids = IdListField()
    scope_category_ids = IdListField()

    def load_scope(self, kind: str, ids: list[int]) -> None:
        self.scope_kind.data = kind
        if kind == "products":
            self.scope_product_ids.data = list(ids)
        elif kind == "categories":
            self.scope_category_ids.data = list(ids)

    def scope_ids(self) -> list[int]:
        if self.scope_kind.data == "products":
            return self.scope_product_ids.data
        if self.scope_kind.data == "categories":
            return self.scope_category_ids.data
        return []

    def scope_action(self, action: str) -> None:
        """Refresh buttons of the product chooser: "add-product-12", "remove-product-12"."""
        verb, _, raw = action.partition("-product-")
        product_id = parse_id(raw)
        if product_id is None:
            return
        chosen = self.scope_product_ids.data
        if verb == "add" and product_id not in chosen and len(chosen) < MAX_SCOPE_IDS:
            chosen.append(product_id)
        elif verb == "remove" and product_id in chosen:
            chosen.remove(product_id)


class CampaignForm(MarketingForm):
    """A campaign (限时折扣, 满减/满折): it runs from starts_at to ends_at. A new one starts at the next full
    hour and runs a week, until the merchant says otherwise."""

    starts_at = ShopTimeField(_l("Starts"), validators=[InputRequired(_l("Enter when it starts."))])
    ends_at = ShopTimeField(_l("Ends"), validators=[InputRequired(_l("Enter when it ends."))])

    def __init__(self, formdata=None, *, record=None):
        super().__init__(formdata, record=record)
        if formdata is None and record is None:
            start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            self.starts_at.data, self.ends_at.data = start, start + timedelta(days=SUGGESTED_DAYS)


# ---------------------------------------------------------------- 限时折扣


@dataclass
class ItemRow:
    """One SKU of a 限时折扣 as typed: a price in yuan or a discount in 折 (text, shown back as typed)."""

    sku_id: int
    price: str = ""
    discount: str = ""
    error: str = ""
    draft: campaigns.ItemDraft | None = None

    def parse(self) -> bool:
        price, discount = self.price.strip(), self.discount.strip()
        self.error, self.draft = "", None
        if bool(price) == bool(discount):
            self.error = str(_l("Enter either an activity price or a discount."))
            return False
        try:
            if price:
                self.draft = campaigns.ItemDraft(self.sku_id, price_fen=parse_yuan(price))
            else:
                self.draft = campaigns.ItemDraft(self.sku_id, discount_bp=parse_zhe_bp(discount))
        except (MoneyError, ValueError) as error:
            self.error = str(error)
            return False
        return True


class TimedDiscountForm(CampaignForm):
    name = text_field(_l("Name"), NAME_MAX, required=_l("Please name the discount."))
    per_user_limit = whole_number(_l("Limit per customer (units)"), 1, 9999, required=False)
    allow_points = BooleanField(_l("Points may be used on these products"))
    pays_commission = BooleanField(_l("Distributors earn commission on these sales"))
    sku_ids = IdListField(limit=campaigns.MAX_ITEMS + 1)

    RECORD = same_names("name", "starts_at", "ends_at", "per_user_limit", "allow_points", "pays_commission")

    def __init__(self, formdata=None, *, record=None):
        super().__init__(formdata, record=record)
        self.items_errors: list[str] = []
        if formdata is None:
            items = record.items if record is not None else []
            self.rows = [
                ItemRow(item.sku_id, yuan(item.price_fen) if item.price_fen is not None else "",
                        zhe_text(item.discount_bp))
                for item in items
            ]  # fmt: skip
        else:
            self.rows = [
                ItemRow(
                    sku_id,
                    (formdata.get(f"item-{sku_id}-price") or "")[:20],
                    (formdata.get(f"item-{sku_id}-discount") or "")[:20],
                )
                for sku_id in self.sku_ids.data
            ]

    def items_action(self, action: str) -> None:
        """Refresh buttons: "add-sku-12" puts a SKU in the list, "remove-sku-12" takes it out."""
        verb, _, raw = action.partition("-sku-")
        sku_id = parse_id(raw)
        if sku_id is None:
            return
        present = [row.sku_id for row in self.rows]
        if verb == "add" and sku_id not in present and len(present) < campaigns.MAX_ITEMS:
            self.rows.append(ItemRow(sku_id))
        elif verb == "remove":
            self.rows = [row for row in self.rows if row.sku_id != sku_id]

    def validate(self, extra_validators=None) -> bool:
        fields_ok = super().validate(extra_validators)
        rows_ok = all([row.parse() for row in self.rows])
        if not rows_ok:
            self.items_errors.append(str(_l("Some products need attention: see the red rows below.")))
        return fields_ok and rows_ok

    def to_data(self) -> dict:
        return super().to_data() | {"name": self.name.data.strip(), "items": [row.draft for row in self.rows]}


# ---------------------------------------------------------------- 满减 / 满折


TIER_PARTS = ("threshold", "reduce", "discount")


@dataclass
class TierRow:
    threshold: str = ""
    reduce: str = ""
    discount: str = ""
    error: str = ""
    draft: campaigns.TierDraft | None = None

    @property
    def empty(self) -> bool:
        return not (self.threshold.strip() or self.reduce.strip() or self.discount.strip())

    def parse(self) -> bool:
        self.error, self.draft = "", None
        reduce, discount = self.reduce.strip(), self.discount.strip()
        try:
            threshold = parse_yuan(self.threshold, allow_zero=False)
            if bool(reduce) == bool(discount):
                self.error = str(_l("Enter either an amount off or a discount."))
                return False
            if reduce:
                self.draft = campaigns.TierDraft(threshold, reduce_fen=parse_yuan(reduce, allow_zero=False))
            else:
                self.draft = campaigns.TierDraft(threshold, discount_bp=parse_zhe_bp(discount))
        except (MoneyError, ValueError) as error:
            self.error = str(error)
            return False
        return True


class FullReductionForm(ScopeMixin, CampaignForm):
    ALIASES = SCOPE_ALIASES

    name = text_field(_l("Name"), NAME_MAX, required=_l("Please name the campaign."))
    include_activity = BooleanField(_l("Products in a 限时折扣 count too"))
    repeat = BooleanField(_l("每满: the amount off repeats for every full threshold"))
    max_reduce_fen = MoneyField(_l("At most this much off (yuan)"), required=False)

    RECORD = same_names("name", "starts_at", "ends_at", "include_activity", "repeat", "max_reduce_fen")

    def __init__(self, formdata=None, *, record=None):
        super().__init__(formdata, record=record)
        self.tiers_errors: list[str] = []
        self.scope_errors: list[str] = []
        if formdata is None:
            stored = record.tiers if record is not None else []
            self.tier_rows = [
                TierRow(
                    yuan(tier["threshold_fen"]),
                    yuan(tier["reduce_fen"]) if tier.get("reduce_fen") is not None else "",
                    zhe_text(tier.get("discount_bp")),
                )
                for tier in stored
            ]
            if record is not None:
                self.load_scope(record.scope_kind, record.scope_ids or [])
        else:
            self.tier_rows = [
                TierRow(*((formdata.get(f"tier-{i}-{part}") or "")[:20] for part in TIER_PARTS))
                for i in range(campaigns.MAX_TIERS)
            ]
        self.tier_rows += [TierRow() for _ in range(campaigns.MAX_TIERS - len(self.tier_rows))]

    def validate(self, extra_validators=None) -> bool:
        fields_ok = super().validate(extra_validators)
        if not self.repeat.data:
            self.max_reduce_fen.errors = []  # the cap is only read with 每满
        rows_ok = all([row.parse() for row in self.tier_rows if not row.empty])
        if not rows_ok:
            self.tiers_errors.append(str(_l("Some tiers need attention: see the red rows below.")))
        return fields_ok and rows_ok and not self.max_reduce_fen.errors

    def to_data(self) -> dict:
        return super().to_data() | {
            "name": self.name.data.strip(),
            "tiers": [row.draft for row in self.tier_rows if not row.empty],
            "scope_kind": self.scope_kind.data,
            "scope_ids": self.scope_ids(),
            "max_reduce_fen": self.max_reduce_fen.data if self.repeat.data else None,
        }


# ---------------------------------------------------------------- coupon templates


KIND_CHOICES = [
    SelectChoice(CouponKind.AMOUNT.value, _l("Amount off (满减券)")),
    SelectChoice(CouponKind.DISCOUNT.value, _l("Discount (折扣券)")),
]
CHANNEL_CHOICES = [
    SelectChoice(CouponChannel.CENTRE.value, _l("Coupon centre (shoppers claim it)")),
    SelectChoice(CouponChannel.NEWCOMER.value, _l("New customers (given at sign-up)")),
    SelectChoice(CouponChannel.ISSUED.value, _l("Issued by the shop (to chosen customers or a level)")),
    SelectChoice(CouponChannel.CODE.value, _l("Distributor coupon code (typed at checkout)")),
]
VALIDITY_CHOICES = [
    SelectChoice("fixed", _l("Between two dates")),
    SelectChoice("days", _l("A number of days after claiming")),
]


class CouponTemplateForm(ScopeMixin, MarketingForm):
    ALIASES = SCOPE_ALIASES

    name = text_field(_l("Name"), NAME_MAX, required=_l("Please name the coupon."))
    kind = RadioField(
        _l("Kind"), choices=KIND_CHOICES, default=CouponKind.AMOUNT.value, validate_choice=False
    )
    value_fen = MoneyField(_l("Amount off (yuan)"), required=False)
    discount_bp = ZheField(_l("Discount (折)"))
    max_discount_fen = MoneyField(_l("At most this much off (yuan)"), required=False)
    threshold_fen = MoneyField(_l("Minimum spend (yuan)"), required=False, allow_zero=True)
    include_activity = BooleanField(_l("Products in a 限时折扣 count too"))
    total_qty = IntegerField(_l("How many in total"), default=0, validators=[Optional()])
    per_user_limit = IntegerField(_l("Each customer may hold"), default=1, validators=[Optional()])
    claim_starts_at = ShopTimeField(_l("Can be claimed from"))
    claim_ends_at = ShopTimeField(_l("Can be claimed until"))
    validity = RadioField(_l("Valid"), choices=VALIDITY_CHOICES, default="days", validate_choice=False)
    valid_from = ShopTimeField(_l("Valid from"))
    valid_until = ShopTimeField(_l("Valid until"))
    valid_days = IntegerField(_l("Valid for (days after claiming)"), default=7, validators=[Optional()])
    channel = SelectField(
        _l("How shoppers get it"), choices=CHANNEL_CHOICES, default="centre", validate_choice=False
    )

    # The template's columns, as save_template takes them.
    RECORD = same_names(
        "name", "kind", "value_fen", "discount_bp", "max_discount_fen", "threshold_fen", "include_activity",
        "total_qty", "per_user_limit", "claim_starts_at", "claim_ends_at", "valid_from", "valid_until",
        "valid_days", "channel",
    )  # fmt: skip

    def __init__(self, formdata=None, *, record=None):
        super().__init__(formdata, record=record)
        self.scope_errors: list[str] = []
        if formdata is None and record is not None:
            self.validity.data = "days" if record.valid_days else "fixed"
            # The stored template keeps 10000 bp on an amount coupon and ¥0 on a discount one: not shown.
            if record.kind == CouponKind.AMOUNT:
                self.discount_bp.data = None
            else:
                self.value_fen.data = None
            self.load_scope(record.scope_kind, record.scope_ids or [])

    @property
    def is_discount(self) -> bool:
        return self.kind.data == CouponKind.DISCOUNT

    @property
    def by_days(self) -> bool:
        return self.validity.data != "fixed"

    def unused_fields(self) -> list:
        """The fields the chosen kind and validity do not read: a typo there is no reason to refuse."""
        unused = [self.value_fen] if self.is_discount else [self.discount_bp, self.max_discount_fen]
        unused += [self.valid_from, self.valid_until] if self.by_days else [self.valid_days]
        return unused

    def validate(self, extra_validators=None) -> bool:
        super().validate(extra_validators)
        for field in self.unused_fields():
            field.errors = []
        if self.by_days and self.valid_days.data is None and not self.valid_days.errors:
            self.valid_days.errors.append(str(_l("Enter for how many days it is valid.")))
        if self.is_discount and self.discount_bp.data is None and not self.discount_bp.errors:
            self.discount_bp.errors.append(str(_l("Enter the discount, such as 8.5.")))
        return not any(errors for errors in self.errors.values())

    def to_data(self) -> dict:
        data = {
            "name": self.name.data.strip(),
            "kind": self.kind.data,
            "channel": self.channel.data,
            "value_fen": self.value_fen.data if not self.is_discount else None,
            "discount_bp": self.discount_bp.data if self.is_discount else None,
            "max_discount_fen": self.max_discount_fen.data if self.is_discount else None,
            "threshold_fen": self.threshold_fen.data or 0,
            "scope_kind": self.scope_kind.data,
            "scope_ids": self.scope_ids(),
            "include_activity": self.include_activity.data,
            "total_qty": self.total_qty.data if self.total_qty.data is not None else 0,
            "per_user_limit": self.per_user_limit.data if self.per_user_limit.data is not None else 1,
            "claim_starts_at": self.claim_starts_at.data,
            "claim_ends_at": self.claim_ends_at.data,
            "valid_days": self.valid_days.data if self.by_days else None,
            "valid_from": None if self.by_days else self.valid_from.data,
            "valid_until": None if self.by_days else self.valid_until.data,
        }
        return data
