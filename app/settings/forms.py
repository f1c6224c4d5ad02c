"""The shop settings form: the shop itself, and how orders and payment work."""

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from app.forms import Form, IntegerField, MoneyField, whole_number


class ShopSettingsForm(Form):
    name = StringField(
        _l("Shop name"), validators=[DataRequired(_l("Please give the shop a name.")), Length(max=40)]
    )
    logo = FileField(_l("Logo"))
    service_phone = StringField(
        _l("Customer service phone"),
        validators=[
            Optional(),
            Length(max=20),
            Regexp(r"^[0-9+\-() ]+$", message=_l("Digits, spaces and dashes only.")),
        ],
    )
    service_wechat_qr = FileField(_l("Customer service WeChat QR code"))
    announcement = TextAreaField(_l("Announcement"), validators=[Length(max=200)])
    # Length is checked by update_shop_settings (after line endings are normalised).
    terms_text = TextAreaField(_l("User agreement"))
    privacy_text = TextAreaField(_l("Privacy policy"))
    low_stock_threshold = IntegerField(
        _l("Low stock warning below"),
        default=10,
        validators=[NumberRange(0, 100000, _l("Enter a number from 0 to 100000."))],
    )

    # Orders and payment
    shipping_flat_fen = MoneyField(_l("Shipping fee per order (yuan)"), allow_zero=True)
    free_shipping_over_fen = MoneyField(_l("Free shipping from (yuan)"), required=False)
    order_expire_minutes = whole_number(
        _l("Unpaid orders are cancelled after (minutes)"), 5, 1440, default=30,
        message=_l("Enter a number of minutes from %(low)d to %(high)d.", low=5, high=1440),
    )  # fmt: skip
    autocomplete_days = whole_number(
        _l("Receipt is confirmed automatically after (days)"), 1, 30, default=10,
        message=_l("Enter a number of days from %(low)d to %(high)d.", low=1, high=30),
    )  # fmt: skip
    manual_payment_enabled = BooleanField(
        _l("Offer manual transfer (shoppers pay your QR code, you confirm)")
    )
    manual_payment_text = TextAreaField(
        _l("Payment instructions"),
        validators=[
            Length(max=500, message=_l("The payment instructions may have at most %(n)d characters.", n=500))
        ],
    )
    manual_payment_qr = FileField(_l("Payment QR code"))
    remove_manual_payment_qr = BooleanField(_l("Remove the payment QR code"))

    # After-sales
    return_contact = StringField(_l("Return contact"), validators=[Length(max=20)])
    return_phone = StringField(_l("Return phone"), validators=[Length(max=20)])
    return_address = StringField(_l("Return address"), validators=[Length(max=200)])
    aftersales_reply_days = whole_number(
        _l("Unanswered requests are approved after (days)"), 1, 30, default=3, required=False,
        message=_l("Enter a number of days from %(low)d to %(high)d.", low=1, high=30),
    )  # fmt: skip
    aftersales_return_days = whole_number(
        _l("Returns not sent back are closed after (days)"), 1, 30, default=7, required=False,
        message=_l("Enter a number of days from %(low)d to %(high)d.", low=1, high=30),
    )  # fmt: skip


class TrackingSettingsForm(Form):
    """快递100 (实时查询). The key is a secret: stored sealed, its field always starts empty."""

    kuaidi100_customer = StringField(_l("Customer code (customer)"))
    kuaidi100_key = PasswordField(_l("Key (key)"))
    remove = BooleanField(_l("Remove the key (order pages link to the carriers' own pages)"))
