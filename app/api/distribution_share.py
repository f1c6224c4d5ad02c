"""Distribution (分销) for the distributor, continued: share links for the shop and a product (the H5 link
with ?ref=, the mini-program path with the scene), and withdrawals — the list, and asking for one through
the ledger's own request_withdrawal (minimum, fee, the balance taken by a conditional update)."""

import logging
from functools import wraps

from flask import make_response, request, url_for
from flask_babel import gettext as _
from spectree import Response

from app.api import bp
from app.api.catalog import CARD_IMAGE_SIZE, buyer_level
from app.api.distribution import (
    SECURITY,
    TAGS,
    api_distributor,
    iso,
    release,
    service_error_fields,
    shop_link,
)
from app.api.errors import ApiError, ErrorBody
from app.api.schemas import Money
from app.api.schemas_distribution import (
    DistMethodOut,
    DistProductShareOut,
    DistShareOut,
    DistShareQuery,
    DistShareTargetOut,
    DistWithdrawalOut,
    DistWithdrawalPageOut,
    DistWithdrawalsQuery,
    DistWithdrawIn,
)
from app.api.security import login_required
from app.api.spec import spec
from app.catalog import services as catalog
from app.distribution import ledger, mini_program, posters, queries
from app.distribution import services as dist
from app.distribution.forms import WITHDRAWAL_METHODS
from app.distribution.models import Distributor, Withdrawal, WithdrawalStatus
from app.extensions import db
from app.marketing import codes, price_display
from app.media import image_url
from app.money import format_fen_range
from app.payments.gateways import public_url
from app.settings.services import get_shop_settings
from app.storage import StorageError

POSTER_MAX_AGE = 7 * 24 * 3600
log = logging.getLogger(__name__)


# ---------------------------------------------------------------- share


def _shop_name() -> str:
    return get_shop_settings(db.session).name or _("Fenxiao shop")


def _poster(distributor: Distributor, product) -> posters.Poster:
    """The H5 share page's poster: the same link drawn in its QR code, so both share one cached file."""
    if product is None:
        link = url_for("shop.index", ref=distributor.code, _external=True)
        logo_key = get_shop_settings(db.session).logo_key
    else:
        link = url_for("shop.product", product_id=product.id, ref=distributor.code, _external=True)
        logo_key = None
    return posters.Poster(distributor, product, _shop_name(), link, logo_key)


def _poster_version(distributor: Distributor, product) -> str:
    """A poster's cache key as ?v=, so a changed product or shop shows a new poster."""
    return _poster(distributor, product).path.stem.rsplit("-", 1)[-1]


def _poster_url(distributor: Distributor, product) -> str:
    values = {"v": _poster_version(distributor, product)}
    if product is not None:
        values["product"] = product.id
    return public_url("api.distribution_share_poster", **values)


def _sharing_distributor() -> Distributor:
    """Share tools need a working code: a disabled distributor's links are ignored by the shop."""
    distributor = api_distributor()
    if not distributor.is_active:
        raise ApiError(
            403,
            _("Your distributor account is disabled, so your share links do not count now."),
            code="distributor_disabled",
        )
    return distributor


def _shop_product(product_id: int):
    product = catalog.get_shop_product(db.session, product_id)
    if product is None:
        raise ApiError(404, _("This product is not on sale."))
    return product


def _product_share(distributor: Distributor, product_id: int) -> DistProductShareOut:
    product = _shop_product(product_id)
    units = [unit for unit, _activity in price_display.sku_units(db.session, product, buyer_level()).values()]
    return DistProductShareOut(
        id=product.id,
        link=public_url("shop.product", product_id=product.id, ref=distributor.code),
        title=product.title,
        image_url=image_url(product.main_image_key, CARD_IMAGE_SIZE, external=True),
        path=mini_program.share_path(distributor.code, product.id),
        poster_url=_poster_url(distributor, product),
        price_text=format_fen_range(min(units), max(units)) if units else format_fen_range(None, None),
        no_commission=product.commission_opt_out,
    )


@bp.get("/distribution/share")
@login_required
@spec.validate(
    query=DistShareQuery,
    resp=Response(HTTP_200=DistShareOut, HTTP_401=ErrorBody, HTTP_403=ErrorBody, HTTP_404=ErrorBody),
    tags=TAGS,
    security=SECURITY,
)
def distribution_share(query: DistShareQuery):
    """Share info for the shop and, with ?product=, a product

    The H5 share link with ?ref=<code> (on PUBLIC_URL when set), title and picture, the mini-program
    `path` with the `scene` that carries the distributor's code (a share card and a scanned 小程序码 open the page with the same scene; POST /visits takes it), and the H5 poster.
    403 not_distributor for a member who is not one, distributor_disabled for a disabled one (their
    links do not count); 404 for a product not on sale."""
    distributor = _sharing_distributor()
    settings = get_shop_settings(db.session)
    code_template = codes.code_template(db.session)
    return DistShareOut(
        scene=mini_program.encode_scene(distributor.code),
        coupon_code=codes.code_of(db.session, distributor) if code_template else None,
        shop=DistShareTargetOut(
            link=shop_link(distributor),
            title=_shop_name(),
            image_url=image_url(settings.logo_key, 200, external=True) if settings.logo_key else None,
            path=mini_program.share_path(distributor.code),
            poster_url=_poster_url(distributor, None),
        ),
        product=_product_share(distributor, query.product) if query.product else None,
    )


def _png(view):
    """The poster is a picture, not JSON: SpecTree hands back the bytes as they are, this labels them."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        response = view(*args, **kwargs)
        if response.status_code in (200, 304):
            response.mimetype = "image/png"
        return response

    return wrapper


@bp.get("/distribution/share/poster")
@login_required
@_png
@spec.validate(
    query=DistShareQuery,
    resp=Response(
        HTTP_200=(None, "The poster, image/png"),
        HTTP_304=(None, "Not modified (If-None-Match)"),
        HTTP_401=ErrorBody,
        HTTP_403=ErrorBody,
        HTTP_404=ErrorBody,
        HTTP_503=ErrorBody,
    ),
    tags=TAGS,
    security=SECURITY,
)
def distribution_share_poster(query: DistShareQuery):
    """The share poster (PNG) of the shop or, with ?product=, of a product

    The H5 share page's poster — the distributor's name, the product, a QR code of their link — for a
    signed-in distributor (send the bearer token, e.g. wx.downloadFile with the header). Cached by what
    it shows, with an ETag. 403 not_distributor / distributor_disabled; 404 for a product not on sale;
    503 when the pictures cannot be read just now."""
    distributor = _sharing_distributor()
    product = _shop_product(query.product) if query.product else None
    try:
        path = _poster(distributor, product).cached_png()
    except StorageError:
        log.exception("poster not drawn")
        raise ApiError(503, _("The poster cannot be drawn just now. Please try again in a minute.")) from None
    response = make_response(path.read_bytes())
    response.set_etag(path.stem)
    response.cache_control.private = True
    response.cache_control.max_age = POSTER_MAX_AGE
    return response.make_conditional(request)


# ---------------------------------------------------------------- withdrawals


def _status_labels() -> dict[str, str]:
    return {
        WithdrawalStatus.REQUESTED: _("Withdrawal requested"),
        WithdrawalStatus.APPROVED: _("Withdrawal approved"),
        WithdrawalStatus.PAID: _("Withdrawal paid out"),
        WithdrawalStatus.REJECTED: _("Withdrawal rejected"),
    }


def _withdrawal_out(withdrawal: Withdrawal, labels: dict[str, str]) -> DistWithdrawalOut:
    method = str(dict(WITHDRAWAL_METHODS).get(withdrawal.method, withdrawal.method))
    return DistWithdrawalOut(
        id=withdrawal.id,
        amount=Money.of(withdrawal.amount_fen),
        fee=Money.of(withdrawal.fee_fen),
        net=Money.of(withdrawal.net_fen),
        method=withdrawal.method,
        account=f"{method} · {queries.mask_account(withdrawal.account, withdrawal.method)}",
        status=withdrawal.status,
        status_label=labels.get(withdrawal.status, withdrawal.status),
        reject_reason=withdrawal.reject_reason if withdrawal.status == WithdrawalStatus.REJECTED else None,
        reference=withdrawal.reference if withdrawal.status == WithdrawalStatus.PAID else None,
        created_at=withdrawal.created_at.isoformat(),
        decided_at=iso(withdrawal.decided_at),
        paid_at=iso(withdrawal.paid_at),
    )


@bp.get("/distribution/withdrawals")
@login_required
@spec.validate(
    query=DistWithdrawalsQuery,
    resp=Response(HTTP_200=DistWithdrawalPageOut, HTTP_401=ErrorBody, HTTP_403=ErrorBody),
    tags=TAGS,
    security=SECURITY,
)
def distribution_withdrawals(query: DistWithdrawalsQuery):
    """The caller's withdrawals, newest first, by page, with what the withdraw form needs

    Only the caller's own. Each with its status in Chinese, the fee and what is transferred, the account
    masked; beside them the available balance, what is being withdrawn, the minimum, the fee rate and the
    methods. 403 not_distributor for a member who is not one."""
    distributor = api_distributor()
    if query.page == 1:
        release(distributor)
    settings = dist.get_settings(db.session)
    page = queries.withdrawal_page(db.session, distributor.id, page=query.page)
    labels = _status_labels()
    return DistWithdrawalPageOut(
        available=Money.of(distributor.available_fen),
        withdrawing=Money.of(queries.withdrawing_fen(db.session, distributor.id)),
        minimum=Money.of(settings.withdrawal_min_fen),
        fee_rate_bp=settings.withdrawal_fee_bp,
        methods=[DistMethodOut(value=value, label=str(label)) for value, label in WITHDRAWAL_METHODS],
        items=[_withdrawal_out(withdrawal, labels) for withdrawal in page.items],
        page=page.page,
        next_page=page.next_num if page.has_next else None,
    )


@bp.get("/distribution/withdrawals/<int:withdrawal_id>")
@login_required
@spec.validate(
    path_parameter_descriptions={"withdrawal_id": "A withdrawal id"},
    resp=Response(HTTP_200=DistWithdrawalOut, HTTP_401=ErrorBody, HTTP_403=ErrorBody, HTTP_404=ErrorBody),
    tags=TAGS,
    security=SECURITY,
)
def distribution_withdrawal(withdrawal_id: int):
    """One of the caller's withdrawals (anyone else's is 404)"""
    withdrawal = queries.own_withdrawal(db.session, api_distributor().id, withdrawal_id)
    if withdrawal is None:
        raise ApiError(404)
    return _withdrawal_out(withdrawal, _status_labels())


@bp.post("/distribution/withdrawals")
@login_required
@spec.validate(
    json=DistWithdrawIn,
    resp=Response(
        HTTP_201=DistWithdrawalOut,
        HTTP_401=ErrorBody,
        HTTP_403=ErrorBody,
        HTTP_409=ErrorBody,
        HTTP_422=ErrorBody,
    ),
    tags=TAGS,
    security=SECURITY,
)
def distribution_withdraw(json: DistWithdrawIn):
    """Ask for a withdrawal: the amount (integer fen) leaves the available balance at once

    The H5 withdraw form's service: the minimum, the fee, the payee details each method needs, and the
    balance taken by one conditional update, so two requests at once never both take the same money.
    422 names every field that is wrong (below the minimum, more than is available, a bad account);
    409 when withdrawals are closed for the caller (a disabled account, a balance below zero);
    403 not_distributor for a member who is not one."""
    distributor = api_distributor()
    try:
        withdrawal = ledger.request_withdrawal(
            db.session,
            distributor,
            ledger.WithdrawalInput(
                amount_fen=json.amount_fen,
                method=json.method,
                real_name=json.real_name,
                account=json.account,
                bank_name=json.bank_name,
                bank_branch=json.bank_branch,
            ),
        )
        db.session.commit()
    except ledger.LedgerError as error:
        db.session.rollback()
        fields = service_error_fields(error)
        if fields:
            raise ApiError(422, error.message, code="invalid", fields=fields) from None
        raise ApiError(409, error.message, code="withdrawal_refused") from None
    return _withdrawal_out(withdrawal, _status_labels()), 201
