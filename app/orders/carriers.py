"""The carriers a shop ships with: 快递100's company code (what its query API and the order store), the name
shown, other names a merchant may type (old orders and bulk-ship files carry a name only), and the carrier's
own tracking page — with the number in it where the page is known to take one (顺丰's waybill-detail page),
else the carrier's home page, where its query box is (the order page shows the number beside the link with a
copy button). Other carriers' query URLs seen around the web disagree with each other, so none is guessed."""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Carrier:
    code: str  # 快递100's company code (kuaidi100.com "快递公司编码"), lower case
    name: object  # a lazy string
    aliases: tuple[str, ...]
    url: str  # "{num}" is replaced by the tracking number when present

    def tracking_url(self, tracking_no: str | None) -> str:
        from urllib.parse import quote

        return self.url.replace("{num}", quote(tracking_no or "", safe=""))


CARRIERS = (
    Carrier(
        "shunfeng",
        _l("SF Express"),
        ("顺丰", "顺丰速运", "顺丰快递", "SF", "SF Express", "sf-express"),
        "https://www.sf-express.com/chn/sc/waybill/waybill-detail/{num}",
    ),
    Carrier("zhongtong", _l("ZTO Express"), ("中通", "中通快递", "ZTO", "ZTO Express"), "https://www.zto.com/"),
    Carrier("yuantong", _l("YTO Express"), ("圆通", "圆通速递", "圆通快递", "YTO", "YTO Express"), "https://www.yto.net.cn/"),
    Carrier("yunda", _l("Yunda Express"), ("韵达", "韵达快递", "韵达速递", "Yunda", "Yunda Express"), "https://www.yundaex.com/"),
    Carrier("shentong", _l("STO Express"), ("申通", "申通快递", "STO", "STO Express"), "https://www.sto.cn/"),
    Carrier(
        "jtexpress", _l("J&T Express"), ("极兔", "极兔速递", "极兔快递", "J&T", "J&T Express"), "https://www.jtexpress.com.cn/"
    ),
    Carrier("ems", _l("EMS"), ("EMS", "邮政EMS", "中国邮政EMS", "EMS快递"), "https://www.ems.com.cn/"),
    Carrier(
        "youzhengguonei",
        _l("China Post parcel"),
        ("邮政", "邮政快递包裹", "邮政包裹", "中国邮政", "China Post", "China Post parcel"),
        "https://www.ems.com.cn/",
    ),
    Carrier("jd", _l("JD Logistics"), ("京东", "京东物流", "京东快递", "JD", "JD Logistics"), "https://www.jdl.com/"),
    # 快递100 has two codes for 德邦: debangkuaidi is 德邦快递 (parcels), debangwuliu is 德邦物流 (freight).
    Carrier(
        "debangkuaidi", _l("Deppon Express"), ("德邦", "德邦快递", "Deppon", "Deppon Express"), "https://www.deppon.com/"
    ),
    Carrier("debangwuliu", _l("Deppon Logistics"), ("德邦物流", "Deppon Logistics"), "https://www.deppon.com/"),
    Carrier("huitongkuaidi", _l("Best Express"), ("百世", "百世快递", "百世汇通", "汇通", "Best Express"), "https://www.800best.com/"),
    Carrier("danniao", _l("Danniao"), ("丹鸟", "菜鸟速递", "Danniao"), "https://www.danniao.com/"),
)  # fmt: skip
BY_CODE = {carrier.code: carrier for carrier in CARRIERS}
CODE_MAX = 24


def _key(text: str) -> str:
    return "".join((text or "").split()).lower()


_BY_NAME = {_key(alias): carrier for carrier in CARRIERS for alias in (carrier.code, *carrier.aliases)}


def carrier_by_code(code: str | None) -> Carrier | None:
    return BY_CODE.get(code or "")


def carrier_for_name(name: str | None) -> Carrier | None:
    """The carrier a typed name stands for ("顺丰", "SF Express", "zhongtong" …), or None. Names in either
    language are known, so orders shipped before codes were kept (with the name only) still find theirs."""
    key = _key(name or "")
    if not key:
        return None
    found = _BY_NAME.get(key)
    if found is None:
        for carrier in CARRIERS:
            if _key(str(carrier.name)) == key:
                return carrier
    return found


def carrier_of(order) -> Carrier | None:
    """The order's carrier: by its stored code, else by its name (orders from before codes)."""
    return carrier_by_code(getattr(order, "carrier_code", None)) or carrier_for_name(order.carrier)


def carrier_label(order) -> str:
    """The carrier's name in the reader's language when known, else the name the merchant typed."""
    carrier = carrier_by_code(getattr(order, "carrier_code", None))
    return str(carrier.name) if carrier else (order.carrier or "")


def carrier_link(order) -> str | None:
    """The carrier's own tracking page for the order (the number in it where the page takes one)."""
    carrier = carrier_of(order)
    return carrier.tracking_url(order.tracking_no) if carrier else None
