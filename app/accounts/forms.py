"""Sign-up, sign-in and profile forms. The rules themselves live in accounts.services."""

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from app.forms import Form


class LoginForm(Form):
    mobile = StringField(
        _l("Mobile number"), validators=[DataRequired(_l("Please enter your mobile number."))]
    )
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Please enter your password."))])
    next = HiddenField()


class RegisterForm(Form):
    mobile = StringField(
        _l("Mobile number"), validators=[DataRequired(_l("Please enter your mobile number."))]
    )
    nickname = StringField(_l("Nickname"), validators=[Length(max=32)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Please choose a password."))])
    password_again = PasswordField(
        _l("Password again"), validators=[EqualTo("password", _l("The two passwords are not the same."))]
    )
    agree = BooleanField(
        _l("I agree to the shop's terms and privacy policy"),
        validators=[DataRequired(_l("Please read and agree to the terms first."))],
    )
    next = HiddenField()


class ProfileForm(Form):
    nickname = StringField(_l("Nickname"), validators=[Length(max=32)])
    avatar = FileField(_l("Avatar"))


class AddMobileForm(Form):
    mobile = StringField(
        _l("Mobile number"), validators=[DataRequired(_l("Please enter your mobile number."))]
    )
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Please choose a password."))])
    password_again = PasswordField(
        _l("Password again"), validators=[EqualTo("password", _l("The two passwords are not the same."))]
    )


class PasswordForm(Form):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    password = PasswordField(_l("New password"), validators=[DataRequired()])
    password_again = PasswordField(
        _l("New password again"), validators=[EqualTo("password", _l("The two passwords are not the same."))]
    )
