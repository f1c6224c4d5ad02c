"""The one refusal marketing raises: a sentence the shopper or merchant can act on."""

from app.errors import UserError


class MarketingError(UserError):
    """A refusal about a coupon, points, a campaign or a member level."""
