"""Back-office sign-in: the same accounts table, but only staff and owners get in."""

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from app.accounts import services as accounts
from app.accounts.auth import login_rate_limit_by_ip, login_rate_limit_by_mobile, safe_next, start_session
from app.accounts.forms import LoginForm
from app.admin import bp
from app.extensions import db
from app.forms import ActionForm, apply_service_error


@bp.route("/login", methods=["GET", "POST"])
@login_rate_limit_by_ip
@login_rate_limit_by_mobile
def login():
    form = LoginForm(next=request.args.get("next"))
    if current_user.is_authenticated and current_user.is_back_office:
        return redirect(safe_next(form.next.data, url_for("admin.dashboard")))
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(db.session, mobile=form.mobile.data, password=form.password.data)
            if not user.is_back_office:
                raise accounts.AccountError(_("This account has no access to the back office."))
        except accounts.AccountError as error:
            db.session.rollback()
            apply_service_error(form, error)
        else:
            db.session.commit()
            start_session(user)
            return redirect(safe_next(form.next.data, url_for("admin.dashboard")))
    return render_template("admin/login.html", form=form)


@bp.post("/logout")
def logout():
    if ActionForm().validate_on_submit():
        logout_user()
        flash(_("You have logged out."), "info")
    return redirect(url_for("admin.login"))
