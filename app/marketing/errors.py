"""The one refusal marketing raises: a sentence the shopper or merchant can act on."""


class MarketingError(ValueError):
    """`field` names the form field the message belongs to."""

    def __init__(self, message, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
