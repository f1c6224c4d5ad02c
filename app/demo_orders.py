"""The demo history's orders: who bought what, and when each was paid, shipped, received, refunded,
voided or cancelled — written in moments of a Clock relative to the time of seeding, and played through
the services by app.demo_history."""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from app.timeutil import SHOP_TZ

# ---------------------------------------------------------------- when things happen


class Clock:
    """Moments relative to the time of seeding: `day(3, "20:15")` is 20:15 shop time three days ago."""

    def __init__(self, now: datetime):
        self.now = now
        self.today = now.astimezone(SHOP_TZ).date()

    def day(self, days_ago: int, hhmm: str) -> datetime:
        hour, minute = (int(part) for part in hhmm.split(":"))
        local = datetime.combine(self.today - timedelta(days=days_ago), time(hour, minute), SHOP_TZ)
        return local.astimezone(self.now.tzinfo)

    def ago(self, minutes: int) -> datetime:
        return self.now - timedelta(minutes=minutes)


# ---------------------------------------------------------------- the orders


@dataclass
class RefundSpec:
    requested: datetime
    items: dict[int, int]  # line index -> units
    reason: str
    decided: datetime | None = None  # None: still open
    approve: bool = True
    restock: bool = False
    reject_reason: str = ""


@dataclass
class OrderSpec:
    key: str
    buyer: str
    placed: datetime
    items: list[tuple[str, tuple[str, ...], int]]  # (product title, SKU option values, quantity)
    pay: str | None = "sandbox"  # sandbox / manual / None (never paid)
    paid: datetime | None = None  # sandbox: the notify; manual: the shopper taps "I have paid"
    opened_payment: datetime | None = None  # unpaid: the sandbox cashier was opened, nothing paid
    confirmed: datetime | None = None  # manual: the merchant sees the money arrive
    shipped: datetime | None = None
    carrier: str = "顺丰速运"
    completed: datetime | None = None
    auto_completed: bool = False  # received automatically after the shipping days
    refunds: list[RefundSpec] = field(default_factory=list)
    void: tuple[datetime, str] | None = None
    expired: datetime | None = None  # the unpaid time ran out
    buyer_cancelled: datetime | None = None
    late_payment: datetime | None = None  # the sandbox money arrives after the order was cancelled
    note: str = ""


def order_specs(c: Clock) -> list[OrderSpec]:
    d, ago = c.day, c.ago
    return [
        # Completed long ago: commission released (小林 ← 阿梅 ← 林姐).
        OrderSpec("o01", "xiaolin", d(29, "20:12"),
                  [("智利车厘子 JJ级", ("2斤装",), 1), ("每日坚果 混合果仁", ("经典款", "15袋"), 1)],
                  paid=d(29, "20:14"), shipped=d(28, "10:30"), completed=d(26, "19:05"),
                  note="送人的，请不要放价格单"),
        # Received automatically ten days after shipping; released (阿杰 ← 小周 ← 阿梅).
        OrderSpec("o02", "ajie", d(27, "12:40"),
                  [("加绒连帽卫衣", ("深灰", "L"), 1), ("速干中性笔 12支装", ("黑色",), 2)],
                  paid=d(27, "12:41"), shipped=d(26, "16:20"), carrier="中通快递",
                  completed=d(16, "16:20"), auto_completed=True),
        # Paid by bank transfer; a refund request the merchant turned down; released (老周 ← 大熊 ← 林姐).
        OrderSpec("o03", "laozhou", d(25, "21:30"), [("云南古树普洱茶饼", (), 2)],
                  pay="manual", paid=d(25, "21:36"), confirmed=d(24, "09:20"),
                  shipped=d(24, "15:00"), carrier="中通快递", completed=d(21, "18:40"),
                  refunds=[RefundSpec(d(22, "10:05"), {0: 1}, "茶饼外包装有折痕", decided=d(22, "14:30"),
                                      approve=False,
                                      reject_reason="经核实茶饼完好，外包装轻微折痕属运输中的正常情况，不影响品质。")]),
        # Released, then one mug refunded after release: the commission is clawed back (晓雯 ← 阿梅).
        OrderSpec("o04", "xiaowen", d(23, "19:02"),
                  [("316不锈钢保温杯", ("月光白", "500ml"), 2), ("北欧简约陶瓷马克杯", ("奶白", "350ml"), 1)],
                  paid=d(23, "19:03"), shipped=d(22, "11:15"), completed=d(19, "20:30"),
                  refunds=[RefundSpec(d(8, "09:40"), {1: 1}, "马克杯杯口有一处小缺口", decided=d(8, "11:10"))]),
        # Released: 林姐's own customer (level 1 at the 金牌 rate).
        OrderSpec("o05", "tangtang", d(21, "09:30"),
                  [("长绒棉加厚毛巾 3条装", ("米白",), 2), ("氨基酸洁面乳", (), 1)],
                  paid=d(21, "09:31"), shipped=d(20, "14:00"), completed=d(18, "10:12")),
        # Refunded in full before shipping, stock put back: the frozen commission is reversed.
        OrderSpec("o06", "tangtang", d(15, "22:10"), [("真无线蓝牙耳机", ("珍珠白",), 1)],
                  paid=d(15, "22:11"),
                  refunds=[RefundSpec(d(15, "22:40"), {0: 1}, "拍错颜色了，想要曜石黑的",
                                      decided=d(14, "09:10"), restock=True)]),
        # Part refunded before release (a reversal), then released on what is left.
        OrderSpec("o07", "ajie", d(13, "13:00"),
                  [("每日坚果 混合果仁", ("经典款", "30袋"), 1), ("冻干草莓脆", ("30g×3袋",), 2)],
                  paid=d(13, "13:02"), shipped=d(12, "10:00"), carrier="韵达快递", completed=d(11, "21:00"),
                  refunds=[RefundSpec(d(10, "08:30"), {1: 1}, "有一袋漏气，草莓脆受潮变软了",
                                      decided=d(9, "10:20"))]),
        # The merchant voided the commission: the distributor ordered for a relative to earn on it.
        OrderSpec("o08", "xiaolin", d(12, "23:40"), [("日式粗陶茶具套装", ("柴烧棕",), 1)],
                  paid=d(12, "23:41"), shipped=d(11, "15:30"), completed=d(8, "12:00"),
                  void=(d(11, "10:05"), "分销员替家人下单赚取佣金，违反推广规则，本单佣金作废")),
        # Shipped to the distributor's own address: held by a fraud flag, frozen until the merchant decides.
        OrderSpec("o09", "aqiang", d(19, "16:20"), [("316不锈钢保温杯", ("曜石黑", "750ml"), 3)],
                  paid=d(19, "16:22"), shipped=d(18, "11:00"), completed=d(15, "09:30")),
        # Completed three days ago: frozen for the rest of the 7 days.
        OrderSpec("o10", "xiaowen", d(6, "20:00"),
                  [("阳光玫瑰青提", ("2串（约2.5斤）",), 1), ("海南贵妃芒", ("5斤装",), 1)],
                  paid=d(6, "20:01"), shipped=d(5, "09:45"), completed=d(3, "18:20")),
        # Completed, then an after-sales request that is still open: release waits for it.
        OrderSpec("o11", "ajie", d(11, "18:00"),
                  [("新疆长绒棉纯色圆领T恤", ("白色", "L"), 2), ("水洗棉棒球帽", ("卡其",), 1)],
                  paid=d(11, "18:02"), shipped=d(10, "10:30"), completed=d(8, "20:00"),
                  refunds=[RefundSpec(d(2, "21:15"), {0: 1}, "T恤洗了一次领口就变形了，申请退一件")]),
        # An open refund request on a paid order that has not left the warehouse.
        OrderSpec("o12", "xiaowen", d(1, "08:50"), [("玻尿酸保湿面霜", ("50g",), 1)],
                  paid=d(1, "08:51"),
                  refunds=[RefundSpec(ago(95), {0: 1}, "买重复了，还没发货的话请帮我取消")]),
        # Shipped, on the way.
        OrderSpec("o13", "ajie", d(4, "12:20"), [("《活着》余华", (), 1), ("A5 点阵手账本", ("墨绿",), 2)],
                  paid=d(4, "12:21"), shipped=d(3, "17:40"), carrier="韵达快递"),
        OrderSpec("o14", "xiaolin", d(3, "21:00"),
                  [("丹东99红颜草莓", ("2斤礼盒装",), 1), ("赣南脐橙", ("10斤装",), 1)],
                  paid=d(3, "21:01"), shipped=d(2, "09:05"), note="家里白天有人，可以直接放门口"),
        # Paid, waiting to be shipped.
        OrderSpec("o15", "laozhou", d(1, "22:15"), [("明前西湖龙井", ("100g罐装",), 1)], paid=d(1, "22:16")),
        OrderSpec("o16", "tangtang", ago(300), [("大豆蜡香薰蜡烛", ("无花果",), 2), ("竹编收纳筐", ("中号",), 1)],
                  pay="manual", paid=ago(296), confirmed=ago(180)),
        OrderSpec("o17", "xiaolin", ago(80), [("烟台红富士苹果", ("10斤装（约28个）",), 1)], paid=ago(79)),
        # The shopper says the transfer is made; the merchant has not checked yet.
        OrderSpec("o18", "laozhou", ago(130), [("临安手剥山核桃", ("500g",), 2)], pay="manual", paid=ago(121)),
        # Unpaid: one about to expire, one just placed (the sandbox page opened, not paid).
        OrderSpec("o19", "ajie", ago(24), [("精品挂耳咖啡", ("曼特宁", "20片"), 1)], pay=None),
        OrderSpec("o20", "xiaowen", ago(4), [("日式粗陶茶具套装", ("月白",), 1)], pay=None, opened_payment=ago(3)),
        # Cancelled: not paid in time, and by the shopper.
        OrderSpec("o21", "laozhou", d(7, "10:00"), [("手工牛轧糖", ("原味",), 3)], pay=None, expired=d(7, "10:31")),
        OrderSpec("o22", "yunduo", d(5, "15:00"), [("帆布托特包", ("米白",), 1)], pay=None,
                  buyer_cancelled=d(5, "15:06")),
        # The sandbox money arrived after the order had expired: kept and flagged for refund.
        OrderSpec("o23", "xiaowen", d(2, "13:00"), [("玻尿酸保湿面霜", ("50g×2瓶",), 1)], pay=None,
                  opened_payment=d(2, "13:01"), expired=d(2, "13:32"), late_payment=d(2, "13:35")),
        # A shopper nobody referred: no commission, and the explanation says why.
        OrderSpec("o24", "yunduo", d(17, "11:11"), [("《小王子》精装插图版", (), 1), ("速干中性笔 12支装", ("蓝色",), 1)],
                  paid=d(17, "11:12"), shipped=d(16, "14:30"), carrier="京东快递", completed=d(14, "19:00")),
    ]  # fmt: skip


TRACKING_FORMATS = {
    "顺丰速运": ("SF", 13),
    "中通快递": ("78", 12),
    "韵达快递": ("43", 13),
    "京东快递": ("JDVA", 11),
}
