"""快递100's 实时查询 API (poll/query.do): a form POST of customer, param (JSON {com, num, phone, resultv2})
and sign = upper-case MD5 of param + key + customer. It answers {message, state, status, ischeck, com, nu,
data: [{time, ftime, context, …}]} (newest first), or {result: false, returnCode, message} on an error.
The address can be pointed elsewhere with KUAIDI100_URL (tests use a local fake)."""

import hashlib
import json
import time
from dataclasses import dataclass

from flask import current_app

DEFAULT_URL = "https://poll.kuaidi100.com/poll/query.do"
CONNECT_TIMEOUT = 1.0  # seconds to connect …
READ_TIMEOUT = 2.0  # … and to wait for each piece of the answer; `timeout` bounds the whole
MAX_BODY = 2_000_000
NETWORK_CODES = ("timeout", "network")  # no answer at all, as opposed to 快递100 refusing


class Kuaidi100Error(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class Trace:
    state: str  # 0 在途, 1 揽收, 2 疑难, 3 签收, 4 退签, 5 派件, 6 退回, 7 转投, 8 清关, 14 拒签 …
    signed: bool  # ischeck == 1
    data: list[dict]  # [{"time", "context", "status"}], newest first


def sign(param: str, key: str, customer: str) -> str:
    return hashlib.md5((param + key + customer).encode()).hexdigest().upper()  # noqa: S324 - 快递100's rule


def _read_body(response, deadline: float) -> bytes:
    """The answer's body, read in chunks against the overall deadline: a read timeout bounds each wait only,
    so a server trickling a byte a second would otherwise hold the caller as long as it likes."""
    import requests

    body = bytearray()
    while chunk := response.raw.read1(8192, decode_content=True):  # what has come, not a full 8 KB
        body += chunk
        if time.monotonic() > deadline:
            raise requests.Timeout("the answer took longer than the deadline")
        if len(body) > MAX_BODY:
            raise ValueError("answer too large")
    return bytes(body)


def query(customer: str, key: str, com: str, num: str, phone: str = "", *, timeout: float) -> Trace:
    """Ask 快递100 where the parcel is, within `timeout` seconds in all (connecting, waiting and reading).
    Raises Kuaidi100Error for its refusals and for anything that is not an answer (code "timeout",
    "network" — also for a body that is not JSON)."""
    import requests  # loaded on the first query, not in every worker at start
    import urllib3

    param = {"com": com, "num": num, "resultv2": "1"}
    if phone:
        param["phone"] = phone
    param_json = json.dumps(param, ensure_ascii=False, separators=(",", ":"))
    url = current_app.config.get("KUAIDI100_URL") or DEFAULT_URL
    deadline = time.monotonic() + timeout
    try:
        with requests.post(
            url,
            data={"customer": customer, "sign": sign(param_json, key, customer), "param": param_json},
            timeout=(min(CONNECT_TIMEOUT, timeout), min(READ_TIMEOUT, timeout)),
            stream=True,
        ) as response:
            body = json.loads(_read_body(response, deadline))
    except (requests.Timeout, urllib3.exceptions.TimeoutError):
        raise Kuaidi100Error("timeout", "no answer in time") from None
    except (requests.RequestException, urllib3.exceptions.HTTPError, ValueError) as error:
        raise Kuaidi100Error("network", error.__class__.__name__) from None
    if not isinstance(body, dict):
        raise Kuaidi100Error("format", "not an object")
    if body.get("result") is False or "returnCode" in body or str(body.get("status")) != "200":
        raise Kuaidi100Error(
            str(body.get("returnCode") or body.get("status") or "?"), str(body.get("message") or "")
        )
    data = [
        {
            "time": str(item.get("ftime") or item.get("time") or "")[:19],
            "context": str(item.get("context") or "")[:500],
            "status": str(item.get("status") or "")[:16],
        }
        for item in body.get("data") or []
        if isinstance(item, dict)
    ]
    data.sort(key=lambda item: item["time"], reverse=True)
    return Trace(
        state=str(body.get("state") or "0")[:4], signed=str(body.get("ischeck")) == "1", data=data[:200]
    )
