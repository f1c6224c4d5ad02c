"""The one shape of a refusal people can act on. Each area raises its own kind (OrderError,
MarketingError, …) so callers catch what they expect; all of them carry the same parts."""


class UserError(ValueError):
    """A sentence the shopper or merchant can act on; `field` names the form field it belongs to, and
    `more` lists other (field, message) problems of the same input, so a form can show them all at once."""

    def __init__(self, message, field: str | None = None, more: list | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.more = more or []
