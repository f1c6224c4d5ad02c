"""Withdrawals in the back office: the queue by status, approving, paying (with the transfer reference)
or rejecting each one, and approved bank-card withdrawals as one CSV batch for the bank."""

from flask import render_template, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.viewutil import (
    PER_PAGE,
    action_answer,
    get_or_404,
    list_page,
    record_action,
    text_arg,
)
from app.distribution import admin_queries as queries
from app.distribution import ledger
from app.distribution.admin_forms import PayWithdrawalForm, RejectWithdrawalForm
from app.distribution.models import Withdrawal
from app.extensions import db
from app.forms import ActionForm
from app.money import format_fen, yuan
from app.webutil import csv_digits, csv_download, csv_line, csv_text, page_arg, tab_arg


@bp.get("/distribution/withdrawals")
@permission_required(Permission.DISTRIBUTION, Permission.MONEY)
def distribution_withdrawals():
    tab = tab_arg(queries.WITHDRAWAL_TABS, "requested")
    q = text_arg("q")
    context = {
        "page": db.paginate(
            queries.withdrawals_query(tab, q), page=page_arg(), per_page=PER_PAGE, error_out=False
        ),
        "tab": tab,
        "q": q,
        "tabs": queries.WITHDRAWAL_TABS,
        "counts": queries.withdrawal_counts(db.session),
        "bank_batch": db.session.scalar(
            select(func.count()).select_from(queries.bank_batch_query().order_by(None).subquery())
        ),
        "forms": {},
    }
    return list_page("admin/distribution/withdrawals.html", **context)


def _withdrawal_or_404(withdrawal_id: int) -> Withdrawal:
    return get_or_404(Withdrawal, withdrawal_id, _("This withdrawal does not exist."))


def _withdrawal_row(withdrawal: Withdrawal, message: str, failed: dict | None = None):
    def row() -> str:
        fresh = db.session.get(Withdrawal, withdrawal.id)
        return render_template(
            "admin/distribution/_withdrawal_row.html", withdrawal=fresh, forms=failed or {}
        )

    return action_answer(
        message, bool(failed), url_for("admin.distribution_withdrawals", tab=withdrawal.status), row
    )


# The buttons on a withdrawal's row; a refused form shows again as the row's forms[name].
withdrawal_action = record_action(Permission.MONEY, _withdrawal_or_404, _withdrawal_row)


@bp.post("/distribution/withdrawals/<int:withdrawal_id>/approve")
@withdrawal_action("approve", ActionForm)
def distribution_withdrawals_approve(withdrawal: Withdrawal, form: ActionForm) -> str:
    ledger.approve_withdrawal(db.session, withdrawal, actor=current_user)
    return _("Approved. Transfer %(amount)s, then mark it paid.", amount=format_fen(withdrawal.net_fen))


@bp.post("/distribution/withdrawals/<int:withdrawal_id>/pay")
@withdrawal_action("pay", PayWithdrawalForm)
def distribution_withdrawals_pay(withdrawal: Withdrawal, form: PayWithdrawalForm) -> str:
    ledger.mark_withdrawal_paid(db.session, withdrawal, actor=current_user, reference=form.reference.data)
    return _("Marked as paid. The distributor sees 已打款.")


@bp.post("/distribution/withdrawals/<int:withdrawal_id>/reject")
@withdrawal_action("reject", RejectWithdrawalForm)
def distribution_withdrawals_reject(withdrawal: Withdrawal, form: RejectWithdrawalForm) -> str:
    # Only a missing reason names a field; "already handled" leaves no reject form on the row.
    ledger.reject_withdrawal(db.session, withdrawal, actor=current_user, reason=form.reason.data)
    return _(
        "Rejected. %(amount)s is back in the distributor's balance.",
        amount=format_fen(withdrawal.amount_fen),
    )


BANK_COLUMNS = (
    _l("Withdrawal No."),
    _l("Account holder"),
    _l("Card number"),
    _l("Bank"),
    _l("Branch"),
    _l("Amount"),
    _l("Fee"),
    _l("To transfer"),
    _l("Transfer reference"),
)


@bp.get("/distribution/withdrawals/bank.csv")
@permission_required(Permission.MONEY)
def distribution_withdrawals_bank_csv():
    """Approved bank-card withdrawals as one batch for the bank: the reference column is left empty for
    the merchant to fill in from the bank's receipt."""
    rows = [
        [
            withdrawal.id,
            csv_text(withdrawal.account.get("name", "")),
            csv_digits(withdrawal.account.get("account", "")),
            csv_text(withdrawal.account.get("bank", "")),
            csv_text(withdrawal.account.get("branch", "")),
            yuan(withdrawal.amount_fen),
            yuan(withdrawal.fee_fen),
            yuan(withdrawal.net_fen),
            "",
        ]
        for withdrawal in db.session.scalars(queries.bank_batch_query())
    ]
    body = "\ufeff" + "".join(csv_line(row) for row in [[str(c) for c in BANK_COLUMNS], *rows])
    stamp = format_datetime(format="yyyyMMdd-HHmm")
    return csv_download(body, f"withdrawals-bank-{stamp}.csv")
