"""The distributor's forms in the shop: applying to become one, and asking for a withdrawal. The rules
(name, mobile, minimum, balance, account format) are checked by the services; these only carry input."""

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from app.forms import Form, MoneyField

WITHDRAWAL_METHODS = (
    ("wechat", _l("WeChat")),
    ("alipay", _l("Alipay")),
    ("bank", _l("Bank card")),
)


class ApplyForm(Form):
    real_name = StringField(_l("Real name"), render_kw={"maxlength": 20, "autocomplete": "name"})
    mobile = StringField(
        _l("Mobile number"),
        render_kw={"maxlength": 13, "inputmode": "numeric", "autocomplete": "tel"},
    )
    reason = TextAreaField(
        _l("Why you would like to join (optional)"), render_kw={"maxlength": 500, "rows": 3}
    )


class WithdrawForm(Form):
    # Field names follow WithdrawalInput, so a service refusal lands next to its field.
    amount_fen = MoneyField(_l("Amount"), render_kw={"inputmode": "decimal", "autocomplete": "off"})
    # The service says "choose how you want to be paid" for anything else; WTForms' English stays out.
    method = RadioField(
        _l("Receive by"),
        choices=[SelectChoice(value, label) for value, label in WITHDRAWAL_METHODS],
        default="wechat",
        validate_choice=False,
    )
    real_name = StringField(_l("Account holder"), render_kw={"maxlength": 20, "autocomplete": "name"})
    account = StringField(_l("Account"), render_kw={"maxlength": 50, "autocomplete": "off"})
    bank_name = StringField(_l("Bank"), render_kw={"maxlength": 30})
    bank_branch = StringField(_l("Bank branch"), render_kw={"maxlength": 40})
