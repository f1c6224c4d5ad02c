"""The back office's payment settings form, in the two parts its page shows: WeChat Pay and Alipay."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, PasswordField, StringField, TextAreaField

from app.forms import Form


class WechatPayFields:
    """WeChat Pay (API v3) and the official account it pays in. The private key, the APIv3 key and the
    AppSecret are secrets: the settings keep them sealed (`…_sealed`), so their fields always start empty."""

    wechat_enabled = BooleanField(_l("Offer WeChat Pay"))
    wechat_h5_enabled = BooleanField(
        _l("Also offer WeChat Pay in other mobile browsers (H5; needs H5 payment activated)")
    )
    wechat_appid = StringField(_l("Official account AppID"))
    wechat_mchid = StringField(_l("Merchant number (商户号)"))
    wechat_serial_no = StringField(_l("Merchant API certificate serial number"))
    wechat_private_key = TextAreaField(_l("Merchant API private key (apiclient_key.pem)"))
    wechat_apiv3_key = PasswordField(_l("APIv3 key"))
    wechat_public_key_id = StringField(_l("WeChat Pay public key ID"))
    wechat_public_key = TextAreaField(_l("WeChat Pay public key (pub_key.pem)"))
    wechat_app_secret = PasswordField(
        _l("Official account AppSecret (needed to pay inside WeChat; also for silent login and share cards)")
    )


class MiniProgramFields:
    """The WeChat mini-program (小程序) that uses the shop's JSON API. Its AppSecret is a secret."""

    mp_appid = StringField(_l("Mini-program AppID"))
    mp_app_secret = PasswordField(
        _l("Mini-program AppSecret (for login, 小程序码 and paying inside the mini-program)")
    )


class AlipayFields:
    """Alipay mobile web payment. The app private key is a secret: its field always starts empty."""

    alipay_enabled = BooleanField(_l("Offer Alipay (outside WeChat)"))
    alipay_app_id = StringField(_l("Alipay APPID"))
    alipay_private_key = TextAreaField(_l("App private key"))
    alipay_public_key = TextAreaField(_l("Alipay public key"))


class PaymentSettingsForm(WechatPayFields, MiniProgramFields, AlipayFields, Form):
    """Field names are PaymentSettingsInput's: the view fills one from the other."""
