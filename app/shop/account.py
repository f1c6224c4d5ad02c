"""Shopper accounts: register, log in, log out, profile."""

from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from app.accounts import services as accounts
from app.accounts.auth import (
    login_page,
    login_rate_limit_by_ip,
    login_rate_limit_by_mobile,
    register_rate_limit,
    sign_in_page,
    start_session,
)
from app.accounts.forms import AddMobileForm, PasswordForm, ProfileForm, RegisterForm
from app.accounts.models import mask_mobile
from app.extensions import db
from app.forms import ActionForm, apply_service_error
from app.media import ImageError, save_image
from app.settings.services import get_shop_settings
from app.shop import bp


@bp.route("/login", methods=["GET", "POST"])
@login_rate_limit_by_ip
@login_rate_limit_by_mobile
def login():
    return login_page("shop/login.html", "shop.me")


@bp.route("/register", methods=["GET", "POST"])
@register_rate_limit
def register():
    def enter(form: RegisterForm):
        return accounts.register_user(
            db.session, mobile=form.mobile.data, password=form.password.data, nickname=form.nickname.data
        )

    welcome = _("Welcome! Your account is ready.")
    return sign_in_page("shop/register.html", "shop.me", RegisterForm, enter, welcome=welcome)


@bp.post("/logout")
def logout():
    if ActionForm().validate_on_submit():
        logout_user()
    return redirect(url_for("shop.index"))


@bp.get("/me")
@login_required
def me():
    return render_template(
        "shop/me.html", logout_form=ActionForm(), masked_mobile=mask_mobile(current_user.mobile)
    )


@bp.route("/me/profile", methods=["GET", "POST"])
@login_required
def profile():
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        try:
            accounts.update_profile(current_user, nickname=form.nickname.data)
            upload = form.avatar.data
            if upload and getattr(upload, "filename", ""):
                current_user.avatar_key = save_image(upload)
        except (accounts.AccountError, ImageError) as error:
            db.session.rollback()
            if isinstance(error, ImageError):
                form.avatar.errors = [str(error)]
            else:
                apply_service_error(form, error)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("shop.me"))
    return render_template(
        "shop/profile.html",
        form=form,
        max_image_mb=current_app.config["MAX_IMAGE_BYTES"] // (1024 * 1024),
    )


@bp.route("/me/mobile", methods=["GET", "POST"])
@login_required
@register_rate_limit  # it tells whether a number has an account, like registering does
def add_mobile():
    """An account made by WeChat's silent login has no number or password: add them here."""
    if current_user.mobile:
        return redirect(url_for("shop.change_password"))
    form = AddMobileForm()
    if form.validate_on_submit():
        try:
            accounts.add_mobile_login(
                db.session, current_user, mobile=form.mobile.data, password=form.password.data
            )
        except accounts.AccountError as error:
            db.session.rollback()
            apply_service_error(form, error)
        else:
            db.session.commit()
            start_session(current_user._get_current_object())  # the new auth version: renew this session
            flash(_("Done. Outside WeChat, log in with this number and password."), "success")
            return redirect(url_for("shop.me"))
    return render_template("shop/add_mobile.html", form=form)


@bp.route("/me/password", methods=["GET", "POST"])
@login_required
def change_password():
    if not current_user.mobile:
        return redirect(url_for("shop.add_mobile"))
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(current_user, current=form.current_password.data, new=form.password.data)
        except accounts.AccountError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            # The new auth version ends the other sessions; this one is renewed (with the user, not the proxy).
            start_session(current_user._get_current_object())
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("shop.me"))
    return render_template("shop/password.html", form=form)


@bp.get("/terms")
def terms():
    return render_template("shop/legal.html", kind="terms", custom=get_shop_settings(db.session).terms_text)


@bp.get("/privacy")
def privacy():
    return render_template(
        "shop/legal.html", kind="privacy", custom=get_shop_settings(db.session).privacy_text
    )
