"""Form pieces every area uses: money fields that parse yuan into integer fen, the reason field of the
back office's decisions, and error helpers."""

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict, MultiDict
from wtforms import Field, FileField, StringField
from wtforms import IntegerField as _WTFormsIntegerField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.money import MoneyError, parse_yuan, yuan
from app.numbers import parse_whole_number


class Form(FlaskForm):
    """Every form's base: a file reaches only the form's file fields. (Flask-WTF hands every uploaded part
    to the form, and a file posted under a text field's name would meet string code.)"""

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form, formdata):
            data = super().wrap_formdata(form, formdata)
            if not isinstance(data, CombinedMultiDict):
                return data
            takes_files = {field.name for field in form if isinstance(field, FileField)}
            files = MultiDict([(k, v) for k, v in request.files.items(multi=True) if k in takes_files])
            return CombinedMultiDict((files, request.form))


class MoneyField(StringField):
    """Shown and typed as yuan ("12.30"); `data` is integer fen or None when left empty and optional."""

    def __init__(
        self, label=None, validators=None, *, required: bool = True, allow_zero: bool = False, **kwargs
    ):
        super().__init__(label, validators, **kwargs)
        self.required = required
        self.allow_zero = allow_zero

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return yuan(self.data) if isinstance(self.data, int) else ""

    def process_formdata(self, valuelist):
        text = (valuelist[0] if valuelist else "").strip()
        if not text and not self.required:
            self.data = None
            return
        try:
            self.data = parse_yuan(text, allow_zero=self.allow_zero)
        except MoneyError as error:
            self.data = None
            raise ValueError(str(error)) from None


class IntegerField(_WTFormsIntegerField):
    """WTForms' IntegerField, but only plain digits (ASCII or full-width) and a minus sign: its int() would
    read "1_0" as 10."""

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self.data = parse_whole_number(valuelist[0], allow_negative=True)
        if self.data is None and valuelist[0].strip():
            raise ValueError(str(_l("Please enter a whole number.")))


REASON_MAX = 200


def reason_field(label, required=None) -> StringField:
    """A one-line reason for a decision (reject, cancel, void …) of at most REASON_MAX characters; `required`
    is what to say when it is left empty, None when it may be."""
    return StringField(
        label,
        validators=[
            DataRequired(required) if required else Optional(),
            Length(max=REASON_MAX, message=_l("At most %(n)d characters.", n=REASON_MAX)),
        ],
    )


class ActionForm(Form):
    """A form with nothing but the CSRF token, for POST-only buttons (toggle, delete, log out)."""


def apply_service_error(form: FlaskForm, error) -> None:
    """Put a service refusal (with .message and optional .field, and any further (field, message) problems
    in .more) next to the fields they belong to."""
    for name, message in [(getattr(error, "field", None), error.message), *getattr(error, "more", [])]:
        field: Field | None = getattr(form, name, None) if name else None
        if field is not None:
            field.errors = [*field.errors, str(message)]
        else:
            form.form_errors.append(str(message))


def positive_int(message=None):
    message = message or _l("Please enter a whole number.")

    def check(form, field):
        if field.data is not None and field.data < 0:
            raise ValidationError(message)

    return check
