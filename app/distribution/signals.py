"""Moments of distribution other areas react to, inside the same transaction (notifications writes a
message to the distributor): `commissions_created` (sender: the order; commissions=[Commission]) once an
order's commission is written, `withdrawal_paid` (sender: the withdrawal) once the merchant marks it paid."""

from blinker import Namespace

_signals = Namespace()

commissions_created = _signals.signal("commissions-created")
withdrawal_paid = _signals.signal("withdrawal-paid")
