"""Moments other areas react to, inside the same transaction: marketing gives a new customer the shop's
新人券 on `customer_registered` (receivers get the session and the user). `account_holdings` is a question
asked before an account is folded into another (the mini-program's sign-in by mobile number): each area
answers a list of what the account holds there (orders, cart, coupons, points, commission…), empty for
nothing — accounts cannot look into the areas above it."""

from blinker import Namespace

_signals = Namespace()

customer_registered = _signals.signal("customer-registered")
account_holdings = _signals.signal("account-holdings")
