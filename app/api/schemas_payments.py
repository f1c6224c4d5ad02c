"""What paying inside the mini-program answers (app/api/payments.py)."""

from typing import Literal

from pydantic import BaseModel, Field

from app.api.schemas import Money


class RequestPaymentParams(BaseModel):
    """Pass as they are to wx.requestPayment (paySign is signed on the server with the merchant key, over
    appId, timeStamp, nonceStr and package)."""

    timeStamp: str  # noqa: N815 - the names wx.requestPayment takes
    nonceStr: str  # noqa: N815
    package: str = Field(description="prepay_id=…")
    signType: Literal["RSA"] = "RSA"  # noqa: N815
    paySign: str  # noqa: N815


class WechatPayOut(BaseModel):
    payment_id: int
    out_trade_no: str
    amount: Money
    app_id: str = Field(description="The mini-program's AppID the payment was opened for")
    request_payment: RequestPaymentParams


class PaymentAttemptOut(BaseModel):
    id: int
    out_trade_no: str
    provider: str
    status: str = Field(description="pending | succeeded | failed | closed")
    amount: Money


class OrderPaymentOut(BaseModel):
    order_id: int
    order_status: str
    state: Literal["paid", "waiting", "awaiting", "cancelled"] = Field(
        description="paid: the shop has the money (notify or gateway query); waiting: not paid yet — poll "
        "again after wx.requestPayment; awaiting: a transfer waits for the shop; cancelled: closed unpaid"
    )
    paid: bool
    total: Money
    payment: PaymentAttemptOut | None = Field(description="The latest payment attempt")
