"""Moments other areas react to, inside the same transaction: marketing gives a new customer the shop's
新人券 on `customer_registered` (receivers get the session and the user)."""

from blinker import Namespace

_signals = Namespace()

customer_registered = _signals.signal("customer-registered")
