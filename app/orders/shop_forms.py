"""The shopper's order forms: address, checkout, refund request. The rules live in the orders package (cart, addresses, checkout, refunds); these
only carry the fields (and the CSRF token) and offer the choices."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, ValidationError

from app.forms import Form
from app.orders import aftersales, regions
from app.orders.address_parse import parse_address
from app.orders.carriers import CARRIERS


class AddressForm(Form):
    # No validators here: orders.save_address checks every field (lengths included) and reports all the
    # problems of one submission together, in its own sentences.
    recipient = StringField(_l("Recipient"))
    mobile = StringField(_l("Mobile number"))
    # The region picker: three selects of names (province → its cities → the city's districts), refilled
    # by htmx as each one changes (without JavaScript, by the form's "show the cities" button); save_address
    # finds the codes and refuses a district of another city. 香港、澳门、台湾: city and district typed in.
    province = SelectField(
        _l("Province"),
        choices=[SelectChoice("", _l("Choose a province"))]
        + [SelectChoice(p, p) for p in regions.PICKER_PROVINCES],
        validate_choice=False,
    )
    city = SelectField(_l("City"), choices=[], validate_choice=False)
    district = SelectField(_l("District"), choices=[], validate_choice=False)
    detail = TextAreaField(_l("Street address"))
    is_default = BooleanField(_l("Use as my default address"))
    paste = TextAreaField(_l("Paste an address to fill in the form"))  # read by /addresses/parse, never saved

    unmatched_region = ""  # an old hand-written region the data does not know: shown, to be chosen again
    free_region = False  # 香港、澳门、台湾: city and district are text, not lists

    def fit_region(self, loose: bool = False) -> "AddressForm":
        """Before rendering: the city and district choices for the chosen province and city. A choice that
        is not there (another province's city, an old hand-written name) is dropped: the shopper picks
        again. `loose` (an old address, opened to edit): names written by hand (杭州 for 杭州市) are read as
        a pasted address would be, to preselect what they mean, and what was written before is shown."""
        chosen = [(self.province.data or "").strip(), self.city.data or "", self.district.data or ""]
        if regions.is_outside_mainland(chosen[0]):
            self.free_region, self.province.data = True, chosen[0]
            self.city.choices, self.district.choices = [], []
            if chosen[1] in regions.mainland_city_names():  # chosen under the province picked before
                self.city.data = self.district.data = ""
            return self
        wanted = chosen
        if loose and all(chosen) and regions.resolve(*chosen) is None:
            read = parse_address(" ".join(chosen))
            if regions.resolve(read.province, read.city, read.district):
                wanted = [read.province, read.city, read.district]
        found = regions.province(wanted[0])
        city = regions.find_city(wanted[0], wanted[1])
        district = city.district(wanted[2]) if city else None
        self.city.choices = [SelectChoice("", str(_l("Choose a city")))] + [
            SelectChoice(c.name, city_label(c)) for c in (found.cities if found else ())
        ]
        self.district.choices = [SelectChoice("", str(_l("Choose a district")))] + [
            SelectChoice(d.name, d.name) for d in (city.districts if city else ())
        ]
        self.province.data = found.name if found else ""
        self.city.data = city.name if city else ""
        self.district.data = district.name if district else ""
        if loose and all(chosen) and (district is None or wanted is not chosen):
            self.unmatched_region = " ".join(dict.fromkeys(chosen))
        return self


def city_label(city: regions.City) -> str:
    """The city as the list shows it: the data set's 省直辖县级行政区划 says which cities it holds."""
    if city.name not in regions.DIRECT_COUNTIES:
        return city.name
    shorts = [
        d.name[:-1] if len(d.name) > 2 and d.name.endswith(("市", "县")) else d.name for d in city.districts
    ]
    names = "、".join(shorts[:3]) + ("…" if len(shorts) > 3 else "")
    if city.name == regions.DIRECT_COUNTIES[0]:
        return str(_l("County-level cities under the province (%(names)s)", names=names))
    return str(_l("County-level cities under the region (%(names)s)", names=names))


class CheckoutForm(Form):
    address_id = HiddenField()
    buyer_note = StringField(_l("Note to the shop"), validators=[Length(max=200)])
    payment_method = RadioField(_l("Payment method"), choices=[], validate_choice=False)
    idempotency_key = HiddenField()
    expected_total = HiddenField()
    coupon = HiddenField()  # empty: the best one; "none": no coupon; else the coupon's id
    use_points = BooleanField(_l("Use points"))
    points = HiddenField()


class RefundForm(Form):
    """An after-sales request of one type (aftersales.AfterSalesKind): its reasons are that type's."""

    reason = SelectField(
        _l("After-sales reason"),
        validators=[InputRequired(_l("Please choose a reason."))],
        validate_choice=False,
    )
    detail = TextAreaField(_l("Refund details"), validators=[Length(max=150)])

    def __init__(self, *args, kind: str = aftersales.AfterSalesKind.REFUND_ONLY, **kwargs):
        super().__init__(*args, **kwargs)
        # The reason is stored as the words the shopper chose, in their language: built per request.
        self.reasons = [str(r) for r in aftersales.reasons_for(kind)]
        self.reason.choices = [SelectChoice("", str(_l("Choose a reason")))] + [
            SelectChoice(r, r) for r in self.reasons
        ]

    def validate_reason(self, field):
        if field.data not in self.reasons:
            raise ValidationError(_l("Please choose a reason."))

    def validate_detail(self, field):
        if self.reason.data == str(aftersales.OTHER) and not (field.data or "").strip():
            raise ValidationError(_l("Please describe the problem in a few words."))

    def not_received(self) -> bool:
        return self.reason.data == str(aftersales.NOT_RECEIVED)

    def reason_text(self) -> str:
        """What the merchant reads: the chosen reason, then the shopper's own words."""
        detail = " ".join((self.detail.data or "").split())
        return f"{self.reason.data}：{detail}" if detail else self.reason.data


class ReturnParcelForm(Form):
    """The parcel a shopper sends back: a carrier from the list and its tracking number."""

    carrier_code = SelectField(_l("Carrier"), validate_choice=False)
    tracking_no = StringField(_l("Tracking number"), validators=[Length(max=40)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.carrier_code.choices = [SelectChoice("", str(_l("Choose the carrier")))] + [
            SelectChoice(c.code, str(c.name)) for c in CARRIERS
        ]
