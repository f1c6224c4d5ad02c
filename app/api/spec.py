"""The SpecTree instance: it validates each view's query and body against pydantic models and builds the
OpenAPI 3.1 description from the same declarations. A request that fails validation is answered in the
API's error shape (422, with a Chinese message per field); a response that does not match its declared
model is a bug, raised as one (a 500 in the error shape, and a failing test)."""

import json

from spectree import SecurityScheme, SpecTree
from spectree.models import SecureType, SecuritySchemeData

from app.api.errors import ErrorBody, validation_fields


def _before(request, response, validation_error, instance, model_adapter):
    if validation_error is None:
        return
    from flask_babel import gettext as _

    fields = validation_fields(model_adapter.validation_errors(validation_error))
    body = {
        "error": {"code": "invalid", "message": _("Some of what was sent is not right."), "fields": fields}
    }
    response.set_data(json.dumps(body, ensure_ascii=False))
    response.mimetype = "application/json"
    response.status_code = 422


class ResponseMismatch(RuntimeError):
    """A view answered something its declared response model does not allow."""


def _after(request, response, validation_error, instance, model_adapter):
    if validation_error is not None:
        raise ResponseMismatch(str(validation_error))


BEARER = "bearer"

spec = SpecTree(
    "flask",
    title="Fenxiao API",
    version="1",
    description="The shop's JSON API for the WeChat mini-program. Errors: "
    '{"error": {"code", "message", "fields"}}. Money: integer fen plus a display string.',
    mode="strict",  # only the views declared here, not the H5 shop's
    annotations=True,
    before=_before,
    after=_after,
    validation_error_status=422,
    validation_error_model=ErrorBody,
    # Plain model names in the document (every model lives in app/api; the default adds a hash of its path).
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda parent, child: child,
    security_schemes=[
        SecurityScheme(
            name=BEARER,
            data=SecuritySchemeData(
                type=SecureType.HTTP, scheme="bearer", description="The token from POST /api/v1/auth/login"
            ),
        )
    ],
)
