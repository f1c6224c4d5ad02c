"""The distributor's side of the shop (分销中心): how to become one, balances and earnings, the commission
list and why an order earned what it did (buyer masked), the team, visits and conversion, share links with
QR codes and posters, and withdrawals. Figures come from distribution.queries, every change from the
distribution services; nothing here computes commission."""

import hashlib
import logging
from functools import wraps

from flask import (
    Response,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block
from sqlalchemy import select

from app.accounts.models import User
from app.catalog import services as catalog
from app.db_types import MAX_ID
from app.distribution import dividend_queries, grades, ledger, mini_program, posters, queries
from app.distribution import services as dist
from app.distribution.explain import explain
from app.distribution.forms import WITHDRAWAL_METHODS, ApplyForm, WithdrawForm
from app.distribution.models import ApplicationStatus, Distributor, WithdrawalStatus
from app.extensions import db, htmx
from app.forms import ActionForm, apply_service_error
from app.marketing import codes
from app.numbers import parse_whole_number
from app.orders.models import Order
from app.settings.services import get_shop_settings
from app.shop import bp
from app.storage import StorageError
from app.timeutil import utcnow

log = logging.getLogger(__name__)

MAX_PAGE = 10_000
SEARCH_MAX = 40
SHARE_PRODUCTS_PER_PAGE = 10
IMAGE_MAX_AGE = 7 * 24 * 3600
GRADE_LOG_SHOWN = 5


# ---------------------------------------------------------------- helpers


@bp.app_template_global()
def current_distributor() -> Distributor | None:
    """The signed-in member's distributor record (once per request), or None."""
    if not current_user.is_authenticated:
        return None
    if "fx_distributor" not in g:
        g.fx_distributor = dist.distributor_of(db.session, current_user.id)
    return g.fx_distributor


@bp.app_template_global()
def distribution_open() -> bool:
    """Whether the shop runs distribution at all (the "become a distributor" entry hides otherwise)."""
    if "fx_distribution_open" not in g:
        g.fx_distribution_open = dist.get_settings(db.session).enabled
    return g.fx_distribution_open


def distributor_required(view):
    """Distributor pages: a member who is not one gets the page that says how to become one, not data."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        distributor = current_distributor()
        if distributor is None:
            if htmx:
                return Response(status=204, headers={"HX-Redirect": url_for("shop.distribution_center")})
            return redirect(url_for("shop.distribution_center"))
        return view(distributor, *args, **kwargs)

    return wrapped


def _int_arg(name: str, default: int | None = None, maximum: int = MAX_ID) -> int | None:
    value = parse_whole_number(request.args.get(name, ""), max_digits=10)
    return value if value is not None and 0 < value <= maximum else default


def _fragment_wanted() -> bool:
    return bool(htmx) and not htmx.history_restore_request


def _release(distributor: Distributor) -> None:
    """What is due is released before any balance is shown (DISTRIBUTION.md: nothing waits for cron)."""
    if ledger.release_due(db.session, distributor_id=distributor.id):
        db.session.commit()
        db.session.refresh(distributor)
    else:
        db.session.rollback()  # nothing moved: let go of the write lock at once


def _shop_link(distributor: Distributor) -> str:
    return url_for("shop.index", ref=distributor.code, _external=True)


def _product_link(distributor: Distributor, product_id: int) -> str:
    return url_for("shop.product", product_id=product_id, ref=distributor.code, _external=True)


def _shop_name() -> str:
    return get_shop_settings(db.session).name or _("Fenxiao shop")


# ---------------------------------------------------------------- joining and the center


@bp.get("/d")
@login_required
def distribution_center():
    distributor = current_distributor()
    if distributor is None:
        return _join_page(ApplyForm(formdata=None, mobile=current_user.mobile))
    _release(distributor)
    settings = dist.get_settings(db.session)
    level_one, level_two = queries.team_counts(db.session, current_user.id)
    dividends = dividend_queries.dividend_totals(db.session, distributor.id, utcnow())
    return render_template(
        "shop/distribution/center.html",
        tab="me",
        distributor=distributor,
        settings=settings,
        earnings=queries.earnings(db.session, distributor.id, utcnow()),
        dividends=dividends,
        show_dividends=settings.dividends_enabled or dividends.days > 0,
        withdrawing_fen=queries.withdrawing_fen(db.session, distributor.id),
        team=(level_one, level_two),
        shop_link=_shop_link(distributor),
        grade=grades.progress(db.session, distributor, settings),
        grade_log=grades.grade_log(db.session, distributor.id, limit=GRADE_LOG_SHOWN),
    )


def _join_page(form: ApplyForm, status: int = 200):
    settings = dist.get_settings(db.session)
    can_join, why_not = dist.can_join_now(db.session, current_user)
    application = queries.latest_application(db.session, current_user.id)
    spent = dist.paid_spend_fen(db.session, current_user.id) if settings.mode == "spend" else 0
    if (
        application is not None
        and application.status == ApplicationStatus.REJECTED
        and not form.is_submitted()
    ):
        form.real_name.data = application.real_name
        form.mobile.data = application.mobile
        form.reason.data = application.reason
    return (
        render_template(
            "shop/distribution/join.html",
            tab="me",
            settings=settings,
            rates=list(settings.rates_bp[: settings.levels]),
            can_join=can_join,
            why_not=why_not,
            spent_fen=spent,
            application=application,
            form=form,
            join_form=ActionForm(),
        ),
        status,
    )


def _texts(form, *names: str) -> dict[str, str]:
    """What was typed in these fields, as the services take it ("" for an empty one)."""
    return {name: form[name].data or "" for name in names}


@bp.post("/d/apply")
@login_required
def distribution_apply():
    if current_distributor() is not None:
        return redirect(url_for("shop.distribution_center"))
    form = ApplyForm()
    if not form.validate():
        return _join_page(form, 422)
    try:
        dist.apply(db.session, current_user, **_texts(form, "real_name", "mobile", "reason"))
        db.session.commit()
    except dist.DistributionError as error:
        db.session.rollback()
        apply_service_error(form, error)
        return _join_page(form, 422)
    flash(_("Your application has been sent. The shop will review it soon."), "success")
    return redirect(url_for("shop.distribution_center"))


@bp.post("/d/join")
@login_required
def distribution_join():
    if current_distributor() is not None:
        return redirect(url_for("shop.distribution_center"))
    if not ActionForm().validate():
        flash(_("The page has expired. Please refresh it and try again."), "error")
        return redirect(url_for("shop.distribution_center"))
    try:
        dist.join(db.session, current_user)
        db.session.commit()
    except dist.DistributionError as error:
        db.session.rollback()
        flash(str(error.message), "error")
    else:
        flash(_("You are now a distributor. Share the shop with friends who may like it."), "success")
    return redirect(url_for("shop.distribution_center"))


# ---------------------------------------------------------------- commissions and explanations


@bp.get("/d/commissions")
@distributor_required
def distribution_commissions(distributor: Distributor):
    state = request.args.get("state")
    if state not in queries.COMMISSION_STATES:
        state = None
    before = _int_arg("before")
    more = before is not None and _fragment_wanted()
    if not more:
        _release(distributor)
    settings = dist.get_settings(db.session)
    page = queries.commission_page(
        db.session, distributor, freeze_days=settings.freeze_days, state=state, before=before
    )
    context = {"tab": "me", "page": page, "state": state, "settings": settings, "distributor": distributor}
    if more:
        return render_block("shop/distribution/commissions.html", "commission_items", **context)
    return render_template("shop/distribution/commissions.html", **context)


def _order_for_distributor(distributor: Distributor, number: str) -> Order:
    """An order this distributor may ask about: one that paid them commission, or one of their team's
    (level 1 or 2) — the "why didn't I get commission?" case. Anything else is not found."""
    order = db.session.scalar(select(Order).where(Order.number == number[:20]))
    if order is None:
        abort(404)
    if queries.commission_on_order(db.session, distributor.id, order.id):
        return order
    buyer = db.session.get(User, order.user_id)
    if queries.team_level(db.session, distributor.user_id, buyer) is None:
        abort(404)
    return order


@bp.get("/d/orders/<number>")
@distributor_required
def distribution_order(distributor: Distributor, number: str):
    order = _order_for_distributor(distributor, number)
    _release(distributor)
    settings = dist.get_settings(db.session)
    view = explain(db.session, order, for_distributor_id=distributor.id)
    return render_template(
        "shop/distribution/order.html",
        tab="me",
        order=order,
        masked_number=queries.mask_order_number(order.number),
        view=view,
        release_on=queries.release_date(order.completed_at, settings.freeze_days),
        waiting_release=queries.waits_for_release(db.session, distributor.id, order.id),
        settings=settings,
    )


# ---------------------------------------------------------------- team


@bp.get("/d/team")
@distributor_required
def distribution_team(distributor: Distributor):
    level = 2 if request.args.get("level") == "2" else 1
    page = queries.team_page(
        db.session, distributor.user_id, level=level, now=utcnow(), page=_int_arg("page", 1, MAX_PAGE)
    )
    context = {"tab": "me", "level": level, "page": page}
    if "page" in request.args and _fragment_wanted():
        return render_block("shop/distribution/team.html", "member_items", **context)
    context["counts"] = queries.team_counts(db.session, distributor.user_id)
    return render_template("shop/distribution/team.html", **context)


@bp.get("/d/team/<int:user_id>")
@distributor_required
def distribution_member(distributor: Distributor, user_id: int):
    member = db.session.get(User, user_id)
    level = queries.team_level(db.session, distributor.user_id, member) if member else None
    if level is None:
        abort(404)
    page = queries.member_orders(db.session, distributor.id, member.id, page=_int_arg("page", 1, MAX_PAGE))
    context = {"tab": "me", "member": member, "level": level, "page": page}
    if "page" in request.args and _fragment_wanted():
        return render_block("shop/distribution/member.html", "order_items", **context)
    orders, sales = queries.member_sales(db.session, [member.id]).get(member.id, (0, 0))
    return render_template(
        "shop/distribution/member.html",
        label=queries.member_label(member.nickname, member.mobile),
        orders=orders,
        sales_fen=sales,
        now=utcnow(),
        **context,
    )


# ---------------------------------------------------------------- visits


@bp.get("/d/visits")
@distributor_required
def distribution_visits(distributor: Distributor):
    return render_template(
        "shop/distribution/visits.html",
        tab="me",
        stats=queries.visit_stats(db.session, distributor.id, utcnow()),
    )


# ---------------------------------------------------------------- share tools


def _sharing_distributor(distributor: Distributor) -> Distributor:
    """Share tools need a working share code: a disabled distributor's links are ignored by the shop."""
    if not distributor.is_active:
        flash(_("Your distributor account is disabled, so your share links do not count now."), "error")
        abort(redirect(url_for("shop.distribution_center")))
    return distributor


def _poster_version(distributor: Distributor, product) -> str:
    return _poster(distributor, product).path.stem.rsplit("-", 1)[-1]


def _poster(distributor: Distributor, product, logo_key: str | None = None) -> posters.Poster:
    """The distributor's poster: their link's QR code, or their 小程序码 when the shop has a mini-program."""
    share_url = _product_link(distributor, product.id) if product else _shop_link(distributor)
    mp_code = mini_program.mp_code(db.session, distributor.code, product.id if product else None)
    return posters.Poster(distributor, product, _shop_name(), share_url, logo_key, mp_code)


@bp.get("/d/share")
@distributor_required
def distribution_share(distributor: Distributor):
    _sharing_distributor(distributor)
    words = "".join(ch for ch in request.args.get("q", "") if ch.isprintable() or ch.isspace())
    q = " ".join(words.split())[:SEARCH_MAX]
    page = db.paginate(
        catalog.shop_products_query(q=q or None),
        page=_int_arg("page", 1, MAX_PAGE),
        per_page=SHARE_PRODUCTS_PER_PAGE,
        error_out=False,
    )
    context = {"tab": "me", "distributor": distributor, "page": page, "q": q}
    if _fragment_wanted() and (
        "page" in request.args or request.headers.get("HX-Target") == "share-products"
    ):
        return render_block("shop/distribution/share.html", "product_items", **context)
    code_template = codes.code_template(db.session)
    return render_template(
        "shop/distribution/share.html",
        shop_link=_shop_link(distributor),
        poster_version=_poster_version(distributor, None),
        code_template=code_template,
        my_code=codes.code_of(db.session, distributor) if code_template else "",
        **context,
    )


@bp.get("/d/share/p/<int:product_id>")
@distributor_required
def distribution_share_product(distributor: Distributor, product_id: int):
    _sharing_distributor(distributor)
    product = catalog.get_shop_product(db.session, product_id)
    if product is None:
        abort(404, _("This product is not on sale."))
    return render_template(
        "shop/distribution/share_product.html",
        tab="me",
        distributor=distributor,
        product=product,
        link=_product_link(distributor, product.id),
        poster_version=_poster_version(distributor, product),
    )


def _image_owner(code: str) -> Distributor:
    """Posters and QR codes are the distributor's own: anyone else (signed in or not) gets 404."""
    distributor = current_distributor()
    if distributor is None or not distributor.is_active or distributor.code != code:
        abort(404)
    return distributor


def _image_product(product_id: int):
    product = catalog.get_shop_product(db.session, product_id)
    if product is None:
        abort(404)
    return product


def _private_cache(response):
    """Posters belong to one person: browsers may keep them, shared caches may not."""
    response.cache_control.public = False
    response.cache_control.private = True
    response.cache_control.max_age = IMAGE_MAX_AGE
    return response


def _poster_response(distributor: Distributor, product):
    logo_key = None if product else get_shop_settings(db.session).logo_key
    try:
        path = _poster(distributor, product, logo_key).cached_png()
    except StorageError:
        log.exception("poster not drawn")
        abort(503, _("The poster cannot be drawn just now. Please try again in a minute."))
    response = send_file(path, mimetype="image/png", etag=path.stem, max_age=IMAGE_MAX_AGE, conditional=True)
    return _private_cache(response)


@bp.get("/d/share/<code>/poster.png")
def distribution_shop_poster(code: str):
    return _poster_response(_image_owner(code), None)


@bp.get("/d/share/<code>/poster/<int:product_id>.png")
def distribution_product_poster(code: str, product_id: int):
    distributor = _image_owner(code)
    return _poster_response(distributor, _image_product(product_id))


def _qr_response(url: str):
    """A QR code is a function of its link: the ETag is the link's hash, so a revalidation costs no drawing."""
    etag = hashlib.sha256(url.encode()).hexdigest()[:16]
    response = make_response("", 304) if etag in request.if_none_match else make_response(posters.qr_png(url))
    response.mimetype = "image/png"
    response.set_etag(etag)
    return _private_cache(response)


@bp.get("/d/share/<code>/qr.png")
def distribution_shop_qr(code: str):
    return _qr_response(_shop_link(_image_owner(code)))


@bp.get("/d/share/<code>/qr/<int:product_id>.png")
def distribution_product_qr(code: str, product_id: int):
    distributor = _image_owner(code)
    return _qr_response(_product_link(distributor, _image_product(product_id).id))


# ---------------------------------------------------------------- withdrawals


def _withdraw_page(distributor: Distributor, form: WithdrawForm, status: int = 200):
    settings = dist.get_settings(db.session)
    amount = form.amount_fen.data if isinstance(form.amount_fen.data, int) else None
    return (
        render_template(
            "shop/distribution/withdraw.html",
            tab="me",
            distributor=distributor,
            form=form,
            methods=WITHDRAWAL_METHODS,
            settings=settings,
            withdrawing_fen=queries.withdrawing_fen(db.session, distributor.id),
            fee_fen=queries.withdrawal_fee_fen(amount, settings.withdrawal_fee_bp) if amount else None,
            amount_fen=amount,
        ),
        status,
    )


@bp.get("/d/withdraw")
@distributor_required
def distribution_withdraw(distributor: Distributor):
    _release(distributor)
    form = WithdrawForm(formdata=None, real_name=distributor.real_name or None)
    return _withdraw_page(distributor, form)


@bp.post("/d/withdraw")
@distributor_required
def distribution_withdraw_post(distributor: Distributor):
    form = WithdrawForm()
    if not form.validate():
        _release(distributor)
        return _withdraw_page(distributor, form, 422)
    try:
        withdrawal = ledger.request_withdrawal(
            db.session,
            distributor,
            ledger.WithdrawalInput(
                amount_fen=form.amount_fen.data,
                **_texts(form, "method", "real_name", "account", "bank_name", "bank_branch"),
            ),
        )
        db.session.commit()
    except ledger.LedgerError as error:
        db.session.rollback()
        apply_service_error(form, error)
        _release(distributor)
        return _withdraw_page(distributor, form, 422)
    flash(_("Your withdrawal request has been sent to the shop."), "success")
    return redirect(url_for("shop.distribution_withdrawal", withdrawal_id=withdrawal.id))


@bp.get("/d/withdrawals")
@distributor_required
def distribution_withdrawals(distributor: Distributor):
    page = queries.withdrawal_page(db.session, distributor.id, page=_int_arg("page", 1, MAX_PAGE))
    context = {"tab": "me", "page": page}
    if "page" in request.args and _fragment_wanted():
        return render_block("shop/distribution/withdrawals.html", "withdrawal_items", **context)
    return render_template("shop/distribution/withdrawals.html", **context)


@bp.get("/d/withdrawals/<int:withdrawal_id>")
@distributor_required
def distribution_withdrawal(distributor: Distributor, withdrawal_id: int):
    withdrawal = queries.own_withdrawal(db.session, distributor.id, withdrawal_id)
    if withdrawal is None:
        abort(404)
    return render_template(
        "shop/distribution/withdrawal.html",
        tab="me",
        withdrawal=withdrawal,
        method_label=dict(WITHDRAWAL_METHODS).get(withdrawal.method, withdrawal.method),
    )


WITHDRAWAL_STATUS_TEXT = {
    WithdrawalStatus.REQUESTED: lambda: _("Withdrawal requested"),
    WithdrawalStatus.APPROVED: lambda: _("Withdrawal approved"),
    WithdrawalStatus.PAID: lambda: _("Withdrawal paid out"),
    WithdrawalStatus.REJECTED: lambda: _("Withdrawal rejected"),
}


@bp.app_template_filter("withdrawal_status_text")
def withdrawal_status_text(status: str) -> str:
    text = WITHDRAWAL_STATUS_TEXT.get(status)
    return text() if text else status


@bp.app_template_filter("withdrawal_account")
def withdrawal_account(withdrawal, with_method: bool = True) -> str:
    """ "支付宝 · 137****001": enough for its owner to recognise the account, not to read it over a shoulder."""
    masked = queries.mask_account(withdrawal.account, withdrawal.method)
    if not with_method:
        return masked
    return f"{dict(WITHDRAWAL_METHODS).get(withdrawal.method, withdrawal.method)} · {masked}"
