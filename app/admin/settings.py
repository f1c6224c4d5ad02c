"""Shop settings: name, logo, customer service, announcement; and how orders and payment work (shipping
fee, time limit for unpaid orders, automatic receipt, manual transfer)."""

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.extensions import db
from app.forms import apply_service_error
from app.media import ImageError, save_image
from app.settings.forms import ShopSettingsForm
from app.settings.services import (
    SettingsError,
    get_shop_settings,
    update_order_settings,
    update_shop_settings,
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
    if form.validate_on_submit():
        uploads = {}
        try:
            for field_name, key in IMAGE_FIELDS:
                upload = getattr(form, field_name).data
                if upload and getattr(upload, "filename", ""):
                    try:
                        uploads[key] = save_image(upload)
                    except ImageError as error:
                        getattr(form, field_name).errors = [str(error)]
                        raise
            update_shop_settings(
                db.session,
                name=form.name.data,
                service_phone=form.service_phone.data,
                announcement=form.announcement.data,
                terms_text=form.terms_text.data,
                privacy_text=form.privacy_text.data,
                low_stock_threshold=form.low_stock_threshold.data,
                logo_key=uploads.get("logo_key"),
                service_wechat_qr_key=uploads.get("service_wechat_qr_key"),
            )
            update_order_settings(
                db.session,
                shipping_flat_fen=form.shipping_flat_fen.data,
                free_shipping_over_fen=form.free_shipping_over_fen.data,
                order_expire_minutes=form.order_expire_minutes.data,
                autocomplete_days=form.autocomplete_days.data,
                manual_payment_enabled=form.manual_payment_enabled.data,
                manual_payment_text=form.manual_payment_text.data,
                manual_payment_qr_key=uploads.get("manual_payment_qr_key"),
                remove_manual_payment_qr=form.remove_manual_payment_qr.data,
            )
        except ImageError:
            db.session.rollback()
        except SettingsError as error:
            db.session.rollback()
            apply_service_error(form, error)
        else:
            db.session.commit()
            flash(_("Settings saved."), "success")
            return redirect(url_for("admin.shop_settings"))
    return render_template("admin/settings.html", form=form, settings=settings)
