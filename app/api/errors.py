"""The one error shape of the API: {"error": {"code": "…", "message": "中文说明", "fields": {…}}}, with the
right status, for every error under /api — the API's own refusals, a request that fails validation, and
what the app's error handlers catch (404, 405, 429, CSRF, 500), which ask `http_error_response`."""

from flask import jsonify, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, Field

API_PREFIX = "/api/"

STATUS_CODES = {
    400: ("bad_request", _l("The request is not right. Please check it and try again.")),
    401: ("unauthorized", _l("Please log in first.")),
    403: ("forbidden", _l("You may not do this.")),
    404: ("not_found", _l("This does not exist or has been removed.")),
    405: ("method_not_allowed", _l("This address does not take this method.")),
    413: ("too_large", _l("The request is too large.")),
    422: ("invalid", _l("Some of what was sent is not right.")),
    429: ("rate_limited", _l("Too many attempts. Please wait a minute and try again.")),
    500: ("server_error", _l("Something went wrong on our side. Please try again later.")),
    503: ("unavailable", _l("This is not available just now. Please try again in a minute.")),
}

# What each kind of pydantic validation error says, keyed by its type (others: "invalid").
FIELD_MESSAGES = {
    "missing": _l("This is required."),
    "string_too_long": _l("This is too long."),
    "string_too_short": _l("This is too short."),
    "string_type": _l("This must be text."),
    "int_parsing": _l("This must be a whole number."),
    "int_type": _l("This must be a whole number."),
    "int_from_float": _l("This must be a whole number."),
    "greater_than_equal": _l("This number is too small."),
    "greater_than": _l("This number is too small."),
    "less_than_equal": _l("This number is too large."),
    "less_than": _l("This number is too large."),
    "literal_error": _l("This is not one of the allowed values."),
    "enum": _l("This is not one of the allowed values."),
    "model_type": _l("The request body must be a JSON object."),
    "model_attributes_type": _l("The request body must be a JSON object."),
}


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable: not_found, invalid, unauthorized, rate_limited…")
    message: str = Field(description="A sentence for the shopper (Chinese)")
    fields: dict[str, str] = Field(default_factory=dict, description="Field name → what is wrong with it")


class ErrorBody(BaseModel):
    """Every error under /api."""

    error: ErrorDetail


class ApiError(Exception):
    """A refusal a view raises; the blueprint's handler answers it in the error shape."""

    def __init__(self, status: int, message=None, *, code: str | None = None, fields: dict | None = None):
        super().__init__(message)
        default_code, default_message = STATUS_CODES.get(status, STATUS_CODES[400])
        self.status = status
        self.code = code or default_code
        self.message = str(message or default_message)
        self.fields = {name: str(text) for name, text in (fields or {}).items()}


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def error_response(status: int, message=None, *, code: str | None = None, fields: dict | None = None):
    error = ApiError(status, message, code=code, fields=fields)
    return api_error_response(error)


def api_error_response(error: ApiError):
    response = jsonify(error={"code": error.code, "message": error.message, "fields": error.fields})
    response.status_code = error.status
    response.cache_control.no_store = True
    return response


def http_error_response(status: int, message: str | None = None, *, code: str | None = None):
    """For the app's error handlers: an HTTP error under /api, in the API's shape. `message` is the
    handler's own sentence (abort(404, "…"), the rate limit's wait); else the API's for that status."""
    return error_response(status if status in STATUS_CODES else 400, message, code=code)


def validation_fields(errors: list[dict]) -> dict[str, str]:
    """pydantic's errors as {field: message}; the first problem of each field is kept. A problem with the
    body as a whole (not an object) is filed under "body"."""
    fields: dict[str, str] = {}
    for item in errors:
        location = ".".join(str(part) for part in item.get("loc", ()) if part != "__root__") or "body"
        fields.setdefault(location, str(FIELD_MESSAGES.get(item.get("type"), _("This is not valid."))))
    return fields
