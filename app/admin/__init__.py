"""The merchant's back office (/admin): every route needs a staff or owner login."""

from functools import wraps

from flask import Blueprint, abort, request
from flask_login import current_user

from app.accounts.models import Permission
from app.extensions import login_manager

bp = Blueprint("admin", __name__)

# Endpoints reachable without a back-office login.
PUBLIC_ENDPOINTS = {"admin.login"}


@bp.before_request
def require_back_office_user():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_back_office:
        abort(403)
    return None


@bp.after_request
def never_cache(response):
    """Back-office pages hold customers' names, phones and addresses: no browser or proxy keeps a copy
    (a shared shop computer's back button or cache would show them after logout)."""
    response.headers["Cache-Control"] = "no-store"
    return response


def permission_required(permission: Permission, *or_else: Permission):
    """A back-office page or action for those who hold `permission` (or any of `or_else`: the after-sales
    list serves both who handle orders and who pay refunds). Read on every request, so a change to a staff
    member's permissions applies at their next click."""
    allowed = (permission, *or_else)

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not any(current_user.can(p) for p in allowed):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_permission = permission
        wrapped.allowed_permissions = frozenset(allowed)
        return wrapped

    return decorator


from app.admin import (  # noqa: E402, F401
    aftersales,
    auth,
    bulk_ship,
    catalog,
    commissions,
    confirm_texts,
    customers,
    dashboard,
    distribution,
    distributors,
    dividend_settings,
    dividends,
    marketing,
    marketing_campaigns,
    marketing_coupons,
    marketing_flash,
    marketing_groups,
    notifications,
    orders,
    payments,
    promote,
    refunds,
    reports,
    settings,
    staff,
    withdrawals,
)
