"""What browsers send, cleaned once for every view and form: control characters (NUL and the rest of C0
and C1, but tab and line breaks) never reach a form, a query or the database. PostgreSQL refuses NUL in
text outright, and no one types the others on purpose — they come from copy-paste accidents and probes."""

import re

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.routing import PathConverter, UnicodeConverter

# Cc minus \t \n \r: C0 (0x00–0x1f), DEL and C1 (0x80–0x9f).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def strip_control_characters(text: str) -> str:
    return _CONTROL.sub("", text)


def _clean(value):
    return strip_control_characters(value) if isinstance(value, str) else value


class CleanMultiDict(ImmutableMultiDict):
    """Query and form values (and their names) without control characters; uploaded files untouched."""

    def __init__(self, mapping=None):
        if mapping is None:
            super().__init__()
            return
        if isinstance(mapping, MultiDict):
            pairs = mapping.items(multi=True)
        elif isinstance(mapping, dict):
            pairs = (
                (key, item)
                for key, value in mapping.items()
                for item in (value if isinstance(value, list | tuple) else [value])
            )
        else:
            pairs = mapping
        super().__init__([(_clean(key), _clean(value)) for key, value in pairs])


class CleanRequest(Request):
    parameter_storage_class = CleanMultiDict


# A URL part holding a control character names nothing here: such a path is a 404, not a query.
class CleanStringConverter(UnicodeConverter):
    def __init__(self, url_map, minlength=1, maxlength=None, length=None):
        super().__init__(url_map, minlength, maxlength, length)
        self.regex = self.regex.replace("[^/]", r"[^/\x00-\x1f\x7f-\x9f]")


class CleanPathConverter(PathConverter):
    regex = r"[^/\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*?"


def init_app(app) -> None:
    app.request_class = CleanRequest
    app.url_map.converters["default"] = CleanStringConverter
    app.url_map.converters["string"] = CleanStringConverter
    app.url_map.converters["path"] = CleanPathConverter
