"""Back-office forms for distribution: the merchant's rules, grades, and the reasons and references the
queues ask for. Rates are typed as percentages and carried as basis points; the rules themselves are
checked by distribution.services and distribution.ledger."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField
from wtforms import Form as NestedForm
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from app.db_types import parse_id
from app.distribution.dividend_settings import CAP_PERIODS, DividendSettingsInput
from app.distribution.grades import CONDITIONS, ConditionsInput
from app.distribution.services import DistributionError, SettingsInput, check_product_rates
from app.extensions import db
from app.forms import (
    Form,
    IntegerField,
    MoneyField,
    PercentField,
    apply_service_error,
    radio_field,
    reason_field,
    text_field,
    whole_number,
)

LEVELS = (1, 2, 3)


class RateFields:
    """For a form with a rate per level (rate_1, rate_2, rate_3): the fields in order, the errors about the
    rates as a whole (shown once, under them) and the vector they spell."""

    RATE_FIELDS = ("rate_1", "rate_2", "rate_3")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rates_errors: list[str] = []

    @classmethod
    def rates_data(cls, rates_bp) -> dict:
        """The fields' data for a stored vector: levels it does not have are left empty."""
        rates = list(rates_bp or []) + [None] * len(cls.RATE_FIELDS)
        return dict(zip(cls.RATE_FIELDS, rates, strict=False))

    def rate_fields(self) -> list:
        return [getattr(self, name) for name in self.RATE_FIELDS]

    def typed_rates_bp(self) -> list[int]:
        """The vector typed in: empty levels earn 0, trailing ones are dropped."""
        rates = [field.data or 0 for field in self.rate_fields()]
        while len(rates) > 1 and rates[-1] == 0:
            rates.pop()
        return rates

    def apply_error(self, error) -> None:
        """A refusal from the services, next to the field it is about (one about the rates under them all)."""
        if error.field == "rates_bp":
            self.rates_errors.append(str(error.message))
        else:
            apply_service_error(self, error)


def _whole_days(label):
    # The allowed range is distribution.services' rule; the form only asks for a whole number.
    return IntegerField(label, validators=[InputRequired(_l("Please enter a whole number of days."))])


class DistributionSettingsForm(RateFields, Form):
    enabled = BooleanField(_l("Distribution is on"))
    mode = radio_field(
        _l("Who can become a distributor"),
        {
            "apply": _l("Members apply and you approve"),
            "everyone": _l("Every member"),
            "spend": _l("Members who have spent enough"),
        },
        required=_l("Choose who can become a distributor."),
    )
    spend_threshold_fen = MoneyField(_l("Spend that makes a member a distributor (yuan)"), allow_zero=True)
    levels = radio_field(
        _l("Levels that earn"),
        {1: _l("1 level"), 2: _l("2 levels"), 3: _l("3 levels")},
        required=_l("Choose 1, 2 or 3 levels."),
        coerce=int,
    )
    rate_1 = PercentField(_l("Level 1 (the buyer's referrer)"))
    rate_2 = PercentField(_l("Level 2 (the referrer's referrer)"))
    rate_3 = PercentField(_l("Level 3"))
    three_levels_acknowledged = BooleanField(
        _l(
            "I understand the legal risk of three levels: criminal pyramid-selling (传销) cases start at three "
            "or more levels, and WeChat refuses multi-level schemes."
        )
    )
    self_purchase = BooleanField(_l("A distributor's own purchases earn them commission (自购返佣)"))
    binding_mode = radio_field(
        _l("When a shopper opens another distributor's link"),
        {
            "first": _l("Keep the first referrer"),
            "last": _l("Switch to the newest link until the first paid order"),
        },
        required=_l("Choose how shoppers are bound."),
    )
    binding_days = _whole_days(_l("A binding lasts (days)"))
    freeze_days = _whole_days(_l("Commission stays frozen after completion (days)"))
    withdrawal_min_fen = MoneyField(_l("Smallest withdrawal (yuan)"), allow_zero=True)
    withdrawal_fee_bp = PercentField(_l("Withdrawal fee (%)"))

    # The fields that show, and save as, the settings' attribute of the same name.
    SETTINGS_FIELDS = (
        "enabled", "mode", "spend_threshold_fen", "levels", "self_purchase", "binding_mode", "binding_days",
        "freeze_days", "withdrawal_min_fen", "withdrawal_fee_bp",
    )  # fmt: skip

    def __init__(self, *args, settings=None, **kwargs):
        if settings is not None and not kwargs.get("formdata") and "data" not in kwargs:
            kwargs["data"] = {
                **{name: getattr(settings, name) for name in self.SETTINGS_FIELDS},
                **self.rates_data(settings.rates_bp),
                "three_levels_acknowledged": settings.three_levels_acknowledged_at is not None,
            }
        super().__init__(*args, **kwargs)

    @property
    def chosen_levels(self) -> int:
        return self.levels.data if self.levels.data in LEVELS else 2

    def validate(self, extra_validators=None) -> bool:
        super().validate(extra_validators)
        # Rates of levels that do not earn are not used: a typo there is no reason to refuse the form.
        for field in self.rate_fields()[self.chosen_levels :]:
            field.errors = []
        if self.mode.data != "spend":
            self.spend_threshold_fen.errors = []
        return not any(errors for errors in self.errors.values())

    def rates_bp(self) -> list[int | None]:
        return [field.data for field in self.rate_fields()[: self.chosen_levels]]

    def to_input(self, current) -> SettingsInput:
        """What to save. Left empty, the spend threshold (which only one mode uses) keeps `current`'s and the
        withdrawal fee is 0."""
        typed = {name: self[name].data for name in self.SETTINGS_FIELDS}
        if typed["spend_threshold_fen"] is None:
            typed["spend_threshold_fen"] = current.spend_threshold_fen
        if typed["withdrawal_fee_bp"] is None:
            typed["withdrawal_fee_bp"] = 0
        return SettingsInput(
            **typed, rates_bp=self.rates_bp(), three_levels_acknowledged=self.three_levels_acknowledged.data
        )


class GradeForm(RateFields, Form):
    name = text_field(
        _l("Grade name"),
        20,
        required=_l("Please name the grade (at most 20 characters)."),
        too_long=_l("Please name the grade (at most 20 characters)."),
    )
    own_rates = BooleanField(_l("This grade has its own rates"))
    rate_1 = PercentField(_l("Level 1"))
    rate_2 = PercentField(_l("Level 2"))
    rate_3 = PercentField(_l("Level 3"))
    sort = whole_number(
        _l("Sort"), 0, 9999, required=False, default=0, message=_l("Enter a number from 0 to 9999.")
    )
    upgrade_mode = radio_field(
        _l("An automatic upgrade needs"),
        {"all": _l("All the conditions filled in"), "any": _l("Any one of them")},
        default="all",  # a form posted without it (a script, an old page) means what the page shows first
        invalid_choice_message=_l("Choose whether all the conditions or any one of them is needed."),
    )
    # Empty: the figure does not count. Zero is refused (it would always hold), negatives too (money.py).
    min_commission_fen = MoneyField(_l("Commission earned, yuan"), required=False)
    min_own_spend_fen = MoneyField(_l("Own spend, yuan"), required=False)
    min_team_spend_fen = MoneyField(_l("Direct referrals' spend, yuan"), required=False)
    dividend_ratio_bp = PercentField(_l("Dividend ratio (static dividends)"))

    def __init__(self, *args, grade=None, **kwargs):
        if grade is not None and not kwargs.get("formdata"):
            kwargs.setdefault(
                "data",
                {
                    "name": grade.name,
                    "own_rates": grade.rates_bp is not None,
                    **self.rates_data(grade.rates_bp),
                    "sort": grade.sort,
                    "upgrade_mode": grade.upgrade_mode,
                    "dividend_ratio_bp": grade.dividend_ratio_bp,
                    **{column: getattr(grade, column) for _kind, column in CONDITIONS},
                },
            )
        super().__init__(*args, **kwargs)

    def conditions(self) -> ConditionsInput:
        return ConditionsInput(
            upgrade_mode=self.upgrade_mode.data,
            **{column: self[column].data for _kind, column in CONDITIONS},
        )

    def validate(self, extra_validators=None) -> bool:
        super().validate(extra_validators)
        if not self.own_rates.data:
            for field in self.rate_fields():
                field.errors = []
        return not any(errors for errors in self.errors.values())

    def rates_bp(self) -> list[int] | None:
        """The grade's vector (empty levels count as 0, trailing ones dropped), or None: the shop's rates."""
        return self.typed_rates_bp() if self.own_rates.data else None


class DividendSettingsForm(Form):
    """The dividend settings (分红设置): on/off with the acknowledgement, the mode, a ratio per grade (static;
    one field per grade, added by `for_grades`) or per level (dynamic), the caps. Empty ratios are 0, empty
    caps no cap."""

    dividends_enabled = BooleanField(_l("Dividend pools are on"))
    dividend_mode = radio_field(
        _l("How the pools are shared"),
        {"static": _l("Static dividends (by grade)"), "dynamic": _l("Dynamic dividends (by level)")},
        required=_l("Choose static or dynamic dividends."),
    )
    level_1 = PercentField(_l("Level 1 (the buyer's referrer)"))
    level_2 = PercentField(_l("Level 2 (the referrer's referrer)"))
    level_3 = PercentField(_l("Level 3"))
    acknowledged = BooleanField(
        _l(
            "I understand the legal risk of dividend pools: paying uplines on their downlines' sales (团队计酬) "
            "is a trait of pyramid selling (传销), and WeChat refuses multi-level schemes. Dividends here come "
            "only from real, final sales, never from recruiting people or from a fee."
        )
    )
    cap_day_fen = MoneyField(_l("Per day"), required=False)
    cap_month_fen = MoneyField(_l("Per month"), required=False)
    cap_quarter_fen = MoneyField(_l("Per quarter"), required=False)
    cap_year_fen = MoneyField(_l("Per year"), required=False)

    LEVEL_FIELDS = ("level_1", "level_2", "level_3")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.grades: list = []
        self.ratios_errors: dict[str, list[str]] = {}

    @classmethod
    def for_grades(cls, grades, settings=None, **kwargs) -> "DividendSettingsForm":
        """The form with a ratio field per grade (`grade_<id>`); filled from `settings` and the grades unless
        form data is given."""
        fields = {f"grade_{grade.id}": PercentField(grade.name) for grade in grades}
        form_class = type("DividendSettingsFormWithGrades", (cls,), fields)
        if settings is not None and not kwargs.get("formdata") and "data" not in kwargs:
            levels = list(settings.dividend_level_ratios_bp or []) + [None] * 3
            kwargs["data"] = {
                "dividends_enabled": settings.dividends_enabled,
                "dividend_mode": settings.dividend_mode or "static",
                "acknowledged": settings.dividends_acknowledged_at is not None,
                **dict(zip(cls.LEVEL_FIELDS, levels, strict=False)),
                **{f"grade_{grade.id}": grade.dividend_ratio_bp for grade in grades},
                **{f"cap_{p}_fen": getattr(settings, f"dividend_cap_{p}_fen") for p in CAP_PERIODS},
            }
        form = form_class(**kwargs)
        form.grades = list(grades)
        return form

    def grade_fields(self) -> list:
        return [(grade, self[f"grade_{grade.id}"]) for grade in self.grades]

    def level_fields(self) -> list:
        return [self[name] for name in self.LEVEL_FIELDS]

    def to_input(self) -> DividendSettingsInput:
        return DividendSettingsInput(
            enabled=self.dividends_enabled.data,
            mode=self.dividend_mode.data,
            acknowledged=self.acknowledged.data,
            # A grade added since the page was loaded has no field posted: it keeps its ratio.
            grade_ratios_bp={grade.id: field.data for grade, field in self.grade_fields() if field.raw_data},
            level_ratios_bp=[field.data for field in self.level_fields()],
            **{f"cap_{p}_fen": self[f"cap_{p}_fen"].data for p in CAP_PERIODS},
        )

    def apply_error(self, error) -> None:
        """A refusal about all the grade or level ratios goes under them (`ratios_errors`)."""
        if error.field in ("grade_ratios", "level_ratios", "dividends"):
            self.ratios_errors.setdefault(error.field, []).append(str(error.message))
        else:
            apply_service_error(self, error)


class RejectApplicationForm(Form):
    reject_reason = reason_field(_l("Reason"), _l("Please give the applicant a reason."))


class DisableDistributorForm(Form):
    reason = reason_field(_l("Reason (kept on record)"))


class GradeChoiceForm(Form):
    grade_id = SelectField(_l("Grade"), validate_choice=False)
    reason = reason_field(
        _l("Reason (kept in the grade log)"), _l("Please give a reason: it is kept in the grade log.")
    )

    def __init__(self, *args, grades=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.grade_id.choices = [SelectChoice("", _l("No grade (the shop's rates)"))] + [
            SelectChoice(str(grade.id), grade.name) for grade in grades
        ]

    @property
    def chosen(self) -> int | None:
        return parse_id(self.grade_id.data)


class PayWithdrawalForm(Form):
    reference = text_field(
        _l("Transfer reference"),
        64,
        required=_l("Please enter the transfer reference (at most 64 characters)."),
        too_long=_l("Please enter the transfer reference (at most 64 characters)."),
    )


class RejectWithdrawalForm(Form):
    reason = reason_field(_l("Reason"), _l("Please give the distributor a reason."))


class VoidCommissionForm(Form):
    reason = reason_field(_l("Reason"), _l("Please give a reason: the distributor will see it."))


class ProductCommissionForm(RateFields, NestedForm):
    """The product form's commission settings (佣金设置): follow the shop's rates, the product's own rate per
    level, or no commission at all. Nested in the back office's product form (admin.catalog) as a FormField."""

    mode = radio_field(
        _l("Commission"),
        {
            "shop": _l("Follow the shop's rates"),
            "own": _l("Own rate per level"),
            "none": _l("No commission on this product"),
        },
        default="shop",  # a form without the choice (an older page, a script) keeps the shop's rates
    )
    rate_1 = PercentField(_l("Level 1"))
    rate_2 = PercentField(_l("Level 2"))
    rate_3 = PercentField(_l("Level 3"))

    def load(self, product) -> None:
        """Show what the product has now."""
        if product.commission_opt_out:
            self.mode.data = "none"
        elif product.commission_rates_bp is not None:
            self.mode.data = "own"
            for field, rate in zip(self.rate_fields(), product.commission_rates_bp, strict=False):
                field.data = rate
        else:
            self.mode.data = "shop"

    def rates_bp(self) -> list[int] | None:
        """The product's own vector (empty levels earn 0, trailing ones dropped), or None."""
        return self.typed_rates_bp() if self.mode.data == "own" else None

    def validate(self, extra_validators=None) -> bool:
        super().validate(extra_validators)
        if self.mode.data != "own":
            for field in self.rate_fields():
                field.errors = []
        elif not any(field.errors for field in self.rate_fields()):
            if all(field.data is None for field in self.rate_fields()):
                self.rates_errors.append(str(_l("Enter the rate of at least one level.")))
            else:
                try:
                    check_product_rates(db.session, self.rates_bp())
                except DistributionError as error:
                    self.rates_errors.append(str(error.message))
        return not self.rates_errors and not any(errors for errors in self.errors.values())

    def apply_to(self, product) -> None:
        """Write the checked choice onto the product (the caller commits)."""
        product.commission_opt_out = self.mode.data == "none"
        product.commission_rates_bp = self.rates_bp()
