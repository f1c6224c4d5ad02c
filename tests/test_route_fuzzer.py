"""Every route in app.url_map, as every kind of visitor, with hostile input: no answer may be a 500.

The demo shop gives real data (orders in every state, distributors, withdrawals, refunds). Each route is
opened as anonymous, a shopper, a distributor, staff and the owner, its URL arguments filled with real
ids and numbers and with hostile strings, its query string and its forms (the fields each page really
has, CSRF token included) filled with NUL bytes, huge numbers, "12,30", full-width digits and 5,000
characters. On SQLite and on PostgreSQL (where a NUL in a query once was a 500)."""

import io
import itertools
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select
from werkzeug.routing import IntegerConverter

from app.accounts.models import User
from app.catalog.models import Category, Product, ProductImage
from app.demo import seed
from app.distribution.models import Distributor, DistributorApplication, DistributorGrade, Withdrawal
from app.extensions import db
from app.orders.models import Address, Order, Refund
from app.payments.models import Payment
from app.timeutil import set_clock
from tests.conftest import CSRF_RE
from tests.htmlforms import forms

PAYLOADS = {
    "nul": "ab\x00cd\x01",
    "huge": "9" * 40,
    "comma": "12,30",
    "full_width": "１２．３０",
    "long": "长" * 5000,
}
# Query arguments the list pages read (filters, search, paging, dates), besides those found in forms.
QUERY_NAMES = ["q", "page", "status", "from", "to", "category_id", "sort", "tab", "buy", "qty", "grade",
               "distributor_id", "kind", "low_stock", "next", "ref", "poll", "failed", "lang", "level"]  # fmt: skip
ROLES = {  # demo accounts (seed-demo), each from its own address so that login limits stay apart
    "anonymous": None,
    "shopper": "13700000001",
    "distributor": "13600000001",
    "staff": "13800000001",
    "owner": "13800000000",
}
APP = Path(__file__).resolve().parent.parent / "app"
SKIPPED_ENDPOINTS = {"static", "shop.logout", "admin.logout"}  # logging out would end the role's visit


@pytest.fixture
def demo_shop(app):
    seed(db.session, url="http://localhost/", echo=lambda _line: None)
    set_clock(None)
    yield
    set_clock(None)


def real_values(role_user: User | None) -> dict[str, list[str]]:
    """For each URL argument name: real values (the role's own where there is such a thing)."""
    session = db.session

    def ids(model, *where):
        return [str(i) for i in session.scalars(select(model.id).where(*where).order_by(model.id).limit(2))]

    own = role_user.id if role_user else -1
    numbers = session.scalars(select(Order.number).where(Order.user_id == own).limit(2)).all()
    numbers += session.scalars(select(Order.number).order_by(Order.id).limit(1)).all()
    codes = session.scalars(select(Distributor.code).order_by(Distributor.id).limit(1)).all()
    return {
        "category_id": ids(Category),
        "product_id": ids(Product),
        "address_id": ids(Address, Address.user_id == own) or ids(Address),
        "application_id": ids(DistributorApplication),
        "distributor_id": ids(Distributor),
        "grade_id": ids(DistributorGrade),
        "order_id": ids(Order),
        "withdrawal_id": ids(
            Withdrawal,
            Withdrawal.distributor_id.in_(select(Distributor.id).where(Distributor.user_id == own)),
        )
        or ids(Withdrawal),  # fmt: skip
        "refund_id": ids(Refund),
        "payment_id": ids(Payment),
        "user_id": ids(User, User.referrer_id == own) or ids(User),
        "number": numbers,
        "out_trade_no": session.scalars(select(Payment.out_trade_no).limit(1)).all(),
        "code": codes,
        "name": ["settle", "expire"],
        "key": session.scalars(select(ProductImage.image_key).limit(1)).all(),
    }


def urls_for(adapter, rule, values: dict[str, list[str]], method: str) -> list[str]:
    """The rule with real values first, then with each hostile string in each text argument."""
    names = sorted(rule.arguments - set(rule.defaults or {}))  # a default is the rule's own, not the URL's
    choices = []
    for name in names:
        real = [v for v in values.get(name, []) if v][:1] or ["1"]
        numeric = isinstance(rule._converters[name], IntegerConverter)
        choices.append(real + ([] if numeric else list(PAYLOADS.values())))
    return [
        adapter.build(rule.endpoint, dict(zip(names, combo, strict=True)), method=method)
        for combo in itertools.product(*choices)
    ]


class Fuzzer:
    def __init__(self, app):
        self.app = app
        self.failures: list[str] = []
        self.requests = 0
        self.form_fields: dict[str, list] = {}  # action -> [(name, value), …] as the page renders it
        self.get_names: dict[str, set[str]] = {}  # page -> names of its GET (filter) forms

    def send(self, client, method: str, url: str, role: str, **kwargs):
        self.requests += 1
        try:
            response = client.open(url, method=method, **kwargs)
        except Exception as error:  # noqa: BLE001 - the app raised: that is the 500 we look for
            self.failures.append(
                f"{role} {method} {url[:120]}: {error.__class__.__name__}: {str(error)[:200]}"
            )
            return None
        if response.status_code >= 500:
            self.failures.append(f"{role} {method} {url[:120]}: {response.status_code}")
        return response

    def learn(self, url: str, response) -> None:
        if response is None or response.mimetype != "text/html":
            return
        for found in forms(response.get_data(as_text=True)):
            if found.method == "get":
                self.get_names.setdefault(url, set()).update(found.names)
                continue
            action = found.action or url.split("?", 1)[0]
            self.form_fields.setdefault(action, found.fields)


def login(client, mobile: str) -> str:
    page = client.get("/admin/login" if mobile.startswith("138") else "/login")
    token = CSRF_RE.search(page.get_data(as_text=True))[1]
    path = "/admin/login" if mobile.startswith("138") else "/login"
    answer = client.post(path, data={"mobile": mobile, "password": "demo1234", "csrf_token": token})
    assert answer.status_code == 302, f"demo login {mobile}: {answer.status_code}"
    return token


def names_the_app_reads() -> set[str]:
    """Form fields views read straight from request.form (buttons, htmx posts), from the source."""
    pattern = re.compile(r"request\.form(?:\.get|\.getlist)?[(\[]\"([a-z_]+)\"")
    return {name for path in APP.rglob("*.py") for name in pattern.findall(path.read_text())}


def refused(response) -> bool:
    """The role may not use this route at all (so hostile variants would test nothing more)."""
    if response is None:
        return False
    location = response.headers.get("Location", "")
    return response.status_code in (401, 403) or (
        response.status_code == 302 and location.startswith(("/login", "/admin/login"))
    )


def hostile_query(payload: str, names: list[str]) -> str:
    # 5,000 characters in every argument would only test the URL parser: in the first few it is enough.
    names = names[:4] if len(payload) > 100 else names
    return "&".join(f"{quote(name)}={quote(payload)}" for name in names)


def test_no_route_answers_500_to_hostile_input(app, demo_shop):
    fuzzer = Fuzzer(app)
    rules = [r for r in app.url_map.iter_rules() if r.endpoint not in SKIPPED_ENDPOINTS]
    assert len(rules) > 100
    adapter = app.url_map.bind("localhost")
    visitors = {}
    for n, (role, mobile) in enumerate(ROLES.items()):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.9.0.{n + 1}"
        token = (
            login(client, mobile)
            if mobile
            else CSRF_RE.search(client.get("/login").get_data(as_text=True))[1]
        )
        user = db.session.scalar(select(User).where(User.mobile == mobile)) if mobile else None
        visitors[role] = (client, token, real_values(user))

    # Pages first: as each role, every GET route with real arguments; where the role may open it, with
    # hostile arguments and a hostile query string (the names the page's own filter forms use, and more).
    for role, (client, _token, values) in visitors.items():
        for rule in rules:
            if "GET" not in rule.methods:
                continue
            urls = urls_for(adapter, rule, values, "GET")
            first = fuzzer.send(client, "GET", urls[0], role)
            fuzzer.learn(urls[0], first)
            if refused(first):
                continue
            for url in urls[1:]:
                fuzzer.send(client, "GET", url, role)
            names = QUERY_NAMES + sorted(fuzzer.get_names.get(urls[0], set()) - set(QUERY_NAMES))
            for kind, payload in PAYLOADS.items():
                headers = {"HX-Request": "true"} if kind == "nul" else {}
                fuzzer.send(
                    client, "GET", f"{urls[0]}?{hostile_query(payload, names)}", role, headers=headers
                )

    # Then every POST route: the form as its page renders it with every field but the CSRF token hostile,
    # or (buttons, htmx posts) every name the app reads from request.form.
    direct = sorted(names_the_app_reads())
    for role, (client, token, values) in visitors.items():
        for rule in rules:
            if "POST" not in rule.methods:
                continue
            for url in urls_for(adapter, rule, values, "POST")[:2]:
                known = fuzzer.form_fields.get(url)
                names = [name for name, _value in known] if known is not None else direct
                for kind, payload in PAYLOADS.items():
                    data = dict.fromkeys(names, payload) | {"csrf_token": token}
                    if refused(fuzzer.send(client, "POST", url, role, data=data)) and kind == "nul":
                        break
                else:  # and a file where text is expected
                    files = {name: (io.BytesIO(b"GIF89a\x00"), "a.gif") for name in names}
                    data = files | {"csrf_token": token}
                    fuzzer.send(client, "POST", url, role, data=data, content_type="multipart/form-data")

    assert fuzzer.requests > 1500
    assert not fuzzer.failures, f"{len(fuzzer.failures)} of {fuzzer.requests} requests failed:\n" + "\n".join(
        fuzzer.failures[:40]
    )
