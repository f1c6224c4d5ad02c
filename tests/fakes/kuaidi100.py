"""A fake 快递100 实时查询 server (POST /poll/query.do): it checks the request the way 快递100 does — a form
post of customer, sign and param (JSON with com and num; phone for 顺丰), sign = upper-case MD5 of
param + key + customer — and answers in its format: {message, nu, ischeck, condition, com, status, state,
data: [{time, ftime, context, location, …}]} newest first, or {result: false, returnCode, message}."""

import hashlib
import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import FakeServer

CUSTOMER = "D3A4F1B2C5E6A7B8C9D0E1F2A3B4C5D6"
KEY = "kPqrStUv1234"
PHONE_REQUIRED = {"shunfeng", "shunfengkuaiyun", "zhongtong"}


def _error(code: str, message: str) -> tuple[int, dict, bytes]:
    body = {"result": False, "returnCode": code, "message": message}
    return (
        200,
        {"Content-Type": "application/json;charset=UTF-8"},
        json.dumps(body, ensure_ascii=False).encode(),
    )


class FakeKuaidi100:
    def __init__(self):
        # (com, num) -> {"state": "0", "ischeck": "0", "data": [(time, context, status), …] oldest first}
        self.parcels: dict[tuple[str, str], dict] = {}
        self.phones: dict[tuple[str, str], str] = {}  # the recipient's mobile a 顺丰 number needs
        self.queries: list[dict] = []  # every request that reached the query (params as sent)
        self.refused: list[str] = []  # returnCode of each refusal
        self.delay = 0.0
        self._lock = threading.Lock()
        self.busy = 0  # requests being answered (a slow answer outlives the request that gave up on it)
        self.server = FakeServer(self.handle)

    @property
    def url(self) -> str:
        return self.server.url + "/poll/query.do"

    def stop(self):
        self.server.stop()

    def reset(self):
        deadline = time.monotonic() + 10
        while self.busy and time.monotonic() < deadline:
            time.sleep(0.05)
        self.parcels.clear()
        self.phones.clear()
        self.queries.clear()
        self.refused.clear()
        self.delay = 0.0

    def parcel(self, com: str, num: str, *, state: str, ischeck: str = "0", lines=(), phone: str = ""):
        """What 快递100 knows of a number: lines are (Beijing time "YYYY-MM-DD HH:MM:SS", context, status)."""
        self.parcels[(com, num)] = {"state": state, "ischeck": ischeck, "data": list(lines)}
        if phone:
            self.phones[(com, num)] = phone

    # ------------------------------------------------------------ HTTP

    def handle(self, method, raw_path, headers, body):
        with self._lock:
            self.busy += 1
        try:
            if self.delay:
                time.sleep(self.delay)
            return self._answer(method, raw_path, headers, body)
        finally:
            with self._lock:
                self.busy -= 1

    def _answer(self, method, raw_path, headers, body):
        if urlsplit(raw_path).path != "/poll/query.do":
            return 404, {}, b"not found"
        if method != "POST" or not (headers.get("Content-Type") or "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return self._refuse("400", "提交数据不完整")
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        customer, sign, param_text = form.get("customer", ""), form.get("sign", ""), form.get("param", "")
        if not customer or not sign or not param_text:
            return self._refuse("400", "提交数据不完整")
        if customer != CUSTOMER:
            return self._refuse("400", "找不到对应公司")
        expected = hashlib.md5((param_text + KEY + customer).encode()).hexdigest().upper()  # noqa: S324
        if sign != expected:
            return self._refuse("503", "验证签名失败")
        try:
            param = json.loads(param_text)
        except ValueError:
            return self._refuse("400", "提交数据不完整")
        com, num = param.get("com", ""), param.get("num", "")
        if not com or not num or com != com.lower():
            return self._refuse("400", "提交数据不完整")
        self.queries.append(param)
        expected_phone = self.phones.get((com, num)) if com in PHONE_REQUIRED else None
        if expected_phone and param.get("phone") != expected_phone:
            return self._refuse("408", "快递公司参数异常：验证码错误")
        parcel = self.parcels.get((com, num))
        if parcel is None:
            return self._refuse("500", "查询无结果，请隔段时间再查")
        data = [
            {
                "time": when,
                "ftime": when,
                "context": context,
                "location": "",
                **({"status": status, "areaCode": None, "areaName": None} if param.get("resultv2") else {}),
            }
            for when, context, status in reversed(parcel["data"])  # newest first, as 快递100 sends by default
        ]
        answer = {
            "message": "ok",
            "nu": num,
            "ischeck": parcel["ischeck"],
            "condition": "F00",
            "com": com,
            "status": "200",
            "state": parcel["state"],
            "data": data,
        }
        return (
            200,
            {"Content-Type": "application/json;charset=UTF-8"},
            json.dumps(answer, ensure_ascii=False).encode(),
        )

    def _refuse(self, code: str, message: str):
        self.refused.append(code)
        return _error(code, message)
