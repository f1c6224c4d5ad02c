"""Back-office forms about accounts: disabling one, adding staff and choosing their permissions. The rules
live in accounts.management."""

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from app.accounts.models import GRANTABLE_PERMISSIONS, Permission
from app.forms import Form, reason_field

PERMISSION_LABELS = {
    Permission.ORDERS: _l("Orders and after-sales"),
    Permission.CATALOG: _l("Products"),
    Permission.DISTRIBUTION: _l("Distribution"),
    Permission.MARKETING: _l("Marketing"),
    Permission.MONEY: _l("Money (approve and pay refunds and withdrawals, void commission)"),
    Permission.CUSTOMERS: _l("Customers"),
    Permission.REPORTS: _l("Reports"),
    Permission.SETTINGS: _l("Settings"),
    Permission.STAFF: _l("Staff"),
}


class AccountStatusForm(Form):
    reason = reason_field(_l("Reason (kept on record)"))


class PermissionsField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def permissions_field() -> PermissionsField:
    return PermissionsField(
        _l("Permissions"),
        choices=[(p.value, PERMISSION_LABELS[p]) for p in GRANTABLE_PERMISSIONS],
        validate_choice=True,
    )


class StaffPermissionsForm(Form):
    permissions = permissions_field()


class AddStaffForm(Form):
    mobile = StringField(_l("Mobile number"), validators=[DataRequired(_l("Please enter a mobile number."))])
    nickname = StringField(_l("Name"), validators=[Length(max=32)])
    password = PasswordField(_l("First password"))
    permissions = permissions_field()
