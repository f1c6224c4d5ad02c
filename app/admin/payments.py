"""Payment settings in the back office (owner only): gateway credentials and a connection test."""

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.extensions import db
from app.forms import ActionForm, apply_service_error
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
    if form.validate_on_submit():
        try:
            save_payment_settings(
                db.session,
                PaymentSettingsInput(
                    **{name: getattr(form, name).data for name in PaymentSettingsInput.__dataclass_fields__}
                ),
            )
        except PaymentSettingsError as error:
            db.session.rollback()
            apply_service_error(form, error)
        except SecretsKeyMissing as error:
            db.session.rollback()
            form.form_errors.append(str(error))
        else:
            db.session.commit()
            # New credentials may come with platform certificates (merchants still moving to the public key).
            wechat_certificates.refresh_certificates(db.session, force=True)
            flash(_("Payment settings saved."), "success")
            return redirect(url_for("admin.payment_settings_page"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template(
        "admin/payment_settings.html", form=form, hints=_hints(settings), results=None
    ), status


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
