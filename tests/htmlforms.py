"""Read the forms on a page as a browser would submit them: every named input, select and textarea with
its current value (checked boxes and radios only, the selected option, textarea text)."""

from html.parser import HTMLParser


class Form:
    def __init__(self, action: str | None, method: str):
        self.action, self.method = action, method
        self.fields: list[tuple[str, str]] = []
        self.names: list[str] = []  # every field name, sent or not (unchecked boxes too)

    def data(self, **changes) -> dict:
        """What submitting the form sends, with some fields changed (lists for repeated names)."""
        values: dict = {}
        for name, value in self.fields:
            if name in values:
                previous = values[name]
                values[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                values[name] = value
        values.update(changes)
        return values


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.form: Form | None = None
        self.select: tuple[str, list[str], list[str]] | None = None  # name, options, selected
        self.textarea: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            # htmx forms post where hx-post says (the browser's action is the fallback without JavaScript).
            action, method = attrs.get("action"), (attrs.get("method") or "get").lower()
            if attrs.get("hx-post"):
                action, method = attrs["hx-post"], "post"
            self.form = Form(action, method)
            self.forms.append(self.form)
            return
        if self.form is None or not attrs.get("name"):
            if tag == "option" and self.select is not None:
                self._option(attrs)
            return
        name = attrs["name"]
        if tag == "input":
            self.form.names.append(name)
            kind = (attrs.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.form.fields.append((name, attrs.get("value") or ("on" if kind == "checkbox" else "")))
        elif tag == "select":
            self.form.names.append(name)
            self.select = (name, [], [])
        elif tag == "textarea":
            self.form.names.append(name)
            self.textarea = (name, [])
        elif tag == "button":
            self.form.names.append(name)

    def _option(self, attrs):
        name, options, selected = self.select
        options.append(attrs.get("value", ""))
        if "selected" in attrs:
            selected.append(attrs.get("value", ""))

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[1].append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self.form = None
        elif tag == "select" and self.select is not None and self.form is not None:
            name, options, selected = self.select
            for value in selected or options[:1]:
                self.form.fields.append((name, value))
            self.select = None
        elif tag == "textarea" and self.textarea is not None and self.form is not None:
            name, parts = self.textarea
            text = "".join(parts)
            self.form.fields.append(
                (name, text.removeprefix("\r\n") if text.startswith("\r\n") else text.removeprefix("\n"))
            )
            self.textarea = None


def forms(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def form(html: str, action: str | None = None) -> Form:
    """The first POST form posting to `action` (None: back to the page itself, no action attribute)."""
    for found in forms(html):
        if found.method == "post" and (found.action or None) == action:
            return found
    raise AssertionError(f"no POST form for {action!r} on the page")
