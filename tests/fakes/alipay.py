"""A fake Alipay open-platform gateway (gateway.do): it verifies the RSA2 signature of every request with
the app's public key, answers with responses signed by the Alipay key, shows a cashier page for
alipay.trade.wap.pay, and builds async notifies signed the way Alipay signs them."""

import base64
import html
import json
import secrets
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.fakes.keys import pair
from tests.fakes.server import FakeServer

APP_ID = "2021000000000001"


def _sign(private_key, message: str) -> str:
    return base64.b64encode(private_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def _verify(public_key, message: str, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature), message.encode(), padding.PKCS1v15(), hashes.SHA256())
        return True
    except Exception:  # noqa: BLE001 - any failure is "does not verify"
        return False


def _fen_to_yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


class FakeAlipay:
    def __init__(self):
        self.app = pair("alipay-app")
        self.alipay = pair("alipay-platform")
        self.trades: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.rejected: list[str] = []
        # hold_notifies: the cashier takes the money but its notify gets lost (kept in `held` instead).
        self.hold_notifies = False
        self.held: list[tuple[str, dict]] = []
        self.server = FakeServer(self.handle)

    @property
    def gateway(self) -> str:
        return self.server.url + "/gateway.do"

    def stop(self):
        self.server.stop()

    def settings(self) -> dict:
        return {
            "alipay_app_id": APP_ID,
            "alipay_public_key": self.alipay.public_body,
            "private_key": self.app.private_pem,
        }

    # ------------------------------------------------------------ HTTP

    def handle(self, method, raw_path, headers, body):
        parts = urlsplit(raw_path)
        if parts.path == "/cashier/pay" and method == "POST":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            return self._cashier_pay(form["out_trade_no"])
        if parts.path != "/gateway.do":
            return 404, {}, b"not found"
        params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        signature = params.pop("sign", "")
        message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        if params.get("app_id") != APP_ID or not _verify(self.app.public, message, signature):
            self.rejected.append(params.get("method", "?"))
            return self._response(
                "error_response",
                {
                    "code": "40002",
                    "msg": "Invalid Arguments",
                    "sub_code": "isv.invalid-signature",
                    "sub_msg": "验签出错",
                },
            )
        biz = json.loads(params.get("biz_content") or "{}")
        method_name = params.get("method")
        if method_name == "alipay.trade.wap.pay":
            return self._cashier(params, biz)
        if method_name == "alipay.trade.query":
            trade = self.trades.get(biz.get("out_trade_no"))
            if trade is None:
                return self._response(
                    "alipay_trade_query_response",
                    {
                        "code": "40004",
                        "msg": "Business Failed",
                        "sub_code": "ACQ.TRADE_NOT_EXIST",
                        "sub_msg": "交易不存在",
                    },
                )
            return self._response(
                "alipay_trade_query_response",
                {"code": "10000", "msg": "Success", **self._trade_fields(trade)},
            )
        if method_name == "alipay.trade.close":
            trade = self.trades.get(biz.get("out_trade_no"))
            if trade is None:
                return self._response(
                    "alipay_trade_close_response",
                    {
                        "code": "40004",
                        "msg": "Business Failed",
                        "sub_code": "ACQ.TRADE_NOT_EXIST",
                        "sub_msg": "交易不存在",
                    },
                )
            if trade["trade_status"] == "WAIT_BUYER_PAY":
                trade["trade_status"] = "TRADE_CLOSED"
            return self._response(
                "alipay_trade_close_response",
                {"code": "10000", "msg": "Success", "out_trade_no": trade["out_trade_no"]},
            )
        if method_name == "alipay.trade.refund":
            return self._refund(biz)
        return self._response("error_response", {"code": "40004", "msg": "unknown method"})

    def _response(self, key: str, inner: dict):
        inner_json = json.dumps(inner, ensure_ascii=False, separators=(",", ":"))
        raw = f'{{"{key}":{inner_json},"sign":"{_sign(self.alipay.private, inner_json)}"}}'
        return 200, {"Content-Type": "application/json;charset=utf-8"}, raw.encode()

    def _cashier(self, params, biz):
        no = biz["out_trade_no"]
        trade = self.trades.setdefault(
            no,
            {
                "out_trade_no": no,
                "total_amount": biz["total_amount"],
                "trade_status": "WAIT_BUYER_PAY",
                "trade_no": None,
            },
        )
        trade.update(notify_url=params.get("notify_url"), return_url=params.get("return_url"))
        page = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>支付宝收银台（测试）</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head><body>
<h1>支付宝（测试网关）</h1><p>{html.escape(biz.get("subject", ""))}</p><p id="amount">¥{html.escape(biz["total_amount"])}</p>
<form method="post" action="/cashier/pay"><input type="hidden" name="out_trade_no" value="{html.escape(no)}">
<button id="confirm-pay" type="submit">确认付款</button></form></body></html>"""
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode()

    def _cashier_pay(self, out_trade_no):
        trade = self.pay(out_trade_no)
        notify = (trade["notify_url"], self.notify_form(out_trade_no))
        if self.hold_notifies:
            self.held.append(notify)
        else:
            self.deliver(*notify)
        return 302, {"Location": self.return_location(trade)}, b""

    def return_location(self, trade) -> str:
        """return_url with the signed parameters Alipay adds when it sends the shopper back after paying
        (method alipay.trade.wap.pay.return). Only a hint: the shop waits for the notify."""
        fields = {
            "charset": "utf-8",
            "out_trade_no": trade["out_trade_no"],
            "method": "alipay.trade.wap.pay.return",
            "total_amount": trade["total_amount"],
            "trade_no": trade["trade_no"] or "",
            "auth_app_id": APP_ID,
            "version": "1.0",
            "app_id": APP_ID,
            "seller_id": "2088000000000001",
            "timestamp": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        }
        message = "&".join(f"{k}={v}" for k, v in sorted(fields.items()))
        fields.update(sign=_sign(self.alipay.private, message), sign_type="RSA2")
        url = trade["return_url"]
        return f"{url}{'&' if '?' in url else '?'}{urlencode(fields)}"

    def deliver_held(self) -> list[requests.Response]:
        """The lost notifies arrive after all (Alipay retries for about a day)."""
        held, self.held = self.held, []
        return [self.deliver(url, form) for url, form in held]

    def _refund(self, biz):
        trade = self.trades.get(biz.get("out_trade_no"))
        if trade is None or trade["trade_status"] not in ("TRADE_SUCCESS", "TRADE_CLOSED"):
            return self._response(
                "alipay_trade_refund_response",
                {
                    "code": "40004",
                    "msg": "Business Failed",
                    "sub_code": "ACQ.TRADE_NOT_EXIST",
                    "sub_msg": "交易不存在",
                },
            )
        request_no = biz.get("out_request_no") or biz["out_trade_no"]
        if request_no not in self.refunds:
            already = sum(
                r["fen"] for r in self.refunds.values() if r["out_trade_no"] == trade["out_trade_no"]
            )
            fen = round(float(biz["refund_amount"]) * 100)  # the fake's own bookkeeping only
            if already + fen > round(float(trade["total_amount"]) * 100):
                return self._response(
                    "alipay_trade_refund_response",
                    {
                        "code": "40004",
                        "msg": "Business Failed",
                        "sub_code": "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                        "sub_msg": "退款金额超限",
                    },
                )
            self.refunds[request_no] = {"out_trade_no": trade["out_trade_no"], "fen": fen}
        total = sum(r["fen"] for r in self.refunds.values() if r["out_trade_no"] == trade["out_trade_no"])
        return self._response(
            "alipay_trade_refund_response",
            {
                "code": "10000",
                "msg": "Success",
                "out_trade_no": trade["out_trade_no"],
                "trade_no": trade["trade_no"],
                "fund_change": "Y",
                "refund_fee": _fen_to_yuan(total),
            },
        )

    @staticmethod
    def _trade_fields(trade):
        return {
            "out_trade_no": trade["out_trade_no"],
            "trade_no": trade["trade_no"] or "",
            "trade_status": trade["trade_status"],
            "total_amount": trade["total_amount"],
        }

    # ------------------------------------------------------------ paying and notifying

    def open_trade(
        self, out_trade_no: str, total_amount: str, notify_url: str = "", return_url: str = ""
    ) -> dict:
        return self.trades.setdefault(
            out_trade_no,
            {
                "out_trade_no": out_trade_no,
                "total_amount": total_amount,
                "trade_status": "WAIT_BUYER_PAY",
                "trade_no": None,
                "notify_url": notify_url,
                "return_url": return_url,
            },
        )

    def pay(self, out_trade_no: str) -> dict:
        trade = self.trades[out_trade_no]
        trade["trade_status"] = "TRADE_SUCCESS"
        trade["trade_no"] = trade["trade_no"] or "2026112222001" + secrets.token_hex(6)
        return trade

    def notify_form(
        self,
        out_trade_no: str,
        *,
        total_amount: str | None = None,
        status: str = "TRADE_SUCCESS",
        app_id: str = APP_ID,
        key=None,
    ) -> dict:
        trade = self.trades[out_trade_no]
        fields = {
            "notify_time": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "app_id": app_id,
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": trade["trade_no"] or "",
            "out_trade_no": out_trade_no,
            "trade_status": status,
            "total_amount": total_amount or trade["total_amount"],
            "receipt_amount": total_amount or trade["total_amount"],
            "gmt_payment": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "subject": "测试商品",
        }
        message = "&".join(f"{k}={v}" for k, v in sorted(fields.items()))
        fields["sign"] = _sign(key or self.alipay.private, message)
        fields["sign_type"] = "RSA2"
        return fields

    @staticmethod
    def deliver(url: str, form: dict) -> requests.Response:
        return requests.post(
            url,
            data=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=10,
        )
