"""Payment settings in the back office (owner only): gateway credentials and a connection test."""

from flask import render_template
from flask_babel import gettext as _

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.viewutil import save_form
from app.extensions import db
from app.forms import ActionForm
from app.payments import wechat_certificates
from app.payments.forms import PaymentSettingsForm
from app.payments.gateways import payment_settings
from app.payments.settings import (
    PaymentSettingsError,
    PaymentSettingsInput,
    check_alipay_connection,
    check_wechat_connection,
    save_payment_settings,
    secret_hints,
)
from app.secrets_box import SecretsKeyMissing


@bp.route("/settings/payments", methods=["GET", "POST"])
@permission_required(Permission.SETTINGS)
def payment_settings_page():
    settings = payment_settings(db.session)
    # Secret fields have no attribute of their name on the model, so they always start empty.
    form = PaymentSettingsForm(obj=settings)
    saved = save_form(
        form,
        lambda: _save(form),
        _("Payment settings saved."),
        "admin.payment_settings_page",
        # New credentials may come with platform certificates (merchants still moving to the public key).
        then=lambda: wechat_certificates.refresh_certificates(db.session, force=True),
    )
    if saved is not None:
        return saved
    status = 422 if form.errors or form.form_errors else 200
    return render_template(
        "admin/payment_settings.html", form=form, hints=_hints(settings), results=None
    ), status


def _save(form: PaymentSettingsForm) -> None:
    fields = {name: getattr(form, name).data for name in PaymentSettingsInput.__dataclass_fields__}
    try:
        save_payment_settings(db.session, PaymentSettingsInput(**fields))
    except SecretsKeyMissing as error:
        raise PaymentSettingsError(str(error)) from error


def _hints(settings) -> dict:
    try:
        return secret_hints(settings)
    except SecretsKeyMissing:
        return {}


@bp.post("/settings/payments/test")
@permission_required(Permission.SETTINGS)
def payment_settings_test():
    if not ActionForm().validate_on_submit():
        return _("The page has expired. Please refresh it and try again."), 400
    results = check_wechat_connection(db.session) + check_alipay_connection(db.session)
    return render_template("admin/_payment_test_results.html", results=results)
