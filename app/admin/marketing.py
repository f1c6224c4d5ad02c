"""Marketing (营销) in the back office: the words its pages use, the plumbing its forms share, member levels and
the points settings, and the product and SKU searches the offer forms use. 限时折扣 and 满减 are in
app.admin.marketing_campaigns, coupons in app.admin.marketing_coupons. The rules live in app.marketing; these
views parse input, call them, commit or roll back, and render."""

from collections.abc import Callable

from flask import Response, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2_fragments.flask import render_block
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.viewutil import form_routes, get_or_404, list_page, local_time, text_arg
from app.catalog import services as catalog
from app.catalog.models import Category, Product
from app.extensions import db, htmx
from app.marketing import members
from app.marketing.errors import MarketingError
from app.marketing.forms import LevelForm, PointsSettingsForm, zhe_text
from app.marketing.models import MemberAccount, MemberLevel
from app.marketing.offer_forms import ScopeMixin
from app.money import format_fen
from app.webutil import toast

SEARCH_LIMIT = 20  # products a chooser's search shows

STATUS_LABELS = {
    "upcoming": _l("Not started"),
    "between": _l("Between runs"),
    "running": _l("Running"),
    "ended": _l("Ended"),
    "stopped": _l("Stopped"),
    "claimable": _l("Claimable"),
    "sold_out": _l("All claimed"),
}
STATUS_COLOURS = {
    "upcoming": "info",
    "between": "info",
    "running": "success",
    "ended": "secondary",
    "stopped": "dark",
    "claimable": "success",
    "sold_out": "warning",
}


@bp.context_processor
def marketing_helpers():
    return {
        "mkt_status_labels": STATUS_LABELS,
        "mkt_status_colours": STATUS_COLOURS,
        "mkt_when": local_time,
        "zhe_words": members.discount_words,
        "zhe_text": zhe_text,
        "times_words": members.multiplier_words,
        "points_example": points_example,
    }


# ---------------------------------------------------------------- what the marketing views share


def form_answer(page: str, status: int = 200, **context) -> Response:
    """The form page, or only its form (block "form") when htmx posted it."""
    if request.method == "POST" and htmx:
        return make_response(render_block(page, "form", **context), status)
    return make_response(render_template(page, **context), status)


def saved_answer(message: str, endpoint: str, level: str = "success", **values) -> Response:
    """After a save: on to the page (usually the list) with the message (htmx follows HX-Redirect)."""
    flash(message, level)
    target = url_for(endpoint, **values)
    if htmx:
        return Response(status=200, headers={"HX-Redirect": target})
    return redirect(target)


def item_change_answer(record, change, done: str, page, endpoint: str, **values) -> Response:
    """A change to an activity's products (秒杀 session, 拼团 activity): saved and answered, or refused with
    the edit page (`page(record, item_error=…, status=…)`) showing why."""
    try:
        change(record)
        db.session.commit()
    except MarketingError as error:
        db.session.rollback()
        db.session.refresh(record)
        return page(record, item_error=str(error.message), status=422)
    return saved_answer(done, endpoint, **values)


def stop_answer(record, stopped: bool, endpoint: str) -> Response:
    """After the stop button of an activity: stopped now, or it had already ended or been stopped."""
    if stopped:
        db.session.commit()
        return saved_answer(_("“%(name)s” stopped.", name=record.name), endpoint)
    return saved_answer(
        _("“%(name)s” has already ended or been stopped.", name=record.name), endpoint, "warning"
    )


def list_answer(page: str, endpoint: str, context: dict, message: str, level: str = "success"):
    """After a button in a list (stop, delete): the list again with a toast, or a redirect without htmx."""
    if not htmx:
        flash(message, "success" if level == "success" else "error")
        return redirect(url_for(endpoint))
    return toast(make_response(render_block(page, "results", **context)), message, level)


def refresh_action() -> str | None:
    """A refresh of a form (a search, a row added or removed, a choice that shows other fields): the form
    comes back as typed, nothing is saved. None for a real submit."""
    action = request.form.get("refresh")
    return action[:40] if action is not None else None


def edit_page(page: str, form_class, record, *, save, saved, context=None, refresh=None) -> Response:
    """One marketing form's life: shown from its record (None: a new one); a refresh applies
    `refresh(form, action)` and shows the form as typed; a submit saves through `save(session, record,
    data)` and commits, then goes where `saved(result)` says ((message, endpoint)), or shows what was wrong
    next to its field (422) with nothing changed. `context(form)` adds what the page shows besides."""
    form = form_class(request.form if request.method == "POST" else None, record=record)
    status = 200
    action = refresh_action() if request.method == "POST" else None
    if action is not None:
        if refresh is not None:
            refresh(form, action)
    elif request.method == "POST":
        status = 422
        if form.validate():
            try:
                result = save(db.session, record, form.to_data())
                db.session.commit()
            except (MarketingError, IntegrityError) as error:
                db.session.rollback()
                form.refused(error)
            else:
                return saved_answer(*saved(result))
    return form_answer(page, status, form=form, record=record, **(context(form) if context else {}))


class RecordPages:
    """The pages of one kind of marketing record, all named after its plural `kinds` ("discounts"): the list
    at /marketing/discounts (endpoint marketing_discounts, template admin/marketing/discounts.html), the form
    at /marketing/discounts/new and /marketing/discounts/<discount_id>/edit (marketing_discounts_new and
    _edit, template admin/marketing/discount_form.html), and the buttons in the list's rows at
    /marketing/discounts/<discount_id>/<action> (marketing_discounts_<action>). All need MARKETING."""

    def __init__(self, kinds: str, id_name: str, model, missing: str):
        self.kinds = kinds
        self.id_name = id_name  # the record's id in the addresses, as the templates' url_for names it
        self.model = model
        self.missing = missing  # a 404's message
        self.path = f"/marketing/{kinds}"
        self.list_template = f"admin/marketing/{kinds}.html"
        self.list_endpoint = f"admin.marketing_{kinds}"
        self.list_context: Callable[[], dict] = dict

    def load(self, ident: int):
        return get_or_404(self.model, ident, str(self.missing))

    def list_view(self, list_context: Callable[[], dict]):
        """Decorator of the function that gives the list page its rows: the page is served with them, and
        shown again with them after a button."""
        self.list_context = list_context

        def view():
            return list_page(self.list_template, **list_context())

        self._add_route("", "", view, "GET")
        return list_context

    def form_view(self, form_class, save, saved: str, *, context=None, refresh=None) -> None:
        """Serve the form of a new record and of one to edit (see edit_page); once saved, the list with the
        message `saved`, whose %(name)s is the record's name."""

        def view(record):
            return edit_page(
                f"admin/marketing/{self.kinds.removesuffix('s')}_form.html",
                form_class,
                record,
                save=save,
                saved=lambda result: (str(saved) % {"name": result.name}, self.list_endpoint),
                context=context,
                refresh=refresh,
            )

        form_routes(self.path, f"<int:{self.id_name}>/edit", Permission.MARKETING, self.load)(view)

    def row_button(self, action: str):
        """Decorator of a button in the list ("stop", "delete"): `act(record)` does it and returns (message,
        toast level); the list answers."""

        def register(act):
            def view(**url_values):
                (ident,) = url_values.values()
                message, level = act(self.load(ident))
                return list_answer(
                    self.list_template, self.list_endpoint, self.list_context(), message, level
                )

            self._add_route(f"/<int:{self.id_name}>/{action}", f"_{action}", view, "POST")
            return act

        return register

    def _add_route(self, rule: str, endpoint: str, view, method: str) -> None:
        view = permission_required(Permission.MARKETING)(view)
        bp.add_url_rule(self.path + rule, f"marketing_{self.kinds}{endpoint}", view, methods=[method])


def scope_context(form) -> dict:
    """What the scope chooser shows: the category tree and the chosen products by name."""
    chosen = form.scope_product_ids.data
    products = {p.id: p for p in db.session.scalars(select(Product).where(Product.id.in_(chosen)))}
    return {
        "categories": catalog.top_categories(db.session),
        "chosen_products": [products[i] for i in chosen if i in products],
        "missing_products": len([i for i in chosen if i not in products]),
        "product_results": search_products(request.form.get("product_q", "")) if request.form else None,
    }


# What the scope chooser adds to a form page: the categories and products to pick from, and the refresh of its
# search and buttons.
SCOPE_CHOOSER = {"context": scope_context, "refresh": ScopeMixin.scope_action}


def search_products(text: str) -> list[Product] | None:
    q = " ".join((text or "").split())[:40]
    if not q:
        return None
    query = catalog.admin_products_query(q=q).limit(SEARCH_LIMIT)
    return list(db.session.scalars(query))


def scope_names(kind: str, ids: list[int]) -> str:
    """A list cell: "全部商品", or the first names chosen."""
    if kind == "all" or not ids:
        return _("All products")
    model, column = (Product, Product.title) if kind == "products" else (Category, Category.name)
    names = list(db.session.scalars(select(column).where(model.id.in_(ids[:3]))))
    more = len(ids) - len(names)
    text = "、".join(names)
    return _("%(names)s and %(n)d more", names=text, n=more) if more > 0 else text


@bp.get("/marketing")
@permission_required(Permission.MARKETING)
def marketing():
    return redirect(url_for("admin.marketing_levels"))


@bp.get("/marketing/products")
@permission_required(Permission.MARKETING)
def marketing_products():
    """The scope chooser's search: products by title or SKU code, each with a button that adds it."""
    return render_template(
        "admin/marketing/_product_results.html", product_results=search_products(text_arg("product_q"))
    )


@bp.get("/marketing/skus")
@permission_required(Permission.MARKETING)
def marketing_skus():
    """The 限时折扣 form's search: products by title or SKU code, with their SKUs and list prices."""
    return render_template(
        "admin/marketing/_sku_results.html", sku_results=search_products(text_arg("sku_q"))
    )


# ---------------------------------------------------------------- member levels


def level_member_counts() -> dict[int | None, int]:
    """{level id: members at it}; None counts the members below the first level."""
    rows = db.session.execute(select(MemberAccount.level_id, func.count()).group_by(MemberAccount.level_id))
    return dict(rows.all())


LEVELS = RecordPages("levels", "level_id", MemberLevel, _l("The level does not exist or has been deleted."))


@LEVELS.list_view
def _levels_context() -> dict:
    return {"levels": members.all_levels(db.session), "counts": level_member_counts()}


def _save_level(session, level: MemberLevel | None, data: dict) -> MemberLevel:
    """Check and save a level, then put every member at the level their growth reaches now."""
    members.check_level(data, members.all_levels(session), level)
    level = level or MemberLevel()
    for name, value in data.items():
        setattr(level, name, value)
    session.add(level)
    session.flush()
    members.recompute_levels(session)
    return level


LEVELS.form_view(LevelForm, _save_level, _l("Level “%(name)s” saved."))


@LEVELS.row_button("delete")
def _delete_level(level: MemberLevel) -> tuple[str, str]:
    name = level.name
    db.session.delete(level)
    db.session.flush()
    members.recompute_levels(db.session)
    db.session.commit()
    return _(
        "Level “%(name)s” deleted; its members moved to the level their growth reaches.", name=name
    ), "success"


# ---------------------------------------------------------------- points and growth


@bp.route("/marketing/points", methods=["GET", "POST"])
@permission_required(Permission.MARKETING)
def marketing_points():
    return edit_page(
        "admin/marketing/points.html",
        PointsSettingsForm,
        members.marketing_settings(db.session),
        save=_save_settings,
        saved=lambda _saved: (_("Points settings saved."), "admin.marketing_points"),
    )


def _save_settings(session, settings, data: dict):
    for name, value in data.items():
        setattr(settings, name, value)
    session.add(settings)  # the first save inserts the default row
    session.flush()
    return settings


def points_example(fen_per_point: int) -> str:
    """ "100 积分 = ¥1.00": what points are worth, under the setting."""
    return _("%(points)d points = %(money)s", points=100, money=format_fen(100 * fen_per_point))
