"""What the mini-program's sign-in takes and answers (app/api/mini_program.py)."""

from pydantic import BaseModel, Field

from app.api.schemas import TokenOut, UserOut

CODE_MAX = 128  # WeChat's codes are 32 characters or so


class WechatCodeIn(BaseModel):
    code: str = Field(
        min_length=1, max_length=CODE_MAX, description="wx.login's code (valid once, 5 minutes)"
    )


class PhoneCodeIn(BaseModel):
    code: str = Field(
        min_length=1,
        max_length=CODE_MAX,
        description="The code of the getPhoneNumber button's event (e.detail.code; valid once, 5 minutes)",
    )


class MiniLoginOut(TokenOut):
    has_mobile: bool = Field(
        description="The account has a mobile number: when false, ask for it (getPhoneNumber) so that the "
        "account becomes the same as the shopper's on the H5 shop"
    )


class PhoneLinkOut(BaseModel):
    merged: bool = Field(
        description="The number was another account's (the shopper's H5 account): the mini-program now signs "
        "in to that account. Replace the token with `session.token`; the old one no longer works"
    )
    session: MiniLoginOut | None = Field(description="When merged: the token of the account signed in now")
    user: UserOut
