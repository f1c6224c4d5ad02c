"""Back-office forms for marketing: the fields every marketing form uses, member levels, the points
settings, issuing coupons and the product form's two marketing switches (限时折扣, 满减/满折 and coupon
templates are in offer_forms). Discounts are typed in 折 ("9.5"), multipliers in times ("1.5"), both carried
as basis points; times are typed in the shop's time zone and carried as UTC. Parsing only: the rules are in
marketing.members, marketing.campaigns and marketing.coupons."""

import re
from datetime import UTC, datetime

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, Field, HiddenField, RadioField, SelectField, TextAreaField
from wtforms import Form as NestedForm
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length
from wtforms.widgets import DateTimeLocalInput

from app.db_types import parse_id
from app.forms import Form, ParsedField, PercentField, apply_service_error, text_field, whole_number
from app.marketing.errors import MarketingError
from app.marketing.members import multiplier_words
from app.money import BP_PER_UNIT
from app.numbers import FULL_WIDTH
from app.timeutil import SHOP_TZ

NAME_MAX = 30  # campaign and coupon names (the columns hold 30)
LEVEL_NAME_MAX = 20
MAX_SCOPE_IDS = 500
MAX_MOBILES = 5000
BP_PER_ZHE = BP_PER_UNIT // 10  # 1折 = 10 %

_ZHE = re.compile(r"(?P<int>\d{1,2})(?:\.(?P<frac>\d{0,2}))?", re.ASCII)
_TIMES = re.compile(r"(?P<int>\d{1,2})(?:\.(?P<frac>\d{0,2}))?", re.ASCII)
_MOBILE = re.compile(r"1\d{10}", re.ASCII)
_LIST_SEPARATORS = re.compile(r"[\s,，、;；]+")
# datetime-local sends "2025-06-01T10:00"; people typing in a browser without the picker use a space.
_LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")
_YEARS = (2000, 2999)


# ---------------------------------------------------------------- 折, times and shop-time fields


def parse_zhe_bp(text) -> int:
    """ "9.5" (九五折) -> 9500 bp, "8" -> 8000, "10" -> 10000 (no discount); ValueError in words otherwise."""
    cleaned = str(text if text is not None else "").translate(FULL_WIDTH).strip().removesuffix("折").strip()
    match = _ZHE.fullmatch(cleaned)
    if not match:
        raise ValueError(str(_l("Enter a discount in 折, such as 9.5 or 8.")))
    bp = int(match["int"]) * BP_PER_ZHE + int((match["frac"] or "").ljust(2, "0")) * (BP_PER_ZHE // 100)
    if bp > BP_PER_UNIT:
        raise ValueError(str(_l("A discount is at most 10折 (no discount).")))
    return bp


def zhe_text(bp: int | None) -> str:
    """9500 -> "9.5", 8000 -> "8": the number a merchant types for a discount."""
    if bp is None:
        return ""
    whole, rest = divmod(bp, BP_PER_ZHE)
    digits = f"{rest:03d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


class ZheField(ParsedField):
    """A discount typed in 折; `data` is basis points, or `empty_bp` when left empty."""

    def __init__(self, label=None, validators=None, *, empty_bp: int | None = None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.empty_bp = empty_bp

    def parse(self, text: str) -> int | None:
        return parse_zhe_bp(text) if text else self.empty_bp

    def show(self, value: int) -> str:
        return zhe_text(value)


class TimesField(ParsedField):
    """A multiplier typed in times ("1.5"); `data` is basis points (15000), ×1 when left empty."""

    def parse(self, text: str) -> int:
        text = text.translate(FULL_WIDTH).strip().removeprefix("×").strip()
        if not text:
            return BP_PER_UNIT
        match = _TIMES.fullmatch(text)
        if not match:
            raise ValueError(str(_l("Enter a multiplier such as 1 or 1.5.")))
        return int(match["int"]) * BP_PER_UNIT + int((match["frac"] or "").ljust(2, "0")) * 100

    def show(self, value: int) -> str:
        return multiplier_words(value)


def parse_local_time(text: str) -> datetime:
    """ "2025-06-01T10:00" in the shop's time zone -> the aware UTC moment; ValueError in words."""
    cleaned = text.translate(FULL_WIDTH).strip()
    for fmt in _LOCAL_FORMATS:
        try:
            local = datetime.strptime(cleaned, fmt)
        except ValueError:
            continue
        if _YEARS[0] <= local.year <= _YEARS[1]:
            return local.replace(tzinfo=SHOP_TZ).astimezone(UTC)
        break
    raise ValueError(str(_l("Enter a date and time such as 2025-06-01 10:00.")))


def local_input_value(moment: datetime | None) -> str:
    return moment.astimezone(SHOP_TZ).strftime("%Y-%m-%dT%H:%M") if moment else ""


class ShopTimeField(ParsedField):
    """A datetime-local input read in the shop's time zone (Beijing time); `data` is aware UTC or None."""

    widget = DateTimeLocalInput()
    data_type = datetime

    def parse(self, text: str) -> datetime | None:
        return parse_local_time(text[:40]) if text else None

    def show(self, value: datetime) -> str:
        return local_input_value(value)


class IdListField(Field):
    """Ids sent under one name (ticked boxes, hidden inputs); `data` is a list of ids, first seen first.
    Anything that is not an id is dropped: the service refuses ids that name nothing."""

    def __init__(self, label=None, validators=None, *, limit: int = MAX_SCOPE_IDS, **kwargs):
        kwargs.setdefault("default", list)
        super().__init__(label, validators, **kwargs)
        self.limit = limit

    def process_formdata(self, valuelist):
        ids = (parse_id(value) for value in valuelist)
        self.data = list(dict.fromkeys(i for i in ids if i is not None))[: self.limit]


def same_names(*names: str) -> dict[str, str]:
    """A form's RECORD where each field shows the record's attribute of the same name."""
    return {name: name for name in names}


class MarketingForm(Form):
    """A marketing form: shown from its record (RECORD maps each field to the record's attribute), or read
    from what was posted; service refusals go next to their field (ALIASES maps a service's field name to
    the form's, e.g. the service's scope_ids is the scope chooser here)."""

    RECORD: dict[str, str] = {}
    ALIASES: dict[str, str] = {}

    def __init__(self, formdata=None, *, record=None):
        data = None
        if formdata is None and record is not None:
            data = {field: getattr(record, attribute) for field, attribute in self.RECORD.items()}
        super().__init__(formdata=formdata, data=data)
        self.record = record

    def to_data(self) -> dict:
        """What the service saves: each field RECORD names, under the record's attribute."""
        return {attribute: self[field].data for field, attribute in self.RECORD.items()}

    def refused(self, error) -> None:
        """A service said no (MarketingError), or the database did because two saves met (IntegrityError)."""
        if not isinstance(error, MarketingError):
            self.form_errors.append(str(_l("It changed meanwhile. Please save again.")))
            return
        field = self.ALIASES.get(error.field, error.field)
        listed = getattr(self, f"{field}_errors", None) if field else None
        if isinstance(listed, list):
            listed.append(str(error.message))
            return
        error.field = field
        apply_service_error(self, error)

    @property
    def has_errors(self) -> bool:
        """Any message on the form: a field's, or one of its lists (form_errors, tiers_errors, …)."""
        lists = [value for name, value in vars(self).items() if name.endswith("_errors")]
        return bool(self.errors) or any(lists)


# ---------------------------------------------------------------- member levels and points


class LevelForm(MarketingForm):
    name = text_field(_l("Level name"), LEVEL_NAME_MAX, required=_l("Please name the level."))
    growth_threshold = whole_number(_l("Growth needed"), 0, 10**9)
    discount = ZheField(_l("Member discount (折)"), empty_bp=BP_PER_UNIT)
    points_multiplier = TimesField(_l("Points multiplier"))
    free_shipping = BooleanField(_l("Free shipping for this level"))

    RECORD = same_names("name", "growth_threshold", "free_shipping") | {
        "discount": "discount_bp",
        "points_multiplier": "points_multiplier_bp",
    }

    def to_data(self) -> dict:
        return super().to_data() | {"name": self.name.data.strip()}


class PointsSettingsForm(MarketingForm):
    points_enabled = BooleanField(_l("Points are on"))
    earn_per_yuan = whole_number(_l("Points earned per yuan paid"), 0, 100)
    fen_per_point = whole_number(_l("Each point is worth (fen)"), 1, 100)
    points_max_bp = PercentField(_l("Points may pay at most this share of the goods (percent)"))
    max_points_per_order = whole_number(_l("At most this many points per order"), 1, 10**9, required=False)
    points_expiry_months = whole_number(_l("Points expire after (months)"), 0, 120)
    growth_per_order = whole_number(_l("Extra growth per completed order"), 0, 100_000)

    RECORD = same_names(
        "points_enabled", "earn_per_yuan", "fen_per_point", "points_max_bp", "max_points_per_order",
        "points_expiry_months", "growth_per_order",
    )  # fmt: skip

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if not self.points_max_bp.errors and not self.points_max_bp.data:  # empty, or 0 %
            self.points_max_bp.errors.append(str(_l("Enter a percentage from 1 to 100.")))
        return ok and not self.points_max_bp.errors


class IssueForm(Form):
    """Whom to give an issued coupon: mobile numbers, one a line, or every member of a level."""

    audience = RadioField(
        _l("Give it to"),
        choices=[
            SelectChoice("mobiles", _l("These customers")),
            SelectChoice("level", _l("Every member of a level")),
        ],
        default="mobiles",
        validate_choice=False,
    )
    mobiles = TextAreaField(
        _l("Mobile numbers, one a line"),
        validators=[
            Length(max=MAX_MOBILES * 13, message=_l("At most %(n)d numbers at a time.", n=MAX_MOBILES))
        ],
    )
    level_id = SelectField(_l("Level"), validate_choice=False)

    def __init__(self, formdata=None, *, levels=()):
        super().__init__(formdata=formdata)
        self.level_id.choices = [SelectChoice("", _l("Choose a level"))] + [
            SelectChoice(str(level.id), level.name) for level in levels
        ]

    def mobile_list(self) -> tuple[list[str], list[str]]:
        """(well-formed numbers, what was typed that is not a mobile number), each in the order typed."""
        good, bad = [], []
        for word in _LIST_SEPARATORS.split((self.mobiles.data or "").translate(FULL_WIDTH)):
            if not word:
                continue
            (good if _MOBILE.fullmatch(word) else bad).append(word)
        return list(dict.fromkeys(good)), bad

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.audience.data == "level":
            if parse_id(self.level_id.data) is None:
                self.level_id.errors.append(str(_l("Choose a level.")))
        else:
            good, bad = self.mobile_list()
            if bad:
                shown = "、".join(word[:20] for word in bad[:5])
                self.mobiles.errors.append(str(_l("These are not mobile numbers: %(list)s", list=shown)))
            elif not good:
                self.mobiles.errors.append(str(_l("Enter at least one mobile number.")))
            elif len(good) > MAX_MOBILES:
                self.mobiles.errors.append(str(_l("At most %(n)d numbers at a time.", n=MAX_MOBILES)))
        return ok and not self.mobiles.errors and not self.level_id.errors


# ---------------------------------------------------------------- the product form's switches


class ProductMarketingForm(NestedForm):
    """The product form's marketing switches, nested in the back office's product form. `shown` says the
    page had them: a post without it (an older page, a script) leaves both as they are."""

    shown = HiddenField(default="1")
    member_discount = BooleanField(_l("Member prices apply"), default=True)
    takes_points = BooleanField(_l("Points can pay for it"), default=True)

    def load(self, product) -> None:
        self.member_discount.data = product.member_discount
        self.takes_points.data = product.takes_points

    def apply_to(self, product) -> None:
        if self.shown.data == "1":
            product.member_discount = bool(self.member_discount.data)
            product.takes_points = bool(self.takes_points.data)
