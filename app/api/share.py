"""Sharing inside the mini-program: a distributor's 小程序码 (wxacode.getUnlimited, cached per distributor
and product), and the visit a share brings (POST /visits), counted and bound exactly as `?ref=` on an H5
page (distribution.share_links). The scene format and the pages are in distribution/mini_program.py."""

import logging
import secrets
from urllib.parse import unquote

from flask import current_app, make_response, request
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from spectree import Response

from app.api import bp
from app.api.errors import ApiError, ErrorBody
from app.api.schemas_share import VisitIn, VisitOut, WxacodeQuery
from app.api.security import api_user, login_required
from app.api.spec import BEARER, spec
from app.catalog import services as catalog
from app.catalog.models import Product
from app.distribution import mini_program, share_links
from app.distribution import services as dist
from app.extensions import db
from app.payments.wechat_web import WechatApiError
from app.timeutil import utcnow
from app.webutil import in_wechat

log = logging.getLogger(__name__)

IMAGE_MAX_AGE = 7 * 24 * 3600
REMEMBERED_SALT = "api-share-links"


class PngResponse(Response):
    """A response whose 200 is a PNG image (documented as binary), the other statuses JSON errors."""

    def generate_spec(self, *args, **kwargs):
        responses = super().generate_spec(*args, **kwargs)
        responses["200"] = {
            "description": "The image (PNG)",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        }
        return responses


@bp.get("/distribution/wxacode")
@login_required
@spec.validate(
    query=WxacodeQuery,
    resp=PngResponse(
        HTTP_200=None,
        HTTP_401=ErrorBody,
        HTTP_403=ErrorBody,
        HTTP_404=ErrorBody,
        HTTP_409=ErrorBody,
        HTTP_503=ErrorBody,
    ),
    tags=["distribution"],
    security={BEARER: []},
)
def wxacode(query: WxacodeQuery):
    """The distributor's own 小程序码 for the shop home or a product (PNG)

    Scanning it opens the mini-program's page (pages/index/index, or pages/product/index) with the scene
    that carries the distributor's code and the product. Asked of WeChat once, then cached. 403 for a
    member who is not an active distributor, 404 for a product not on sale, 409 when the shop has no
    mini-program, 503 when WeChat does not answer."""
    distributor = dist.distributor_of(db.session, api_user().id)
    if distributor is None:
        raise ApiError(403, _("Only distributors have their own mini-program code."), code="not_distributor")
    if not distributor.is_active:
        raise ApiError(
            403,
            _("Your distributor account is disabled, so your share links do not count now."),
            code="distributor_disabled",
        )
    if query.product is not None and catalog.get_shop_product(db.session, query.product) is None:
        raise ApiError(404, _("This product is no longer on sale."))
    code = mini_program.mp_code(db.session, distributor.code, query.product)
    if code is None:
        raise ApiError(
            409,
            _("The shop has not set up its mini-program, so there is no mini-program code."),
            code="mini_program_not_configured",
        )
    try:
        path = mini_program.wxacode_file(db.session, code)
    except WechatApiError as error:
        log.warning("no 小程序码: %s", error)
        raise ApiError(
            503,
            _("WeChat did not give the mini-program code just now. Please try again in a minute."),
            code="wechat_unavailable",
        ) from None
    response = make_response(path.read_bytes())
    response.mimetype = "image/png"
    response.cache_control.max_age = IMAGE_MAX_AGE
    response.cache_control.private = True
    return response


class _ShopClockSigner(TimestampSigner):
    """Signs with the shop's clock (app.timeutil), the one each remembered link's time is read by."""

    def get_timestamp(self) -> int:
        return int(utcnow().timestamp())


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=REMEMBERED_SALT, signer=_ShopClockSigner)


def _remembered_max_age() -> int:
    """As long as the H5 shop keeps a remembered ?ref=: its session cookie is read for
    PERMANENT_SESSION_LIFETIME after it was last written (each link also lapses by its own time)."""
    return int(current_app.permanent_session_lifetime.total_seconds())


def _remembered(token: str | None) -> list:
    """The links an anonymous answer handed out (signed: the client cannot make them up); an expired one
    is nothing, a forged or garbled one is refused."""
    if not token:
        return []
    try:
        links = _serializer().loads(token, max_age=_remembered_max_age())
    except SignatureExpired:
        return []
    except BadSignature:
        raise ApiError(
            422,
            _("The remembered share is not valid."),
            fields={"remembered": _("This is not valid.")},
            code="invalid_remembered",
        ) from None
    return links if isinstance(links, list) else []


def _share(json: VisitIn) -> mini_program.Share | None:
    """What the request says was shared (None: nothing, only `remembered`)."""
    if json.scene is not None:
        if json.ref is not None or json.product_id is not None:
            raise ApiError(
                422,
                _("Send either the scene or the share code, not both."),
                fields={"scene": _("This is not valid.")},
            )
        # options.scene comes URL-encoded ("r%3D…%26p%3D12"): either form is taken.
        share = mini_program.decode_scene(unquote(json.scene) if "%" in json.scene else json.scene)
        if share is None:
            raise ApiError(
                422,
                _("This share code is not valid."),
                fields={"scene": _("This is not a share code of this shop.")},
                code="invalid_scene",
            )
        return share
    if json.ref is not None:
        return mini_program.Share(json.ref, json.product_id)
    if json.product_id is not None or not json.remembered:
        raise ApiError(
            422,
            _("Send the scene, or the share code."),
            fields={"scene": _("This is required.")},
        )
    return None


@bp.post("/visits")
@spec.validate(
    json=VisitIn,
    # 400: a cookie-signed call without its CSRF token; 415: a body that is not JSON.
    resp=Response(
        HTTP_200=VisitOut, HTTP_400=ErrorBody, HTTP_401=ErrorBody, HTTP_415=ErrorBody, HTTP_422=ErrorBody
    ),
    tags=["distribution"],
    security=[{}, {BEARER: []}],
)
def visit(json: VisitIn):
    """A page opened from a share: count the visit, bind the shopper

    What the mini-program sends from onLoad when opened from a share or a 小程序码: the scene, or the
    share's ref (and product). It counts and binds exactly as `?ref=` on the H5 shop: signed in, the
    shopper is bound as the shop's rules say; anonymous, the visit is counted and the answer's
    `remembered` is to be kept and sent back (POST /visits with `remembered`) after login, which binds
    then. An unknown or disabled code is ignored (200, ref null), never an error."""
    share = _share(json)
    remembered = _remembered(json.remembered)
    user = api_user()
    visitor = json.visitor or (_user_visitor(user.id) if user else secrets.token_hex(16))
    distributor = share_links.sharing_distributor(db.session, share.code) if share and share.code else None
    product_id = share.product_id if share else None
    if product_id is not None and db.session.get(Product, product_id) is None:
        product_id = None  # a product since deleted: a visit to the shop
    page = mini_program.PRODUCT_PAGE if product_id is not None else mini_program.HOME_PAGE
    if distributor is None:  # nothing counts; links remembered before still bind at login
        result = dist.bind_remembered(db.session, user, remembered) if user and remembered else None
        db.session.commit()
        return VisitOut(
            counted=False,
            ref=None,
            product_id=product_id,
            page=page,
            bound=bool(result and result.bound),
            binding=result.reason if result else None,
            remembered=json.remembered if user is None and remembered else None,
            visitor=visitor,
        )
    shared = mini_program.Share(distributor.code, product_id)
    opened = share_links.open_share_link(
        db.session,
        distributor,
        user=user,
        remembered=remembered,
        visitor_key=visitor,
        path=f"mp:{page}" + (f"?p={product_id}" if product_id else ""),
        product_id=product_id,
        ip=_client_ip(),
        in_wechat=in_wechat(),
        source=f"mp:{mini_program.share_path(shared.code, shared.product_id)}",
        now=utcnow(),
    )
    db.session.commit()
    return VisitOut(
        counted=opened.counted,
        ref=distributor.code,
        product_id=product_id,
        page=page,
        bound=bool(opened.bind and opened.bind.bound),
        binding=opened.bind.reason if opened.bind else None,
        remembered=_serializer().dumps(opened.remembered) if opened.remembered is not None else None,
        visitor=visitor,
    )


def _user_visitor(user_id: int) -> str:
    """A signed-in shopper's visitor id when the device sent none: the same every time (so their visits
    are not counted again), unguessable from the id, and one the answer's `visitor` can be sent back as
    (VISITOR_PATTERN)."""
    return "u" + dist.salted_hash("api-visitor", str(user_id))[:31]


def _client_ip() -> str:
    return request.remote_addr or ""
