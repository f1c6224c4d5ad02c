"""Products and categories in the back office: the product list with live search, filters, inline
shelf and stock edits and bulk actions; the product form with its SKU matrix and pictures; the category
tree."""

from flask import (
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from jinja2_fragments.flask import render_block
from sqlalchemy.exc import IntegrityError
from wtforms import FormField

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.viewutil import action_answer, form_routes
from app.catalog import services as catalog
from app.catalog.forms import (
    IMAGE_KEY,
    IMAGE_LISTS,
    CategoryForm,
    ProductForm,
    SkuMatrix,
    category_choices,
    clean_image_keys,
)
from app.catalog.models import Category, Product
from app.db_types import parse_id
from app.distribution.admin_forms import ProductCommissionForm
from app.extensions import db, htmx
from app.forms import apply_service_error
from app.marketing.forms import ProductMarketingForm
from app.media import ImageError, save_image
from app.numbers import parse_whole_number
from app.settings.services import get_shop_settings
from app.webutil import page_arg, referrer_path, toast


class AdminProductForm(ProductForm):
    """The product as the back office edits it: the catalog's fields, distribution's commission settings and
    marketing's switches (the catalog knows nothing of commission or marketing)."""

    commission = FormField(ProductCommissionForm, label=_l("Commission settings"))
    marketing = FormField(ProductMarketingForm, label=_l("Marketing"))


MAX_BULK = 500


def _low_stock_threshold() -> int:
    return get_shop_settings(db.session).low_stock_threshold


def _product_or_404(product_id: int) -> Product:
    product = db.session.get(Product, product_id)
    if product is None:
        abort(404, _("The product does not exist or has been deleted."))
    return product


# ---------------------------------------------------------------- product list


def _list_filters() -> dict:
    args = request.args
    status = args.get("status", "")
    return {
        "q": " ".join(args.get("q", "").split())[:60],
        "category_id": parse_id(args.get("category_id")),
        "status": status if status in ("on", "off") else "",
        "low_stock": args.get("low_stock", "") in ("1", "y", "on", "true"),
    }


def _render_products(status: int = 200) -> Response:
    filters = _list_filters()
    threshold = _low_stock_threshold()
    query = catalog.admin_products_query(
        q=filters["q"] or None,
        category_id=filters["category_id"],
        status=filters["status"] or None,
        low_stock_below=threshold if filters["low_stock"] else None,
    )
    context = {
        "page": db.paginate(
            query, page=page_arg(), per_page=current_app.config["PRODUCTS_PER_PAGE"], error_out=False
        ),
        "filters": filters,
        "filtering": any(filters.values()),
        "threshold": threshold,
    }
    if htmx and htmx.target == "results" and not htmx.history_restore_request:
        html = render_block("admin/products.html", "results", **context)
    else:
        context["categories"] = catalog.top_categories(db.session)
        html = render_template("admin/products.html", **context)
    return make_response(html, status)


@bp.get("/products")
@permission_required(Permission.CATALOG)
def products():
    return _render_products()


@bp.post("/products/shelf")
@permission_required(Permission.CATALOG)
def products_bulk_shelf():
    raw_ids = request.form.getlist("ids") + request.form.getlist("ids[]")
    ids = [id_ for id_ in dict.fromkeys(map(parse_id, raw_ids)) if id_ is not None][:MAX_BULK]
    on_shelf = request.form.get("on") == "1"
    if not ids:
        message, level = _("Select some products first."), "warning"
    else:
        result = catalog.change_shelf(db.session, ids, on_shelf)
        db.session.commit()
        if on_shelf:
            message = ngettext(
                "%(num)d product put on shelf.", "%(num)d products put on shelf.", result.changed
            )
            if result.refused:
                message += " " + ngettext(
                    "%(num)d could not go on shelf: it has no SKU on sale.",
                    "%(num)d could not go on shelf: they have no SKU on sale.",
                    result.refused,
                )
        else:
            message = ngettext(
                "%(num)d product taken off shelf.", "%(num)d products taken off shelf.", result.changed
            )
        level = "warning" if result.refused else "success"
    if not htmx:
        flash(message, "error" if level != "success" else "success")
        return redirect(url_for("admin.products", **request.args))
    return toast(_render_products(), message, level)


# ---------------------------------------------------------------- one row: shelf toggle and stock


def _row(product: Product, *, edit_stock: bool = False, stock_errors: dict | None = None) -> str:
    return render_template(
        "admin/_product_row.html",
        product=product,
        threshold=_low_stock_threshold(),
        edit_stock=edit_stock,
        stock_errors=stock_errors or {},
    )


def _row_answer(product: Product, message: str, refused: bool = False, **row) -> Response:
    """After a change to one product in the list: its row afresh with a toast, or without htmx the page
    before with a flash."""
    page_url = referrer_path(url_for("admin.products"))
    return action_answer(message, refused, page_url, lambda: _row(product, **row))


@bp.get("/products/<int:product_id>/row")
@permission_required(Permission.CATALOG)
def products_row(product_id: int):
    product = _product_or_404(product_id)
    return _row(product, edit_stock=request.args.get("edit_stock") == "1")


@bp.post("/products/<int:product_id>/shelf")
@permission_required(Permission.CATALOG)
def products_shelf(product_id: int):
    product = _product_or_404(product_id)
    on_shelf = request.form.get("on") == "1"
    if catalog.change_shelf(db.session, [product.id], on_shelf).refused:
        db.session.rollback()
        message = _("“%(title)s” has no SKU on sale, so it cannot go on shelf.", title=product.title)
        return _row_answer(product, message, refused=True)
    db.session.commit()
    if on_shelf:
        return _row_answer(product, _("“%(title)s” is on shelf.", title=product.title))
    return _row_answer(product, _("“%(title)s” is off shelf.", title=product.title))


@bp.post("/products/<int:product_id>/stock")
@permission_required(Permission.CATALOG)
def products_stock(product_id: int):
    """Inline stock edit: for each SKU, the stock the merchant saw and the stock typed. The difference is
    applied, so units sold meanwhile are not overwritten."""
    product = _product_or_404(product_id)
    errors: dict[int, str] = {}
    for sku in product.active_skus:
        typed = (request.form.get(f"stock-{sku.id}") or "").strip()
        seen = (request.form.get(f"seen-{sku.id}") or "").strip()
        if not typed and not seen:
            continue
        new_stock, seen_stock = parse_whole_number(typed, allow_negative=True), parse_whole_number(seen)
        if new_stock is None:
            errors[sku.id] = _("Stock must be a whole number from 0 to %(n)d.", n=catalog.MAX_STOCK)
            continue
        if seen_stock is None:
            errors[sku.id] = _("The page is out of date. Please refresh it and try again.")
            continue
        try:
            catalog.set_stock(db.session, sku.id, new_stock=new_stock, seen_stock=seen_stock)
        except catalog.CatalogError as error:
            errors[sku.id] = str(error.message)
    several = len(product.active_skus) > 1
    if errors:
        db.session.rollback()
        message = next(iter(errors.values()))
        return _row_answer(product, message, refused=True, edit_stock=several, stock_errors=errors)
    db.session.commit()
    return _row_answer(product, _("Stock of “%(title)s” saved.", title=product.title))


# ---------------------------------------------------------------- product form


@form_routes("/products", "<int:product_id>/edit", Permission.CATALOG, _product_or_404)
def _product_form(product: Product | None):
    form = AdminProductForm(obj=product)
    form.category_id.choices = category_choices(
        catalog.top_categories(db.session), none_label=_("No category")
    )
    image_errors: dict[str, str] = {}
    if request.method == "GET":
        if product is not None:
            form.commission.load(product)
            form.marketing.load(product)
        matrix = SkuMatrix.from_product(product)
        pictures = {
            "images": [image.image_key for image in product.images] if product else [],
            "detail_images": [image.image_key for image in product.detail_images] if product else [],
        }
    else:
        matrix = SkuMatrix.from_formdata(request.form, product, strict=True)
        fields_ok = form.validate_on_submit()
        matrix_ok = matrix.validate()
        pictures = {}
        for name in IMAGE_LISTS:
            keys = request.form.getlist(IMAGE_INPUTS[name])
            try:
                pictures[name] = clean_image_keys(keys, field=name)
            except catalog.CatalogError as error:
                image_errors[name] = str(error.message)
                pictures[name] = [key for key in keys if IMAGE_KEY.match(key)]
        if fields_ok and matrix_ok and not image_errors:
            saved, image_errors = _save_product(form, matrix, product, pictures)
            if saved is not None:
                flash(_("Product “%(title)s” saved.", title=saved.title), "success")
                target = url_for("admin.products")
                if htmx:
                    return Response(status=200, headers={"HX-Redirect": target})
                return redirect(target)
    context = {
        "form": form,
        "product": product,
        "matrix": matrix,
        "image_keys": pictures["images"],
        "detail_image_keys": pictures["detail_images"],
        "image_error": image_errors.get("images"),
        "detail_image_error": image_errors.get("detail_images"),
    }
    if request.method == "POST" and htmx:
        return render_block("admin/product_form.html", "form", **context), 422
    return render_template("admin/product_form.html", **context)


def _save_product(form, matrix, product, pictures) -> tuple[Product | None, dict[str, str]]:
    """Hand the checked input to the service; on refusal, put its message next to the right field (a
    picture list's refusal comes back as {list: message})."""
    data = catalog.ProductInput(
        title=form.title.data,
        subtitle=form.subtitle.data or "",
        description=form.description.data or "",
        category_id=form.category_id.data,
        is_on_shelf=form.is_on_shelf.data,
        sort_weight=form.sort_weight.data or 0,
        image_keys=pictures["images"],
        detail_image_keys=pictures["detail_images"],
        options=matrix.options,
        skus=matrix.sku_inputs(),
    )
    try:
        saved = catalog.save_product(db.session, product, data)
        form.commission.apply_to(saved)
        form.marketing.apply_to(saved)
        db.session.commit()
    except catalog.CatalogError as error:
        db.session.rollback()
        if error.field in IMAGE_LISTS:
            return None, {error.field: str(error.message)}
        if not matrix.apply_error(error):
            apply_service_error(form, error)
        return None, {}
    except IntegrityError:
        # Two people saving the same SKU code at the same moment: the unique index decides.
        db.session.rollback()
        form.form_errors.append(
            _("The product could not be saved because it changed meanwhile. Please save again.")
        )
        return None, {}
    return saved, {}


@bp.post("/products/matrix")
@permission_required(Permission.CATALOG)
def products_matrix():
    """Re-render the option axes and the SKU rows for what the merchant has typed so far."""
    product_id = parse_id(request.args.get("product_id"))
    product = db.session.get(Product, product_id) if product_id else None
    matrix = SkuMatrix.from_formdata(
        request.form, product, strict=False, action=request.form.get("matrix_action", "")
    )
    return render_block("admin/product_form.html", "sku_editor", matrix=matrix, product=product)


# The form field each picture list's tiles carry their keys in.
IMAGE_INPUTS = {"images": "image_keys", "detail_images": "detail_image_keys"}


@bp.post("/products/images")
@permission_required(Permission.CATALOG)
def products_images():
    """One picture from the product form (sent by fetch): the thumbnail tile, or why it was refused.
    ?list=detail_images makes a tile for the pictures under the description."""
    upload = request.files.get("image")
    if upload is None or not upload.filename:
        return Response(_("Please choose a picture."), status=422, mimetype="text/plain")
    try:
        key = save_image(upload)
    except ImageError as error:
        return Response(str(error), status=422, mimetype="text/plain")
    name = request.args.get("list", "images")
    return render_template(
        "admin/_product_image.html", key=key, input_name=IMAGE_INPUTS.get(name, "image_keys")
    )


# ---------------------------------------------------------------- categories


def _render_categories(status: int = 200) -> Response:
    context = {
        "categories": catalog.top_categories(db.session),
        "counts": catalog.category_product_counts(db.session),
    }
    if htmx and htmx.target == "category-tree":
        return make_response(render_block("admin/categories.html", "tree", **context), status)
    return make_response(render_template("admin/categories.html", **context), status)


def _categories_answer(message: str) -> Response:
    """After a change to the category tree: the tree afresh with a toast, or without htmx the page with a
    flash."""
    return action_answer(message, False, url_for("admin.categories"), _render_categories)


def _category_or_404(category_id: int) -> Category:
    category = db.session.get(Category, category_id)
    if category is None:
        abort(404, _("The category does not exist or has been deleted."))
    return category


@bp.get("/categories")
@permission_required(Permission.CATALOG)
def categories():
    return _render_categories()


@form_routes("/categories", "<int:category_id>/edit", Permission.CATALOG, _category_or_404)
def _category_form(category: Category | None):
    form = CategoryForm(obj=category)
    form.parent_id.choices = category_choices(
        catalog.top_categories(db.session),
        none_label=_("None (a top-level category)"),
        exclude_id=category.id if category else None,
        top_only=True,
    )
    if request.method == "GET" and category is None:
        form.parent_id.data = parse_id(request.args.get("parent_id"))
    if form.validate_on_submit():
        try:
            icon_key = None
            upload = form.icon.data
            if upload and getattr(upload, "filename", ""):
                try:
                    icon_key = save_image(upload)
                except ImageError as error:
                    form.icon.errors = [str(error)]
                    raise
            saved = catalog.save_category(
                db.session,
                category,
                name=form.name.data,
                parent_id=form.parent_id.data,
                sort=form.sort.data or 0,
                is_visible=form.is_visible.data,
                icon_key=icon_key,
            )
        except ImageError:
            db.session.rollback()
        except catalog.CatalogError as error:
            db.session.rollback()
            apply_service_error(form, error)
        else:
            db.session.commit()
            flash(_("Category “%(name)s” saved.", name=saved.name), "success")
            return redirect(url_for("admin.categories"))
    return render_template("admin/categories_form.html", form=form, category=category)


@bp.post("/categories/<int:category_id>/visibility")
@permission_required(Permission.CATALOG)
def categories_visibility(category_id: int):
    category = _category_or_404(category_id)
    visible = request.form.get("visible") == "1"
    catalog.set_category_visible(db.session, category, visible)
    db.session.commit()
    if visible:
        return _categories_answer(_("“%(name)s” is shown in the shop.", name=category.name))
    return _categories_answer(_("“%(name)s” is hidden from the shop.", name=category.name))


@bp.post("/categories/<int:category_id>/delete")
@permission_required(Permission.CATALOG)
def categories_delete(category_id: int):
    category = _category_or_404(category_id)
    name = category.name
    try:
        catalog.delete_category(db.session, category)
        db.session.commit()
    except catalog.CatalogError as error:
        db.session.rollback()
        message = _("“%(name)s” cannot be deleted: %(reason)s", name=name, reason=error.message)
        if not htmx:
            flash(message, "error")
            return redirect(url_for("admin.categories"))
        # Not swapped (4xx): the tree stays as it is and the toast says why.
        return toast(Response(message, status=409, mimetype="text/plain"), message, "error")
    return _categories_answer(_("Category “%(name)s” deleted.", name=name))
