"""A fake WeChat Pay API v3 gateway (and the WeChat web APIs: OAuth, access token, jsapi ticket).

It verifies each request's WECHATPAY2-SHA256-RSA2048 signature with the merchant's public key, answers
with responses signed by the platform key (verified by the SDK), and builds notifies exactly as WeChat
does: AES-256-GCM-encrypted resource with the APIv3 key, signed over "timestamp\\nnonce\\nbody\\n"."""

import base64
import json
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from tests.fakes.keys import pair
from tests.fakes.server import FakeServer

MCHID = "1900000109"
APPID = "wx8888888888888888"
APP_SECRET = "app-secret-for-tests-0123456789ab"
SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000001092025000000000001"
APIV3_KEY = "0123456789abcdef0123456789abcdef"  # 32 bytes
# The shop's mini-program: its own AppID and AppSecret (wx.login's code2session, its access token).
MP_APPID = "wx9999999999999999"
MP_APP_SECRET = "mp-secret-for-tests-0123456789abc"
AUTH_RE = re.compile(r'(\w+)="([^"]*)"')


def _sign(private_key, message: str) -> str:
    return base64.b64encode(private_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def _verify(public_key, message: str, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature), message.encode(), padding.PKCS1v15(), hashes.SHA256())
        return True
    except Exception:  # noqa: BLE001 - any failure is "does not verify"
        return False


class FakeWechat:
    def __init__(self):
        self.merchant = pair("wechat-merchant")
        self.platform = pair("wechat-platform")
        self.orders: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        self.rejected: list[str] = []
        self.openids: dict[str, str] = {}  # OAuth code -> openid
        self.mp_codes: dict[str, tuple[str, str | None]] = {}  # wx.login code -> (openid, unionid)
        self.mp_token_calls = 0
        # wxacode.getUnlimited: every call (refused ones too), the codes given as (page, scene), and how
        # many of the next calls answer "system busy".
        self.wxacode_calls = 0
        self.wxacodes: list[tuple[str, str]] = []
        self.failing_wxacodes = 0
        self.mp_phone_codes: dict[str, tuple[str, str]] = {}  # getPhoneNumber code -> (number, country code)
        self.mp_revoked_tokens: set[str] = set()  # mini-program access tokens WeChat now calls invalid
        self.wxacode_answer: bytes | None = None  # answered (as image/png) instead of the code, when set
        self.mp_token_answer: dict | None = None  # answered by /cgi-bin/token for the mini-program, when set
        self.mp_phone_answer: dict | None = None  # answered by getuserphonenumber for a good code, when set
        # Who holds the phone: the openid the authorize page hands out, and the 网页授权域名 (None: any).
        self.user_openid = "oFakeWechatPhoneUser00000001"
        self.oauth_domain: str | None = None
        self.failing_code_exchanges = 0  # the next n OAuth code exchanges answer "system busy"
        self.failing_refunds = 0  # the next n refund requests are refused, as WeChat refuses under load
        self.token_calls = 0
        # 公众号 template messages: those accepted, those refused (errcode), and what to answer next.
        self.template_messages: list[dict] = []
        self.template_refusals: list[int] = []
        self.failing_template_sends = 0  # the next n sends answer -1 系统繁忙
        # The next n sends are taken (the message reaches the phone) but answered only after this many
        # seconds: a read timeout on our side, the case where a retry would send the message twice.
        self.slow_template_answers, self.slow_answer_seconds = 0, 1.0
        self.unsubscribed: set[str] = set()  # openids that no longer follow the account: 43004
        self.unknown_openids: set[str] = set()  # openids not of this account (another 公众号's): 40003
        self.revoked_tokens: set[str] = set()  # access tokens WeChat now calls invalid: 40001
        self.platform_certificates: list[x509.Certificate] = []
        self.server = FakeServer(self.handle)

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self):
        self.server.stop()

    def settings(self) -> dict:
        """What the merchant types into the back office for this fake."""
        return {
            "wechat_appid": APPID,
            "wechat_mchid": MCHID,
            "wechat_serial_no": SERIAL,
            "wechat_public_key_id": PUBLIC_KEY_ID,
            "wechat_public_key": self.platform.public_body,
            "apiv3_key": APIV3_KEY,
            "private_key": self.merchant.private_pem,
            "app_secret": APP_SECRET,
        }

    # ------------------------------------------------------------ HTTP

    def handle(self, method, raw_path, headers, body):
        path = urlsplit(raw_path).path
        if path == "/connect/oauth2/authorize":
            return self._authorize(parse_qs(urlsplit(raw_path).query))
        if path == "/cgi-bin/message/template/send":
            return self._template_send(method, parse_qs(urlsplit(raw_path).query), headers, body)
        if path == "/wxa/business/getuserphonenumber":
            return self._phone_number(method, parse_qs(urlsplit(raw_path).query), body)
        if path.startswith(("/sns/", "/cgi-bin/")):
            return self._web_api(path, parse_qs(urlsplit(raw_path).query))
        if path == "/wxa/getwxacodeunlimit":
            return self._wxacode(method, parse_qs(urlsplit(raw_path).query), body)
        self.requests.append((method, raw_path))
        if not self._authorised(method, raw_path, headers, body):
            self.rejected.append(raw_path)
            return self._reply(401, {"code": "SIGN_ERROR", "message": "签名错误"}, signed=False)
        data = json.loads(body) if body else {}
        if method == "POST" and path in ("/v3/pay/transactions/jsapi", "/v3/pay/transactions/h5"):
            return self._new_order(path.rsplit("/", 1)[1], data)
        match = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)(/close)?", path)
        if match and method == "GET":
            order = self.orders.get(match.group(1))
            if order is None:
                return self._reply(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
            return self._reply(200, self.transaction(order))
        if match and method == "POST":
            order = self.orders.get(match.group(1))
            if order is not None and order["trade_state"] == "NOTPAY":
                order["trade_state"] = "CLOSED"
            return 204, self.signature_headers(""), b""
        if method == "POST" and path == "/v3/refund/domestic/refunds":
            return self._refund(data)
        if method == "GET" and path == "/v3/certificates":
            return self._certificates()
        return self._reply(404, {"code": "NOT_FOUND", "message": path})

    def _authorised(self, method, raw_path, headers, body) -> bool:
        auth = headers.get("Authorization", "")
        if not auth.startswith("WECHATPAY2-SHA256-RSA2048 "):
            return False
        fields = dict(AUTH_RE.findall(auth))
        if fields.get("mchid") != MCHID or fields.get("serial_no") != SERIAL:
            return False
        message = (
            f"{method}\n{raw_path}\n{fields.get('timestamp')}\n{fields.get('nonce_str')}\n{body.decode()}\n"
        )
        return _verify(self.merchant.public, message, fields.get("signature", ""))

    def _new_order(self, kind, data):
        # The official account's AppID (H5 JSAPI) or the mini-program's (paying inside it): both are bound to
        # the merchant number.
        if data.get("mchid") != MCHID or data.get("appid") not in (APPID, MP_APPID):
            return self._reply(400, {"code": "PARAM_ERROR", "message": "mchid/appid"})
        if kind == "jsapi" and not (data.get("payer") or {}).get("openid"):
            return self._reply(400, {"code": "PARAM_ERROR", "message": "payer.openid"})
        if kind == "h5" and not (data.get("scene_info") or {}).get("payer_client_ip"):
            return self._reply(400, {"code": "PARAM_ERROR", "message": "scene_info"})
        no = data["out_trade_no"]
        existing = self.orders.get(no)
        # One out_trade_no is one order at WeChat Pay: another amount or another AppID is refused.
        if existing and (existing["amount"] != data["amount"]["total"] or existing["appid"] != data["appid"]):
            return self._reply(400, {"code": "INVALID_REQUEST", "message": "参数与首次请求时不一致"})
        prepay_id = "wx" + secrets.token_hex(14)
        self.orders[no] = existing or {
            "out_trade_no": no,
            "amount": data["amount"]["total"],
            "notify_url": data["notify_url"],
            "trade_state": "NOTPAY",
            "transaction_id": None,
            "openid": (data.get("payer") or {}).get("openid"),
            "appid": data["appid"],
        }
        if kind == "jsapi":
            return self._reply(200, {"prepay_id": prepay_id})
        return self._reply(
            200,
            {
                "h5_url": f"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id={prepay_id}&package=1"
            },
        )

    def _refund(self, data):
        if self.failing_refunds > 0:
            self.failing_refunds -= 1
            return self._reply(500, {"code": "SYSTEM_ERROR", "message": "系统超时，请稍后重试"})
        no = data.get("out_trade_no")
        order = self.orders.get(no)
        if order is None or order["trade_state"] not in ("SUCCESS", "REFUND"):
            return self._reply(400, {"code": "RESOURCE_NOT_EXISTS", "message": "订单不存在"})
        refund_no = data["out_refund_no"]
        if refund_no not in self.refunds:
            refunded = sum(r["amount"] for r in self.refunds.values() if r["out_trade_no"] == no)
            if (
                refunded + data["amount"]["refund"] > order["amount"]
                or data["amount"]["total"] != order["amount"]
            ):
                return self._reply(400, {"code": "INVALID_REQUEST", "message": "退款金额超过订单金额"})
            self.refunds[refund_no] = {
                "out_refund_no": refund_no,
                "out_trade_no": no,
                "amount": data["amount"]["refund"],
                "refund_id": "50" + secrets.token_hex(8),
                "status": "PROCESSING",
                "notify_url": data.get("notify_url"),
            }
            order["trade_state"] = "REFUND"
        refund = self.refunds[refund_no]
        return self._reply(
            200,
            {
                "refund_id": refund["refund_id"],
                "out_refund_no": refund_no,
                "status": refund["status"],
                "amount": {"refund": refund["amount"], "total": order["amount"], "currency": "CNY"},
            },
        )

    def _certificates(self):
        """The platform certificates, each AES-256-GCM encrypted with the APIv3 key (none for a merchant
        that only ever used the WeChat Pay public key)."""
        data = []
        for certificate in self.platform_certificates:
            nonce = secrets.token_hex(6)
            pem = certificate.public_bytes(serialization.Encoding.PEM)
            ciphertext = AESGCM(APIV3_KEY.encode()).encrypt(nonce.encode(), pem, b"certificate")
            data.append(
                {
                    "serial_no": format(certificate.serial_number, "X"),
                    "effective_time": certificate.not_valid_before_utc.isoformat(),
                    "expire_time": certificate.not_valid_after_utc.isoformat(),
                    "encrypt_certificate": {
                        "algorithm": "AEAD_AES_256_GCM",
                        "nonce": nonce,
                        "associated_data": "certificate",
                        "ciphertext": base64.b64encode(ciphertext).decode(),
                    },
                }
            )
        return self._reply(200, {"data": data})

    def add_platform_certificate(self) -> str:
        """The merchant is moving from platform certificates to the public key: the gateway now has a
        certificate (its own key) that may sign notifies. Returns its serial."""
        key = pair("wechat-platform-certificate")
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (test)")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365 * 5))
            .sign(key.private, hashes.SHA256())
        )
        self.platform_certificates.append(certificate)
        return format(certificate.serial_number, "X")

    def _reply(self, status, payload, signed=True):
        body = json.dumps(payload, ensure_ascii=False)
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if signed:
            headers.update(self.signature_headers(body))
        return status, headers, body.encode()

    def signature_headers(
        self,
        body: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        certificate_serial: str | None = None,
    ) -> dict:
        """Signed with the WeChat Pay public key's private half, or with a platform certificate's."""
        stamp, nonce = str(timestamp or int(time.time())), secrets.token_hex(16)
        key = pair("wechat-platform-certificate").private if certificate_serial else self.platform.private
        return {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature or _sign(key, f"{stamp}\n{nonce}\n{body}\n"),
            "Wechatpay-Serial": certificate_serial or PUBLIC_KEY_ID,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    # ------------------------------------------------------------ WeChat web APIs (OAuth, JS-SDK)

    def _web_api(self, path, query):
        one = {key: values[0] for key, values in query.items()}
        if path == "/sns/oauth2/access_token" and self.failing_code_exchanges > 0:
            self.failing_code_exchanges -= 1
            return self._plain({"errcode": -1, "errmsg": "system error"})
        if path == "/sns/oauth2/access_token":
            if (
                one.get("appid") != APPID
                or one.get("secret") != APP_SECRET
                or one.get("code") not in self.openids
            ):
                return self._plain({"errcode": 40029, "errmsg": "invalid code"})
            return self._plain(
                {
                    "access_token": "oauth-token",
                    "expires_in": 7200,
                    "openid": self.openids.pop(one["code"]),
                    "scope": "snsapi_base",
                }
            )
        if path == "/sns/jscode2session":
            if one.get("appid") != MP_APPID or one.get("secret") != MP_APP_SECRET:
                return self._plain({"errcode": 40125, "errmsg": "invalid appsecret"})
            if one.get("grant_type") != "authorization_code" or one.get("js_code") not in self.mp_codes:
                return self._plain({"errcode": 40029, "errmsg": "invalid code"})
            openid, unionid = self.mp_codes.pop(one["js_code"])  # a code works once
            answer = {"openid": openid, "session_key": base64.b64encode(secrets.token_bytes(16)).decode()}
            if unionid:
                answer["unionid"] = unionid
            return self._plain(answer)
        if path == "/cgi-bin/token" and one.get("appid") == MP_APPID:
            if one.get("secret") != MP_APP_SECRET:
                return self._plain({"errcode": 40125, "errmsg": "invalid appsecret"})
            self.mp_token_calls += 1
            if self.mp_token_answer is not None:  # an answer with neither a token nor an errcode
                return self._plain(self.mp_token_answer)
            return self._plain({"access_token": f"mptoken-{self.mp_token_calls}", "expires_in": 7200})
        if path == "/cgi-bin/token":
            if one.get("appid") != APPID or one.get("secret") != APP_SECRET:
                return self._plain({"errcode": 40125, "errmsg": "invalid appsecret"})
            self.token_calls += 1
            return self._plain({"access_token": f"token-{self.token_calls}", "expires_in": 7200})
        if path == "/cgi-bin/ticket/getticket":
            if not one.get("access_token", "").startswith("token-"):
                return self._plain({"errcode": 40001, "errmsg": "invalid credential"})
            return self._plain(
                {"errcode": 0, "errmsg": "ok", "ticket": "jsapi-ticket-for-tests", "expires_in": 7200}
            )
        return self._plain({"errcode": 404, "errmsg": path})

    # ------------------------------------------------------------ the mini-program's 小程序码

    SCENE_RE = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$")
    PAGE_RE = re.compile(r"^[a-z0-9_-]+(/[a-z0-9_-]+)*$")

    def _wxacode(self, method, query, body):
        """POST /wxa/getwxacodeunlimit?access_token=…, body {scene, page, check_path, env_version, width}:
        the 小程序码 as a PNG (here: a green QR code of "page?scene=scene", `wxacode_png`), or a JSON
        error as WeChat answers them."""
        self.wxacode_calls += 1
        token = (query.get("access_token") or [""])[0]
        match = re.fullmatch(r"mptoken-(\d+)", token)
        if method != "POST":
            return self._plain({"errcode": 43002, "errmsg": "require POST method"})
        if token in self.revoked_tokens or match is None or int(match.group(1)) > self.mp_token_calls:
            return self._plain({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self._plain({"errcode": 47001, "errmsg": "data format error"})
        scene, page = data.get("scene"), data.get("page")
        if not isinstance(scene, str) or not self.SCENE_RE.match(scene):
            return self._plain(
                {"errcode": 40169, "errmsg": "invalid length for scene, or the data is not json string"}
            )
        if not isinstance(page, str) or not self.PAGE_RE.match(page):
            return self._plain({"errcode": 41030, "errmsg": "invalid page rule"})
        if data.get("env_version", "release") not in ("release", "trial", "develop"):
            return self._plain({"errcode": 40097, "errmsg": "invalid args"})
        if not isinstance(data.get("width", 430), int) or not 280 <= data.get("width", 430) <= 1280:
            return self._plain({"errcode": 40097, "errmsg": "invalid args"})
        if self.failing_wxacodes > 0:
            self.failing_wxacodes -= 1
            return self._plain({"errcode": -1, "errmsg": "system error"})
        self.wxacodes.append((page, scene))
        if self.wxacode_answer is not None:  # a broken or outsized "image" with a 200
            return 200, {"Content-Type": "image/png"}, self.wxacode_answer
        return 200, {"Content-Type": "image/png"}, self.wxacode_png(page, scene)

    @staticmethod
    def wxacode_png(page: str, scene: str) -> bytes:
        """The fake's 小程序码 for a page and scene: always the same bytes for the same pair, green so it is
        told apart from the shop's black QR codes on a poster."""
        import io

        import qrcode

        code = qrcode.QRCode(border=2, box_size=10)
        code.add_data(f"{page}?scene={scene}")
        code.make(fit=True)
        out = io.BytesIO()
        code.make_image(fill_color=(7, 193, 96), back_color="white").get_image().convert("RGB").save(
            out, "PNG"
        )
        return out.getvalue()

    TEMPLATE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{10,64}$")
    DATA_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
    AMOUNT_RE = re.compile(r"^[¥￥$]\d{1,10}(\.\d{1,2})?元?$")

    def _template_send(self, method, query, headers, body):
        """POST /cgi-bin/message/template/send?access_token=…: a current token, and a JSON body of touser,
        template_id, optional url (http/https) and data {keyword: {"value": text, "color"?}} (the 公众号
        API's format); anything else is refused with WeChat's error codes."""
        token = (query.get("access_token") or [""])[0]
        answer = self._template_answer(method, token, headers, body)
        if answer["errcode"]:
            self.template_refusals.append(answer["errcode"])
        return self._plain(answer)

    def _template_answer(self, method, token, headers, body):
        if method != "POST":
            return {"errcode": 43002, "errmsg": "require POST method"}
        if token in self.revoked_tokens:
            return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        if not re.fullmatch(r"token-\d+", token) or int(token[6:]) > self.token_calls:
            return {"errcode": 40001, "errmsg": "invalid credential"}
        if not headers.get("Content-Type", "").startswith("application/json"):
            return {"errcode": 47001, "errmsg": "data format error (content type)"}
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return {"errcode": 47001, "errmsg": "data format error"}
        problem = self._template_body_problem(data)
        if problem:
            return {"errcode": 47001, "errmsg": f"data format error: {problem}"}
        if self.failing_template_sends > 0:
            self.failing_template_sends -= 1
            return {"errcode": -1, "errmsg": "system error"}
        if data["touser"] in self.unknown_openids:
            return {"errcode": 40003, "errmsg": "invalid openid"}
        if data["touser"] in self.unsubscribed:
            return {"errcode": 43004, "errmsg": "require subscribe"}
        self.template_messages.append(data)
        if self.slow_template_answers > 0:
            self.slow_template_answers -= 1
            time.sleep(self.slow_answer_seconds)
        return {"errcode": 0, "errmsg": "ok", "msgid": 200228332 + len(self.template_messages)}

    def _template_body_problem(self, data) -> str | None:
        if not isinstance(data, dict):
            return "not an object"
        extra = set(data) - {"touser", "template_id", "url", "miniprogram", "data", "client_msg_id"}
        if extra:
            return f"unknown fields {sorted(extra)}"
        if not isinstance(data.get("touser"), str) or not data["touser"]:
            return "touser"
        if not isinstance(data.get("template_id"), str) or not self.TEMPLATE_ID_RE.match(data["template_id"]):
            return "template_id"
        if "url" in data and not (
            isinstance(data["url"], str) and data["url"].startswith(("http://", "https://"))
        ):
            return "url"
        fields = data.get("data")
        if not isinstance(fields, dict) or not fields:
            return "data"
        for key, field in fields.items():
            if (
                not self.DATA_KEY_RE.match(key)
                or not isinstance(field, dict)
                or set(field) - {"value", "color"}
            ):
                return f"data.{key}"
            if not isinstance(field.get("value"), str):
                return f"data.{key}.value"
            if key.startswith("thing") and len(field["value"]) > 20:
                return f"data.{key}.value longer than 20"
            if re.fullmatch(r"amount\d+", key) and not self.AMOUNT_RE.match(field["value"]):
                return f"data.{key}.value not an amount"  # one currency sign, digits only: no "1,280"
        return None

    def _authorize(self, query):
        """open.weixin.qq.com's OAuth page inside WeChat: snsapi_base shows nothing and sends the browser
        straight back to redirect_uri with a one-time code (for `user_openid`) and the state."""
        one = {key: values[0] for key, values in query.items()}
        redirect_uri = one.get("redirect_uri", "")
        problem = None
        if one.get("appid") != APPID:
            problem = "appid 参数错误"
        elif one.get("response_type") != "code" or one.get("scope") not in ("snsapi_base", "snsapi_userinfo"):
            problem = "scope 参数错误或没有 scope 权限"
        elif not redirect_uri.startswith(("http://", "https://")):
            problem = "redirect_uri 参数错误"
        elif self.oauth_domain and urlsplit(redirect_uri).hostname != self.oauth_domain:
            problem = "redirect_uri 域名与后台配置不一致，错误码 10003"
        if problem:
            page = f"<!doctype html><meta charset=utf-8><title>微信授权（测试）</title><p id=oauth-error>{problem}</p>"
            return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode()
        code = self.oauth_code_for(self.user_openid)
        back = urlencode({"code": code, "state": one.get("state", "")})
        return 302, {"Location": f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{back}"}, b""

    @staticmethod
    def _plain(payload):
        return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()

    def _phone_number(self, method, query, body):
        """POST /wxa/business/getuserphonenumber?access_token=… {"code": …}: the mini-program's token (a
        current one), and a getPhoneNumber code that works once."""
        token = (query.get("access_token") or [""])[0]
        if method != "POST":
            return self._plain({"errcode": 43002, "errmsg": "require POST method"})
        if (
            token in self.mp_revoked_tokens
            or not re.fullmatch(r"mptoken-\d+", token)
            or int(token[8:]) > self.mp_token_calls
        ):
            return self._plain({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
        try:
            code = json.loads(body.decode("utf-8")).get("code")
        except (UnicodeDecodeError, ValueError, AttributeError):
            return self._plain({"errcode": 47001, "errmsg": "data format error"})
        if code not in self.mp_phone_codes:
            return self._plain({"errcode": 40029, "errmsg": "invalid code"})
        mobile, country = self.mp_phone_codes.pop(code)
        if self.mp_phone_answer is not None:  # an odd answer (a broken phone_info)
            return self._plain(self.mp_phone_answer)
        return self._plain(
            {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": mobile if country == "86" else f"+{country}{mobile}",
                    "purePhoneNumber": mobile,
                    "countryCode": country,
                    "watermark": {"timestamp": int(time.time()), "appid": MP_APPID},
                },
            }
        )

    def mp_phone_code_for(self, mobile: str, country_code: str = "86") -> str:
        """What the getPhoneNumber button gives the mini-program of a WeChat user whose number is `mobile`."""
        code = secrets.token_hex(16)
        self.mp_phone_codes[code] = (mobile, country_code)
        return code

    def mp_code_for(self, openid: str, unionid: str | None = None) -> str:
        """What wx.login gives the mini-program of the WeChat user `openid`: a code valid once."""
        code = secrets.token_hex(16)
        self.mp_codes[code] = (openid, unionid)
        return code

    def oauth_code_for(self, openid: str) -> str:
        code = secrets.token_hex(8)
        self.openids[code] = openid
        return code

    # ------------------------------------------------------------ paying and notifying

    def transaction(self, order: dict) -> dict:
        result = {
            "appid": order.get("appid", APPID),
            "mchid": MCHID,
            "out_trade_no": order["out_trade_no"],
            "trade_state": order["trade_state"],
            "trade_state_desc": order["trade_state"],
            "amount": {
                "total": order["amount"],
                "payer_total": order["amount"],
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        }
        if order["transaction_id"]:
            result.update(
                transaction_id=order["transaction_id"],
                trade_type="JSAPI",
                bank_type="OTHERS",
                success_time="2026-11-22T10:00:00+08:00",
                payer={"openid": order.get("openid") or "o"},
            )
        return result

    def pay(self, out_trade_no: str) -> dict:
        """The shopper pays: the gateway's record changes (the notify is sent separately)."""
        order = self.orders[out_trade_no]
        order["trade_state"] = "SUCCESS"
        order["transaction_id"] = order["transaction_id"] or "4200" + secrets.token_hex(12)
        return order

    def notify(
        self,
        resource: dict,
        *,
        event_type="TRANSACTION.SUCCESS",
        original_type="transaction",
        key: str = APIV3_KEY,
        timestamp: int | None = None,
        signature: str | None = None,
        certificate_serial: str | None = None,
    ) -> tuple[dict, bytes]:
        """(headers, body) of a notify as WeChat sends it."""
        nonce = secrets.token_hex(6)  # 12 bytes
        associated = original_type
        ciphertext = AESGCM(key.encode()).encrypt(
            nonce.encode(), json.dumps(resource).encode(), associated.encode()
        )
        body = json.dumps(
            {
                "id": secrets.token_hex(16),
                "create_time": "2026-11-22T10:00:00+08:00",
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": "支付成功",
                "resource": {
                    "original_type": original_type,
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": base64.b64encode(ciphertext).decode(),
                    "associated_data": associated,
                    "nonce": nonce,
                },
            }
        )
        headers = self.signature_headers(
            body, timestamp=timestamp, signature=signature, certificate_serial=certificate_serial
        )
        headers["Content-Type"] = "application/json"
        return headers, body.encode()

    def paid_notify(self, out_trade_no: str, **kwargs) -> tuple[dict, bytes]:
        return self.notify(self.transaction(self.pay(out_trade_no)), **kwargs)

    def refund_notify(self, out_refund_no: str, status: str = "SUCCESS") -> tuple[dict, bytes]:
        refund = self.refunds[out_refund_no]
        refund["status"] = status
        resource = {
            "mchid": MCHID,
            "out_trade_no": refund["out_trade_no"],
            "out_refund_no": out_refund_no,
            "refund_id": refund["refund_id"],
            "refund_status": status,
            "amount": {"refund": refund["amount"], "total": self.orders[refund["out_trade_no"]]["amount"]},
        }
        return self.notify(resource, event_type=f"REFUND.{status}", original_type="refund")

    def deliver(self, url: str, headers: dict, body: bytes) -> requests.Response:
        """Send a notify over HTTP (to a live server), as WeChat would."""
        return requests.post(url, data=body, headers=headers, timeout=10)
