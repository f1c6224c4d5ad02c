"""What browsers and the mini-program send, cleaned once for every view, form and JSON body: control
characters (NUL and the rest of C0 and C1, but tab and line breaks) never reach a form, a query, an API view
or the database. PostgreSQL refuses NUL in text outright, and no one types the others on purpose — they
come from copy-paste accidents and probes."""

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


def _clean_json(value):
    """A JSON body's strings (values and keys, at any depth) without control characters, as form values."""
    if isinstance(value, str):
        return strip_control_characters(value)
    if isinstance(value, list):
        return [_clean_json(item) for item in value]
    if isinstance(value, dict):
        return {_clean_json(key): _clean_json(item) for key, item in value.items()}
    return value


class CleanRequest(Request):
    parameter_storage_class = CleanMultiDict

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):
        """The JSON body (the API's), cleaned like query and form values: a NUL in a note or a name is
        dropped, not sent to PostgreSQL (which refuses it: a 500)."""
        return _clean_json(super().get_json(force=force, silent=silent, cache=cache))


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
