"""The 消息通知 settings form: on/off, then per message type a switch, the template ID and the mapping
(checked by app.notifications.outbox.save_notification_settings); and the test message's type."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from app.forms import Form
from app.notifications.kinds import KINDS


class NotificationSettingsForm(Form):
    enabled = BooleanField(_l("Send WeChat template messages"))


for _name in KINDS:
    setattr(NotificationSettingsForm, f"{_name}_on", BooleanField(_l("Send this message")))
    setattr(NotificationSettingsForm, f"{_name}_template_id", StringField(_l("Template ID")))
    setattr(
        NotificationSettingsForm, f"{_name}_mapping", TextAreaField(_l("Keywords (one keyword=text a line)"))
    )


def kind_fields(form: NotificationSettingsForm, name: str) -> tuple:
    """The switch, template ID and mapping fields of one message type, for the template."""
    return getattr(form, f"{name}_on"), getattr(form, f"{name}_template_id"), getattr(form, f"{name}_mapping")


class TestMessageForm(Form):
    test_kind = SelectField(
        _l("Message"),
        choices=[SelectChoice(name, kind.label) for name, kind in KINDS.items()],
        validate_choice=True,
    )
