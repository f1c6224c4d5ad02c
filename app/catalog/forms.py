"""Back-office catalog forms: the product's own fields, its SKU matrix (option axes × one row per
combination) and categories. Parsing only; the rules are in catalog.services."""

import json
import re
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField

from app.catalog.models import Product, Sku
from app.catalog.services import (
    CODE_MAX,
    DESCRIPTION_MAX,
    MAX_AXES,
    MAX_COMBINATIONS,
    MAX_DETAIL_IMAGES,
    MAX_IMAGES,
    MAX_STOCK,
    SUBTITLE_MAX,
    TITLE_MAX,
    CatalogError,
    SkuInput,
    clean_options,
    generate_combinations,
    spec_key,
)
from app.db_types import parse_id
from app.forms import Form, ParsedField, text_field
from app.money import MoneyError, parse_yuan, yuan
from app.numbers import parse_whole_number

# What merchants type between option values: commas (ASCII or Chinese), 、, semicolons, spaces, new lines.
VALUE_SEPARATORS = re.compile(r"[,，、;；\s]+")
IMAGE_KEY = re.compile(r"^(?P<prefix>[0-9a-f]{2})/(?P=prefix)[0-9a-f]{30}\.(?:jpg|png)$")
SORT_MAX = 99_999


def split_option_values(text: str | None) -> list[str]:
    """ "红, 蓝，白 黑" -> ["红", "蓝", "白", "黑"]; duplicates are kept here and collapsed by clean_options."""
    return [value for value in VALUE_SEPARATORS.split(text or "") if value]


def _optional_id(value) -> int | None:
    if value in (None, "", "None"):
        return None
    if isinstance(value, int):
        return value
    parsed = parse_id(value)
    if parsed is None:
        raise ValueError(value)
    return parsed


class WholeNumberField(ParsedField):
    """A whole number typed by a merchant; `data` is an int (or `default` when left empty)."""

    def __init__(self, label=None, validators=None, *, minimum: int = 0, maximum: int = SORT_MAX, **kwargs):
        kwargs.setdefault("default", 0)
        super().__init__(label, validators, **kwargs)
        self.minimum, self.maximum = minimum, maximum

    def parse(self, text: str) -> int:
        if not text:
            return self.default
        number = parse_whole_number(text, allow_negative=True)
        if number is None or not self.minimum <= number <= self.maximum:
            raise ValueError(
                str(_l("Enter a whole number from %(low)d to %(high)d.", low=self.minimum, high=self.maximum))
            )
        return number

    def show(self, value: int) -> str:
        return str(value)


class IdSelectField(SelectField):
    """A <select> of database ids with an empty first choice meaning "none"; a tampered value is refused
    in words, and an id that no longer exists is left for the service to refuse."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, coerce=_optional_id, validate_choice=False, **kwargs)

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        try:
            self.data = _optional_id(valuelist[0])
        except ValueError:
            self.data = None
            raise ValueError(str(_l("Please choose from the list."))) from None


def category_choices(categories, *, none_label, exclude_id: int | None = None, top_only: bool = False):
    """(id, label) pairs for a two-level category <select>: children indented under their parent."""
    choices = [("", none_label)]
    for top in categories:
        if top.id == exclude_id:
            continue
        choices.append((top.id, top.name))
        if not top_only:
            choices.extend((child.id, "\u3000└ " + child.name) for child in top.children)
    return choices


class ProductForm(Form):
    title = text_field(
        _l("Title"),
        TITLE_MAX,
        required=_l("Please give the product a title."),
        too_long=_l("The title may have at most %(n)d characters.", n=TITLE_MAX),
    )
    subtitle = text_field(
        _l("Subtitle"),
        SUBTITLE_MAX,
        too_long=_l("The subtitle may have at most %(n)d characters.", n=SUBTITLE_MAX),
    )
    description = text_field(
        _l("Description"),
        DESCRIPTION_MAX,
        too_long=_l("The description may have at most %(n)d characters.", n=DESCRIPTION_MAX),
        multiline=True,
    )
    category_id = IdSelectField(_l("Category"))
    is_on_shelf = BooleanField(_l("Put on shelf (visible in the shop)"))
    sort_weight = WholeNumberField(_l("Sort weight"), maximum=SORT_MAX)


class CategoryForm(Form):
    name = text_field(
        _l("Name"),
        32,
        required=_l("Please give the category a name."),
        too_long=_l("The name may have at most %(n)d characters.", n=32),
    )
    parent_id = IdSelectField(_l("Parent category"))
    sort = WholeNumberField(_l("Sort"), maximum=SORT_MAX)
    is_visible = BooleanField(_l("Show in the shop"), default=True)
    icon = FileField(_l("Icon"))


# The product form's two picture lists: the gallery, and the pictures under the description.
IMAGE_LISTS = {
    "images": (MAX_IMAGES, _l("A product has at most %(n)d pictures.", n=MAX_IMAGES)),
    "detail_images": (MAX_DETAIL_IMAGES, _l("At most %(n)d detail pictures.", n=MAX_DETAIL_IMAGES)),
}


def clean_image_keys(keys: list[str], *, field: str = "images") -> list[str]:
    """The ordered picture keys the form sent back for one of IMAGE_LISTS; anything that is not one of our
    upload keys is a tampered form and refused."""
    most, too_many = IMAGE_LISTS[field]
    keys = [key.strip() for key in keys if key and key.strip()]
    if any(not IMAGE_KEY.match(key) for key in keys):
        raise CatalogError(_l("A picture could not be found. Please upload it again."), field)
    if len(dict.fromkeys(keys)) > most:
        raise CatalogError(too_many, field)
    return list(dict.fromkeys(keys))


# ---------------------------------------------------------------- the SKU matrix


@dataclass
class OptionAxis:
    name: str = ""
    values_text: str = ""

    @property
    def values(self) -> list[str]:
        return split_option_values(self.values_text)


@dataclass
class MatrixRow:
    """One combination as the merchant sees and types it (text, so a wrong entry is shown back as typed)."""

    spec_values: list[str]
    price: str = ""
    original_price: str = ""
    stock: str = ""
    stock_seen: str = ""
    code: str = ""
    continues: str = ""  # JSON of the combination this row continues (see SkuInput.continues)
    errors: dict[str, str] = field(default_factory=dict)
    parsed: SkuInput | None = None

    @classmethod
    def from_sku(cls, sku: Sku, spec_values: list[str]) -> "MatrixRow":
        return cls(
            spec_values=spec_values,
            price=yuan(sku.price_fen),
            original_price=yuan(sku.original_price_fen) if sku.original_price_fen is not None else "",
            stock=str(sku.stock),
            stock_seen=str(sku.stock),
            code=sku.code or "",
        )

    @property
    def spec_json(self) -> str:
        return json.dumps(self.spec_values, ensure_ascii=False)

    def validate(self) -> bool:
        self.errors = {}
        price = original = stock = None
        try:
            price = parse_yuan(self.price, allow_zero=False)
        except MoneyError as error:
            self.errors["price"] = str(error)
        if self.original_price.strip():
            try:
                original = parse_yuan(self.original_price)
            except MoneyError as error:
                self.errors["original_price"] = str(error)
            else:
                if price is not None and original <= price:
                    self.errors["original_price"] = str(
                        _l("The original price should be higher than the price, or left empty.")
                    )
        stock_text = self.stock.strip()
        if not stock_text:
            self.errors["stock"] = str(_l("Please enter the stock."))
        elif (stock := parse_whole_number(stock_text)) is None or stock > MAX_STOCK:
            stock = None
            self.errors["stock"] = str(_l("Stock must be a whole number from 0 to %(n)d.", n=MAX_STOCK))
        code = self.code.strip()
        if len(code) > CODE_MAX:
            self.errors["code"] = str(_l("SKU codes have at most %(n)d characters.", n=CODE_MAX))
        seen = parse_whole_number(self.stock_seen)
        self.parsed = SkuInput(
            spec_values=list(self.spec_values),
            price_fen=price,
            original_price_fen=original,
            stock=stock,
            code=code or None,
            stock_seen=seen if seen is not None and seen <= MAX_STOCK else None,
            continues=_spec_list(self.continues),
        )
        return not self.errors


def _spec_list(text: str) -> list[str] | None:
    """A combination as the form carries it (JSON list of option values), or None for anything else."""
    try:
        values = json.loads(text) if text else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(values, list) or len(values) > MAX_AXES:
        return None
    return values if all(isinstance(value, str) for value in values) else None


def _extends(combo: list[str], values: list[str]) -> bool:
    """True when `values` appear in `combo` in the same order (a combination before an option was added)."""
    rest = iter(combo)
    return len(values) < len(combo) and all(value in rest for value in values)


def _closest_ancestor(combo: list[str], rows: list[MatrixRow]) -> MatrixRow | None:
    candidates = [row for row in rows if _extends(combo, row.spec_values)]
    return max(candidates, key=lambda row: len(row.spec_values), default=None)


class SkuMatrix:
    """The option axes and the combination rows of the product form. Rows are always generated on the
    server from the axes; what was typed for a combination that still exists is kept."""

    def __init__(self, axes: list[OptionAxis], rows: list[MatrixRow]):
        self.axes = axes
        self.rows = rows
        self.options: list[dict] = []
        self.option_errors: list[str] = []
        self.errors: list[str] = []
        self.focus_axis: int | None = None  # a just-added option, so its name field gets the cursor

    # -- building

    @classmethod
    def from_product(cls, product: Product | None) -> "SkuMatrix":
        if product is None:
            return cls([], [MatrixRow(spec_values=[])])
        options = product.options or []
        axes = [OptionAxis(axis["name"], "，".join(axis["values"])) for axis in options]
        by_key = {sku.spec_key: sku for sku in product.active_skus}
        rows = []
        for combo in generate_combinations(options):
            sku = by_key.get(spec_key(combo))
            rows.append(MatrixRow.from_sku(sku, combo) if sku else MatrixRow(spec_values=combo))
        matrix = cls(axes, rows)
        matrix.options = options
        return matrix

    @classmethod
    def from_formdata(
        cls, formdata, product: Product | None, *, strict: bool, action: str = ""
    ) -> "SkuMatrix":
        axes = []
        for index in range(MAX_AXES):
            name_key, values_key = f"option-{index}-name", f"option-{index}-values"
            if name_key in formdata or values_key in formdata:
                axes.append(
                    OptionAxis(
                        (formdata.get(name_key) or "").strip()[:40],
                        (formdata.get(values_key) or "")[:1000],
                    )
                )
        focus_axis = None
        if action == "add_axis" and len(axes) < MAX_AXES:
            axes.append(OptionAxis())
            focus_axis = len(axes) - 1
        elif action.startswith("remove_axis-") and action.removeprefix("remove_axis-") in ("0", "1", "2"):
            position = int(action.removeprefix("remove_axis-"))
            if position < len(axes):
                del axes[position]
        matrix = cls(axes, cls._typed_rows(formdata))
        matrix.focus_axis = focus_axis
        matrix.regenerate(product, strict=strict)
        return matrix

    @staticmethod
    def _typed_rows(formdata) -> list[MatrixRow]:
        indexes = sorted(
            int(match[1]) for key in formdata if (match := re.fullmatch(r"sku-(\d{1,4})-spec", key))
        )
        rows = []
        for index in indexes[: MAX_COMBINATIONS * 2]:
            values = _spec_list(formdata.get(f"sku-{index}-spec") or "")
            if values is None:
                continue

            def text(name, index=index):
                return (formdata.get(f"sku-{index}-{name}") or "")[:80]

            rows.append(
                MatrixRow(
                    spec_values=values,
                    price=text("price"),
                    original_price=text("original_price"),
                    stock=text("stock"),
                    stock_seen=text("stock_seen"),
                    code=text("code"),
                    continues=(formdata.get(f"sku-{index}-continues") or "")[:400],
                )
            )
        return rows

    def regenerate(self, product: Product | None, *, strict: bool) -> None:
        """Rows for every combination of the axes. While the merchant is still typing (not strict), an
        axis without a name or values is left out instead of refused."""
        raw = [{"name": axis.name, "values": axis.values} for axis in self.axes]
        if not strict:
            raw = [axis for axis in raw if axis["name"] and axis["values"]]
        try:
            self.options = clean_options(raw)
        except CatalogError as error:
            self.option_errors.append(str(error.message))
            return  # keep the rows as they were until the axes make sense
        typed = {spec_key(row.spec_values): row for row in self.rows}
        known = {sku.spec_key: sku for sku in product.skus} if product is not None else {}
        combos = generate_combinations(self.options)
        # Rows typed for combinations that are gone, e.g. 颜色 = 红 before 尺寸 was added: the longest one
        # whose values a new combination extends passes on what was typed (below).
        wanted = {spec_key(combo) for combo in combos}
        gone = [row for key, row in typed.items() if key not in wanted]
        rows, heirs = [], {}
        for combo in combos:
            key = spec_key(combo)
            if key in typed:
                row = typed[key]
            elif key in known:
                # A combination dropped earlier and now back: its SKU (and its price) returns.
                row = MatrixRow.from_sku(known[key], combo)
            else:
                row = MatrixRow(spec_values=combo)
                parent = _closest_ancestor(combo, gone)
                if parent is not None:
                    row.price, row.original_price = parent.price, parent.original_price
                    heirs.setdefault(id(parent), (parent, []))[1].append(row)
            row.spec_values = combo
            rows.append(row)
        for parent, children in heirs.values():
            if len(children) == 1:  # the same goods under a longer name: its SKU carries on (stock, code)
                child = children[0]
                child.stock, child.stock_seen, child.code = parent.stock, parent.stock_seen, parent.code
                child.continues = parent.continues or parent.spec_json
        self.rows = rows

    # -- checking and handing over to the service

    @property
    def can_add_axis(self) -> bool:
        return len(self.axes) < MAX_AXES

    def validate(self) -> bool:
        rows_ok = all([row.validate() for row in self.rows])
        if not rows_ok:
            self.errors.append(str(_l("Some SKU rows need attention: see the red fields below.")))
        return rows_ok and not self.option_errors

    def sku_inputs(self) -> list[SkuInput]:
        return [row.parsed for row in self.rows]

    def apply_error(self, error: CatalogError) -> bool:
        """Show a service refusal in the matrix; False when it belongs to another part of the form."""
        if error.field == "options":
            self.option_errors.append(str(error.message))
        elif error.field == "skus" or error.field == "stock":
            if error.row is not None and 0 <= error.row < len(self.rows):
                self.rows[error.row].errors[error.row_field or "price"] = str(error.message)
            else:
                self.errors.append(str(error.message))
        else:
            return False
        return True
