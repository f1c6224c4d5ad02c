"""Back-office sign-in: the same accounts table, but only staff and owners get in."""

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import logout_user

from app.accounts.auth import login_page, login_rate_limit_by_ip, login_rate_limit_by_mobile
from app.admin import bp
from app.forms import ActionForm


@bp.route("/login", methods=["GET", "POST"])
@login_rate_limit_by_ip
@login_rate_limit_by_mobile
def login():
    return login_page(
        "admin/login.html",
        "admin.dashboard",
        admits=lambda user: user.is_back_office,
        refusal=_("This account has no access to the back office."),
    )


@bp.post("/logout")
def logout():
    if ActionForm().validate_on_submit():
        logout_user()
        flash(_("You have logged out."), "info")
    return redirect(url_for("admin.login"))
