"""Form pieces every area uses: fields that parse what was typed (yuan into integer fen, percentages into
basis points), factories for the text, number and radio fields declared the same way everywhere (the reason
field of the back office's decisions among them), and error helpers."""

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict, MultiDict
from wtforms import Field, FileField, RadioField, StringField, TextAreaField
from wtforms import IntegerField as _WTFormsIntegerField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from app.money import format_bp, parse_percent_bp, parse_yuan, yuan
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


class ParsedField(StringField):
    """A text input whose `data` is what `parse` makes of the text typed, or None with the reason next to
    the field. What was typed shows again as typed; otherwise `data` shows as `show` writes it."""

    data_type: type = int  # data of another type (None) shows as an empty input

    def parse(self, text: str):
        """The value of `text` (spaces around it dropped; it may be empty), or ValueError saying why not."""
        raise NotImplementedError

    def show(self, value) -> str:
        """How a value of `data_type` is written in the input."""
        raise NotImplementedError

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return self.show(self.data) if isinstance(self.data, self.data_type) else ""

    def process_formdata(self, valuelist):
        try:
            self.data = self.parse((valuelist[0] if valuelist else "").strip())
        except ValueError as error:  # MoneyError is one
            self.data = None
            raise ValueError(str(error)) from None


class MoneyField(ParsedField):
    """Shown and typed as yuan ("12.30"); `data` is integer fen or None when left empty and optional."""

    def __init__(
        self, label=None, validators=None, *, required: bool = True, allow_zero: bool = False, **kwargs
    ):
        super().__init__(label, validators, **kwargs)
        self.required = required
        self.allow_zero = allow_zero

    def parse(self, text: str) -> int | None:
        if not text and not self.required:
            return None
        return parse_yuan(text, allow_zero=self.allow_zero)

    def show(self, value: int) -> str:
        return yuan(value)


class PercentField(ParsedField):
    """Typed as a percentage ("10", "7.5"); `data` is integer basis points, or None when left empty."""

    def parse(self, text: str) -> int | None:
        return parse_percent_bp(text) if text else None

    def show(self, value: int) -> str:
        return format_bp(value).removesuffix("%")


class IntegerField(_WTFormsIntegerField):
    """WTForms' IntegerField, but only plain digits (ASCII or full-width) and a minus sign: its int() would
    read "1_0" as 10."""

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self.data = parse_whole_number(valuelist[0], allow_negative=True)
        if self.data is None and valuelist[0].strip():
            raise ValueError(str(_l("Please enter a whole number.")))


def text_field(label, max_length: int, *, required=None, too_long=None, multiline: bool = False):
    """A text input (a text area when `multiline`) of at most `max_length` characters. `required` is what to
    say when it is left empty, None when it may be; `too_long` what to say when it is longer than allowed."""
    checks = [DataRequired(required)] if required else []
    checks.append(Length(max=max_length, message=too_long or _l("At most %(n)d characters.", n=max_length)))
    return (TextAreaField if multiline else StringField)(label, validators=checks)


REASON_MAX = 200


def reason_field(label, required=None) -> StringField:
    """A one-line reason for a decision (reject, cancel, void …) of at most REASON_MAX characters; `required`
    is what to say when it is left empty, None when it may be."""
    return text_field(label, REASON_MAX, required=required)


def whole_number(label, low: int, high: int, *, required: bool = True, default=None, message=None):
    """An IntegerField from `low` to `high`, left empty only when not `required`. `message` says what is
    wrong in the field's own words, for an empty field and one out of range alike."""
    checks = [InputRequired(message or _l("Please enter a whole number."))] if required else [Optional()]
    checks.append(NumberRange(low, high, message or _l("Enter a whole number from %(min)s to %(max)s.")))
    return IntegerField(label, validators=checks, default=default)


def radio_field(label, choices: dict, *, required=None, **kwargs) -> RadioField:
    """Radio buttons, one a {value: label} of `choices`; `required` is what to say when none is chosen."""
    return RadioField(
        label,
        choices=[SelectChoice(value, text) for value, text in choices.items()],
        validators=[InputRequired(required)] if required else [],
        **kwargs,
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
