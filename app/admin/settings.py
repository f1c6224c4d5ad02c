"""Shop settings: name, logo, customer service, announcement; and how orders and payment work (shipping
fee, time limit for unpaid orders, automatic receipt, manual transfer); delivery tracking (快递100's key)."""

from flask import render_template
from flask_babel import gettext as _

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.viewutil import save_form
from app.extensions import db
from app.media import ImageError, save_image
from app.orders.carriers import CARRIERS
from app.secrets_box import SecretsKeyMissing
from app.settings.forms import ShopSettingsForm, TrackingSettingsForm
from app.settings.services import (
    SettingsError,
    get_shop_settings,
    kuaidi100_key_hint,
    update_aftersales_settings,
    update_order_settings,
    update_shop_settings,
    update_tracking_settings,
)

# The form's fields each settings service takes as typed, by the same name; pictures come as saved keys.
SHOP_FIELDS = ("name", "service_phone", "announcement", "terms_text", "privacy_text", "low_stock_threshold")
ORDER_FIELDS = (
    "shipping_flat_fen",
    "free_shipping_over_fen",
    "order_expire_minutes",
    "autocomplete_days",
    "manual_payment_enabled",
    "manual_payment_text",
    "remove_manual_payment_qr",
)
AFTERSALES_FIELDS = (
    "return_contact",
    "return_phone",
    "return_address",
    "aftersales_reply_days",
    "aftersales_return_days",
)
IMAGE_FIELDS = (
    ("logo", "logo_key"),
    ("service_wechat_qr", "service_wechat_qr_key"),
    ("manual_payment_qr", "manual_payment_qr_key"),
)


@bp.route("/settings", methods=["GET", "POST"])
@permission_required(Permission.SETTINGS)
def shop_settings():
    settings = get_shop_settings(db.session)
    form = ShopSettingsForm(obj=settings)
    saved = save_form(form, lambda: _save(form), _("Settings saved."), "admin.shop_settings")
    return saved or render_template("admin/settings.html", form=form, settings=settings)


def _save(form: ShopSettingsForm) -> None:
    uploads = {}
    for field_name, key in IMAGE_FIELDS:
        upload = getattr(form, field_name).data
        if upload and getattr(upload, "filename", ""):
            try:
                uploads[key] = save_image(upload)
            except ImageError as error:
                raise SettingsError(str(error), field=field_name) from error
    update_shop_settings(
        db.session,
        **{name: getattr(form, name).data for name in SHOP_FIELDS},
        logo_key=uploads.get("logo_key"),
        service_wechat_qr_key=uploads.get("service_wechat_qr_key"),
    )
    update_order_settings(
        db.session,
        **{name: getattr(form, name).data for name in ORDER_FIELDS},
        manual_payment_qr_key=uploads.get("manual_payment_qr_key"),
    )
    update_aftersales_settings(db.session, **{name: getattr(form, name).data for name in AFTERSALES_FIELDS})


@bp.route("/settings/tracking", methods=["GET", "POST"])
@permission_required(Permission.SETTINGS)
def tracking_settings():
    """快递100's customer code and key: with them order pages show where each parcel is."""
    settings = get_shop_settings(db.session)
    form = TrackingSettingsForm(obj=settings)
    saved = save_form(
        form,
        lambda: _save_tracking(form),
        _("Delivery tracking settings saved."),
        "admin.tracking_settings",
    )
    if saved is not None:
        return saved
    status = 422 if form.errors or form.form_errors else 200
    try:
        key_hint = kuaidi100_key_hint(settings)
    except SecretsKeyMissing:
        key_hint = ""
    return render_template(
        "admin/tracking_settings.html", form=form, key_hint=key_hint, carriers=CARRIERS
    ), status


def _save_tracking(form: TrackingSettingsForm) -> None:
    try:
        update_tracking_settings(
            db.session,
            customer=form.kuaidi100_customer.data,
            key=form.kuaidi100_key.data,
            remove=form.remove.data,
        )
    except SecretsKeyMissing as error:
        raise SettingsError(str(error)) from error
