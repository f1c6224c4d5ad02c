"""Customers in the back office (用户管理): the list with its search and filters, one customer's page, and
disabling or enabling an account."""

from flask import abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from jinja2_fragments.flask import render_block

from app.accounts import management
from app.accounts.admin_forms import AccountStatusForm
from app.accounts.models import Permission, User, mask_mobile
from app.admin import bp, permission_required
from app.admin.viewutil import PER_PAGE, action_answer, list_page, record_action
from app.customers import queries
from app.extensions import db
from app.webutil import page_arg


@bp.get("/customers")
@permission_required(Permission.CUSTOMERS)
def customers():
    filters = queries.CustomerFilters.from_args(request.args)
    full = queries.may_see_contacts(current_user)
    query = queries.customers_query(filters, full_contacts=full)
    page = db.paginate(query, page=page_arg(), per_page=PER_PAGE, error_out=False)
    return list_page(
        "admin/customers.html",
        page=page,
        rows=queries.customer_rows(db.session, page.items, full_contacts=full),
        filters=filters,
        levels=queries.levels(db.session),
        contacts_masked=not full,
    )


def _customer_or_404(customer_id: int) -> User:
    customer = queries.customer_or_none(db.session, customer_id)
    if customer is None:
        abort(404, description=_("This customer does not exist."))
    return customer


def _customer_context(customer: User, **forms) -> dict:
    return {
        "view": queries.customer_page(db.session, customer, current_user),
        "events": management.account_events(db.session, customer.id),
        "status_form": forms.get("status_form") or AccountStatusForm(formdata=None),
    }


@bp.get("/customers/<int:customer_id>")
@permission_required(Permission.CUSTOMERS)
def customers_detail(customer_id: int):
    customer = _customer_or_404(customer_id)
    return render_template("admin/customer.html", **_customer_context(customer))


def _customer_result(customer: User, message: str, failed: dict | None = None):
    def status_card() -> str:
        fresh = db.session.get(User, customer.id)
        return render_block(
            "admin/customer.html", "status_card", **_customer_context(fresh, **(failed or {}))
        )

    page_url = url_for("admin.customers_detail", customer_id=customer.id)
    return action_answer(message, bool(failed), page_url, status_card)


customer_action = record_action(Permission.CUSTOMERS, _customer_or_404, _customer_result)


@bp.post("/customers/<int:customer_id>/active")
@customer_action("status_form", AccountStatusForm)
def customers_active(customer: User, form: AccountStatusForm) -> str:
    active = request.form.get("active") == "1"
    management.set_account_active(
        db.session, customer, active=active, actor=current_user, reason=form.reason.data
    )
    if active:
        return _("%(name)s can log in and order again.", name=customer.display_name)
    return _("%(name)s is disabled and logged out.", name=customer.display_name)


@bp.context_processor
def contact_helpers():
    def shown_mobile(mobile: str | None) -> str:
        """A customer's number as this back-office user may see it: whole with the orders permission."""
        return (mobile or "") if queries.may_see_contacts(current_user) else mask_mobile(mobile)

    return {"shown_mobile": shown_mobile}
