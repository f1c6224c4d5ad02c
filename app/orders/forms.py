"""Back-office forms for orders: shipping, manual transfers, refunds, staff notes, bulk shipping.
The rules themselves (what may be shipped, refunded …) are checked by the services."""

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.forms import Form, reason_field, text_field
from app.orders.carriers import BY_CODE, CARRIERS
from app.orders.queries import STAFF_NOTE_MAX
from app.orders.transitions import CARRIER_MAX

OTHER_CARRIER = "other"


class AdminShipForm(Form):
    carrier_choice = SelectField(_l("Carrier"), validators=[DataRequired(_l("Please choose the carrier."))])
    carrier_other = StringField(
        _l("Other carrier"),
        validators=[
            Optional(),
            Length(max=CARRIER_MAX, message=_l("At most %(n)d characters.", n=CARRIER_MAX)),
        ],
    )
    tracking_no = StringField(
        _l("Tracking No."), validators=[DataRequired(_l("Please enter the tracking number."))]
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="ship", **kwargs)
        self.carrier_choice.choices = (
            [("", _l("Choose…"))]
            + [(carrier.code, carrier.name) for carrier in CARRIERS]
            + [(OTHER_CARRIER, _l("Other (type it in)"))]
        )

    @property
    def carrier(self) -> str:
        """The carrier's name as the order keeps it (the chosen one's, or the one typed in)."""
        if self.carrier_choice.data == OTHER_CARRIER:
            return (self.carrier_other.data or "").strip()
        chosen = BY_CODE.get(self.carrier_choice.data or "")
        return str(chosen.name) if chosen else ""

    @property
    def carrier_code(self) -> str | None:
        """快递100's code of the carrier chosen from the list; None for one typed in."""
        return self.carrier_choice.data if self.carrier_choice.data in BY_CODE else None

    def validate_carrier_other(self, field):
        if self.carrier_choice.data == OTHER_CARRIER and not (field.data or "").strip():
            raise ValidationError(_l("Please enter the carrier."))


class AdminConfirmTransferForm(Form):
    """Nothing but the CSRF token: the merchant saw the money arrive."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="confirm", **kwargs)


class AdminRejectTransferForm(Form):
    reason = reason_field(
        _l("Why is the transfer rejected?"), _l("Please tell the buyer what is wrong with the transfer.")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="reject_transfer", **kwargs)


class AdminCancelOrderForm(Form):
    reason = reason_field(_l("Reason (the buyer sees it)"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="cancel", **kwargs)


class AdminStaffNoteForm(Form):
    note = text_field(
        _l("Staff note"), STAFF_NOTE_MAX, required=_l("Please write the note first."), multiline=True
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="note", **kwargs)


class AdminApproveRefundForm(Form):
    restock = BooleanField(_l("Put the returned units back into stock"))

    def __init__(self, *args, refund_id: int, **kwargs):
        super().__init__(*args, prefix=f"approve{refund_id}", **kwargs)


class AdminRejectRefundForm(Form):
    reject_reason = reason_field(
        _l("Why is the request rejected?"), _l("Please tell the buyer why the request is rejected.")
    )

    def __init__(self, *args, refund_id: int, **kwargs):
        super().__init__(*args, prefix=f"reject{refund_id}", **kwargs)


class AdminCompleteRefundForm(Form):
    """The merchant has paid a manual-transfer refund back by hand."""

    def __init__(self, *args, refund_id: int, **kwargs):
        super().__init__(*args, prefix=f"complete{refund_id}", **kwargs)


class AdminSettlePaymentForm(Form):
    note = reason_field(_l("How was the money returned?"), _l("Please note how the money was returned."))

    def __init__(self, *args, payment_id: int, **kwargs):
        super().__init__(*args, prefix=f"settle{payment_id}", **kwargs)


class AdminBulkShipForm(Form):
    file = FileField(_l("CSV file"))


class AdminApproveReturnForm(Form):
    """退货退款 / 换货: the goods may come back (to the return address in settings)."""

    def __init__(self, *args, refund_id: int, **kwargs):
        super().__init__(*args, prefix=f"approvereturn{refund_id}", **kwargs)


class AdminReceiveReturnForm(Form):
    restock = BooleanField(_l("Put the returned units back into stock"))

    def __init__(self, *args, refund_id: int, **kwargs):
        super().__init__(*args, prefix=f"receive{refund_id}", **kwargs)


class AdminRefuseReturnForm(Form):
    reject_reason = reason_field(
        _l("Why are the returned goods refused?"), _l("Please tell the buyer why the request is rejected.")
    )

    def __init__(self, *args, refund_id: int, **kwargs):
        super().__init__(*args, prefix=f"refuse{refund_id}", **kwargs)


class AdminRefundInsteadForm(Form):
    """换货 that cannot be shipped: refund the returned units instead."""

    def __init__(self, *args, refund_id: int, **kwargs):
        super().__init__(*args, prefix=f"refundinstead{refund_id}", **kwargs)


class AdminShipReplacementForm(Form):
    """换货: the replacement SKU (choices: aftersales' same product, same price) and its parcel."""

    sku_id = SelectField(_l("Replacement SKU"), validate_choice=False)
    carrier_code = SelectField(_l("Carrier"), validate_choice=False)
    tracking_no = StringField(_l("Tracking number"), validators=[Length(max=40)])

    def __init__(self, *args, refund_id: int, skus=(), **kwargs):
        super().__init__(*args, prefix=f"replace{refund_id}", **kwargs)
        self.sku_id.choices = [("", str(_l("Choose the SKU")))] + [
            (str(sku.id), f"{sku.spec_text or '—'} · {sku.stock}") for sku in skus
        ]
        self.carrier_code.choices = [("", str(_l("Choose the carrier")))] + [
            (c.code, str(c.name)) for c in CARRIERS
        ]
