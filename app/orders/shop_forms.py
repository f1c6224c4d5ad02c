"""The shopper's order forms: address, checkout, refund request. The rules live in the orders package (cart, addresses, checkout, refunds); these
only carry the fields (and the CSRF token) and offer the choices."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, ValidationError

from app.forms import Form
from app.orders.regions import PROVINCES

# What shoppers usually say; "Other" asks them to write it out.
REFUND_REASONS = (
    _l("I no longer want it"),
    _l("I ordered the wrong item or size"),
    _l("Not as described"),
    _l("Quality problem"),
    _l("Damaged on arrival"),
    _l("Items missing from the parcel"),
    _l("Not shipped in time"),
    _l("Other"),
)


class AddressForm(Form):
    # No validators here: orders.save_address checks every field (lengths included) and reports all the
    # problems of one submission together, in its own sentences.
    recipient = StringField(_l("Recipient"))
    mobile = StringField(_l("Mobile number"))
    province = SelectField(
        _l("Province"),
        choices=[SelectChoice("", _l("Choose a province"))] + [SelectChoice(p, p) for p in PROVINCES],
        validate_choice=False,
    )
    city = StringField(_l("City"))
    district = StringField(_l("District"))
    detail = TextAreaField(_l("Street address"))
    is_default = BooleanField(_l("Use as my default address"))


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
    reason = SelectField(
        _l("Refund reason"),
        validators=[InputRequired(_l("Please choose a reason."))],
        validate_choice=False,
    )
    detail = TextAreaField(_l("Refund details"), validators=[Length(max=150)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The reason is stored as the words the shopper chose, in their language: built per request.
        self.reason.choices = [SelectChoice("", str(_l("Choose a reason")))] + [
            SelectChoice(str(r), str(r)) for r in REFUND_REASONS
        ]

    def validate_reason(self, field):
        if field.data not in {str(r) for r in REFUND_REASONS}:
            raise ValidationError(_l("Please choose a reason."))

    def validate_detail(self, field):
        if self.reason.data == str(REFUND_REASONS[-1]) and not (field.data or "").strip():
            raise ValidationError(_l("Please describe the problem in a few words."))

    def reason_text(self) -> str:
        """What the merchant reads: the chosen reason, then the shopper's own words."""
        detail = " ".join((self.detail.data or "").split())
        return f"{self.reason.data}：{detail}" if detail else self.reason.data
