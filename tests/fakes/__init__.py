"""Fake payment gateways: real HTTP servers on 127.0.0.1 holding test keys made here, verifying our
signatures and answering (and notifying) with signed, encrypted messages — the bytes the real ones send."""

from app.payments.settings import PaymentSettingsInput


def merchant_settings(
    wechat, alipay=None, *, h5: bool = True, mini_program: bool = False
) -> PaymentSettingsInput:
    """What the merchant pastes into /admin/settings/payments for these fake gateways (Alipay off when
    there is none; the mini-program's AppID and AppSecret with `mini_program`)."""
    from tests.fakes.wechat import MP_APP_SECRET, MP_APPID

    w = wechat.settings()
    a = alipay.settings() if alipay else {"alipay_app_id": "", "alipay_public_key": "", "private_key": ""}
    return PaymentSettingsInput(
        wechat_enabled=True,
        wechat_h5_enabled=h5,
        wechat_appid=w["wechat_appid"],
        wechat_mchid=w["wechat_mchid"],
        wechat_serial_no=w["wechat_serial_no"],
        wechat_public_key_id=w["wechat_public_key_id"],
        wechat_public_key=w["wechat_public_key"],
        wechat_apiv3_key=w["apiv3_key"],
        wechat_private_key=w["private_key"],
        wechat_app_secret=w["app_secret"],
        mp_appid=MP_APPID if mini_program else "",
        mp_app_secret=MP_APP_SECRET if mini_program else "",
        alipay_enabled=alipay is not None,
        alipay_app_id=a["alipay_app_id"],
        alipay_public_key=a["alipay_public_key"],
        alipay_private_key=a["private_key"],
    )
