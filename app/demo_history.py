"""The demo shop's last five weeks: customers' orders in every state (unpaid, awaiting a transfer, paid,
shipped, completed, cancelled, refunded in part or in full, an open after-sales request, money that came
after cancellation) and a small distributor tree with commission in every state (frozen, released,
reversed, clawed back, voided, held by a fraud flag), withdrawals in every state, and grades with
upgrade conditions: one given by hand, the others reached by themselves (the grade log shows both).

Everything is made through the services — place_order, confirm_payment, ship_order, request_refund,
bind, release_due, request_withdrawal … — with the app clock set to the moment each step happened, so
the rules hold, the timelines and the ledger are real, and `flask ledger audit` is clean. The orders, and
the clock their moments are written in, are in app.demo_orders."""

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import orders
from app.accounts import services as accounts
from app.accounts.models import Role, User
from app.catalog.models import Product, Sku
from app.demo_orders import TRACKING_FORMATS, Clock, OrderSpec, order_specs
from app.distribution import dividends, ledger
from app.distribution import grades as grading
from app.distribution import services as dist
from app.distribution.models import DistributionSettings, Distributor, DistributorGrade, Withdrawal
from app.orders.models import Order, Refund
from app.payments import sandbox
from app.payments import services as payments
from app.payments.models import Payment
from app.settings.services import get_shop_settings, update_order_settings
from app.timeutil import set_clock, utcnow

PASSWORD = "demo1234"
OWNER_MOBILE, STAFF_MOBILE = "13800000000", "13800000001"

MANUAL_PAYMENT_TEXT = (
    "户名：杭州禾木生活馆有限公司\n"
    "开户行：招商银行杭州分行营业部\n"
    "账号：5719 0876 5432 101\n"
    "转账时请在附言里写上订单号，到账后我们会在 2 小时内确认（每天 9:00–21:00）。\n"
    "（演示数据，请勿真的转账）"
)


@dataclass(frozen=True)
class AddressSpec:
    recipient: str
    mobile: str
    province: str
    city: str
    district: str
    detail: str


@dataclass(frozen=True)
class Person:
    key: str
    mobile: str
    nickname: str
    registered_days_ago: int
    address: AddressSpec | None = None


# The shoppers and distributors of the demo (the owner, the staff member, 小林 and 阿杰 are made by
# app.demo with the shop; their addresses are added here).
PEOPLE = [
    Person("xiaolin", "13700000001", "小林", 45,
           AddressSpec("林晓", "13957101234", "浙江省", "杭州市", "西湖区", "文三路 90 号东部软件园 3 号楼 502")),
    Person("ajie", "13700000002", "阿杰", 44,
           AddressSpec("陈杰", "13826545678", "广东省", "深圳市", "南山区", "科苑南路 3099 号中国储能大厦 21 楼")),
    Person("xiaowen", "13700000003", "晓雯", 31,
           AddressSpec("王晓雯", "13661829012", "上海市", "上海市", "徐汇区", "漕溪北路 18 号上实大厦 12 楼")),
    Person("laozhou", "13700000004", "老周", 29,
           AddressSpec("周建国", "13980653456", "四川省", "成都市", "武侯区", "天府大道北段 1700 号环球中心 E2 区 1203")),
    Person("tangtang", "13700000005", "糖糖妈", 32,
           AddressSpec("李婷", "13501237890", "北京市", "北京市", "朝阳区", "阜通东大街 6 号院 3 号楼 1806")),
    Person("xiaolu", "13700000006", "小鹿", 6,
           AddressSpec("鹿鸣", "13851902345", "江苏省", "南京市", "鼓楼区", "广州路 188 号苏宁慧谷 2 栋 701")),
    Person("yunduo", "13700000007", "云朵", 20,
           AddressSpec("赵云", "13607154321", "湖北省", "武汉市", "洪山区", "珞喻路 1037 号华中科技大学东 12 舍")),
    Person("aqiang", "13700000008", "阿强", 23),  # ships to 小周's own address: the fraud flag
    Person("linjie", "13600000001", "林姐的好物分享", 42,
           AddressSpec("林芳", "13600000001", "浙江省", "杭州市", "拱墅区", "莫干山路 100 号耀江国际 1 幢 808")),
    Person("amei", "13600000002", "阿梅", 40,
           AddressSpec("梅雪", "13600000002", "浙江省", "宁波市", "鄞州区", "天童南路 588 号宁波文化广场 C 座 1602")),
    Person("xiaozhou", "13600000003", "小周", 33,
           AddressSpec("周宇", "13600000003", "广东省", "广州市", "天河区", "天河北路 233 号中信广场 3501")),
    Person("daxiong", "13600000004", "大熊", 35,
           AddressSpec("熊伟", "13600000004", "湖南省", "长沙市", "岳麓区", "麓谷大道 627 号长沙软件园 A 座 1106")),
]  # fmt: skip
PEOPLE_BY_KEY = {person.key: person for person in PEOPLE}
DISTRIBUTOR_LOGIN = PEOPLE_BY_KEY["linjie"]


# ---------------------------------------------------------------- when things happen


@dataclass(order=True)
class _Step:
    when: datetime
    seq: int
    action: Callable[[], None] = field(compare=False)


class Timeline:
    """Steps collected in any order and run in time order, each with the app clock set to its moment and,
    like a request of its own, reading the database afresh."""

    def __init__(self, session: Session):
        self.session = session
        self.steps: list[_Step] = []

    def at(self, when: datetime, action: Callable[[], None]) -> None:
        self.steps.append(_Step(when, len(self.steps), action))

    def run(self) -> None:
        for step in sorted(self.steps):
            set_clock(step.when)
            step.action()
            self.session.flush()
            self.session.expire_all()


# ---------------------------------------------------------------- seeding


class HistorySkipped(Exception):
    """The demo history does not fit this database (a product it needs is missing or sold out)."""


@dataclass
class Summary:
    orders: int = 0
    distributors: int = 0
    existing_people: set[str] = field(default_factory=set)  # mobiles that had an account already
    mismatches: int = 0  # what `flask ledger audit` found afterwards


def already_there(session: Session) -> bool:
    """The history only goes into a shop without orders and distributors: never among real ones."""
    return (
        session.scalar(select(Order.id).limit(1)) is not None
        or session.scalar(select(Distributor.id).limit(1)) is not None
    )


def add_history(session: Session, now: datetime) -> Summary:
    """Play the demo's last weeks through the services, each step at its own time, then put the clock
    back. The caller commits, or rolls back on HistorySkipped or a service's refusal."""
    story = _Story(session, Clock(now))
    story.cast()
    story.shop_settings()
    story.distribution()
    for spec in order_specs(story.clock):
        story.order(spec)
    story.cart()
    story.withdrawals()
    story.nightly_settle()
    story.dividends()
    try:
        story.timeline.run()
    finally:
        set_clock(None)
    return story.summary


# When each distributor started sharing (days ago): strangers open their links from then on.
DIVIDEND_DAYS = 14  # static dividends were turned on that many days ago
SHARING_SINCE = {"linjie": 42, "amei": 38, "daxiong": 34, "xiaozhou": 31}


class _Story:
    def __init__(self, session: Session, clock: Clock):
        self.session = session
        self.clock = clock
        self.timeline = Timeline(session)
        self.rng = random.Random(20240601)
        self.summary = Summary()
        self.users: dict[str, User] = {}
        self.distributors: dict[str, Distributor] = {}
        self.grades: dict[str, DistributorGrade] = {}
        self.applications: dict[str, dist.DistributorApplication] = {}
        self.real_names: dict[str, str] = {}
        self.orders: dict[str, Order] = {}
        self.payments: dict[str, Payment] = {}
        self.refunds: dict[tuple[str, int], Refund] = {}
        self.withdrawal_rows: dict[str, Withdrawal] = {}
        self.owner = accounts.find_by_mobile(session, OWNER_MOBILE)
        self.staff = accounts.find_by_mobile(session, STAFF_MOBILE) or self.owner
        self.shared_products = list(
            session.scalars(
                select(Product.id).where(Product.is_on_shelf).order_by(Product.sort_weight.desc()).limit(8)
            )
        )

    # -------------------------------------------------------- people and settings

    def cast(self) -> None:
        """Each person registers on their day and saves their address."""
        for person in PEOPLE:
            user = accounts.find_by_mobile(self.session, person.mobile)
            if user is None:
                self.timeline.at(
                    self.clock.day(person.registered_days_ago, "08:30"), partial(self._register, person)
                )
                continue
            self.users[person.key] = user
            self.summary.existing_people.add(person.mobile)
            if person.address:
                moment = self.clock.day(person.registered_days_ago, "08:30")
                self.timeline.at(moment, partial(self._save_address, person.key, person.address))

    def _register(self, person: Person) -> None:
        self.users[person.key] = accounts.register_user(
            self.session,
            mobile=person.mobile,
            password=PASSWORD,
            nickname=person.nickname,
            role=Role.CUSTOMER,
        )
        if person.address:
            self._save_address(person.key, person.address)

    def _save_address(self, key: str, a: AddressSpec) -> None:
        orders.addresses.save_address(
            self.session, self.users[key].id, None, recipient=a.recipient, mobile=a.mobile,
            province=a.province, city=a.city, district=a.district, detail=a.detail, is_default=True,
        )  # fmt: skip

    def shop_settings(self) -> None:
        """Shipping as the announcement says (free from ¥99) and bank transfer — unless the merchant has
        already set up transfers their own way."""
        settings = get_shop_settings(self.session)
        if settings.manual_payment_enabled:
            return

        def take_transfers():
            update_order_settings(
                self.session,
                shipping_flat_fen=settings.shipping_flat_fen or 800,
                free_shipping_over_fen=settings.free_shipping_over_fen or 9900,
                order_expire_minutes=settings.order_expire_minutes or 30,
                autocomplete_days=settings.autocomplete_days or 10,
                manual_payment_text=settings.manual_payment_text or MANUAL_PAYMENT_TEXT,
                manual_payment_enabled=True,
            )

        self.timeline.at(self.clock.day(45, "10:00"), take_transfers)

    # -------------------------------------------------------- distribution

    def distribution(self) -> None:
        """林姐 (金牌) ← 阿梅 (银牌) ← 小周, and 林姐 ← 大熊; shoppers bound below them; applications."""
        d, at = self.clock.day, self.timeline.at
        why_amei = "宝妈，管着 3 个 400 人的小区团购群，平时常分享好物。"
        why_xiaozhou = "做了三年校园代理，朋友圈好友 3000 多人。"
        why_xiaolu = "想把喜欢的零食分享给公司同事，顺便赚点零花钱。"
        why_not_yunduo = "申请理由太简单了，请补充您打算在哪里分享（如社群、朋友圈），我们会尽快重新审核。"
        at(d(42, "10:00"), self._distribution_rules)
        at(d(42, "10:05"), partial(self._merchant_makes, "linjie", "林芳"))
        at(d(42, "10:06"), partial(self._set_grade, "linjie", "金牌", "开店元老，首批客户都是她带来的"))
        at(d(40, "20:10"), partial(self._arrives, "amei", "linjie"))
        at(d(39, "21:30"), partial(self._applies, "amei", "梅雪", why_amei))
        at(d(38, "10:00"), partial(self._approve, "amei"))
        at(d(35, "19:40"), partial(self._arrives, "daxiong", "linjie"))
        at(d(35, "20:20"), partial(self._arrives, "xiaolin", "amei"))
        at(d(34, "11:00"), partial(self._merchant_makes, "daxiong", "熊伟"))
        at(d(33, "22:00"), partial(self._arrives, "xiaozhou", "amei"))
        at(d(32, "08:40"), partial(self._arrives, "tangtang", "linjie"))
        at(d(32, "12:30"), partial(self._applies, "xiaozhou", "周宇", why_xiaozhou))
        at(d(31, "09:50"), partial(self._approve, "xiaozhou"))
        at(d(31, "20:15"), partial(self._arrives, "xiaowen", "amei"))
        at(d(30, "10:00"), partial(self._set_grade, "amei", "银牌", "社区团购群带货稳定，提前升银牌"))
        at(d(29, "13:05"), partial(self._arrives, "laozhou", "daxiong"))
        at(d(28, "18:30"), partial(self._arrives, "ajie", "xiaozhou"))
        at(d(23, "21:40"), partial(self._arrives, "aqiang", "xiaozhou"))
        at(d(23, "21:45"), partial(self._save_address, "aqiang", PEOPLE_BY_KEY["xiaozhou"].address))
        at(d(9, "15:20"), partial(self._applies, "yunduo", "赵云", "赚钱"))
        at(d(8, "10:30"), partial(self._reject, "yunduo", why_not_yunduo))
        at(d(6, "12:10"), partial(self._arrives, "xiaolu", "linjie"))
        at(d(2, "22:30"), partial(self._applies, "xiaolu", "鹿鸣", why_xiaolu))
        for days_ago in range(41, 0, -1):  # strangers opening shared links
            sharers = [key for key, since in SHARING_SINCE.items() if since > days_ago]
            for _ in range(self.rng.choice((0, 1, 2, 2, 3))):
                moment = d(days_ago, f"{self.rng.randint(8, 22):02d}:{self.rng.randint(0, 59):02d}")
                at(moment, partial(self._visit, self.rng.choice(sharers), None))

    def _distribution_rules(self) -> None:
        if self.session.get(DistributionSettings, dist.SETTINGS_ID) is None:  # the merchant's own rules stay
            dist.update_settings(
                self.session,
                dist.SettingsInput(
                    enabled=True, mode="apply", spend_threshold_fen=10000, levels=2, rates_bp=[1000, 500],
                    three_levels_acknowledged=False, self_purchase=False, binding_mode="first",
                    binding_days=365, freeze_days=7, withdrawal_min_fen=1000, withdrawal_fee_bp=0,
                ),
            )  # fmt: skip
        self.grades = {grade.name: grade for grade in self.session.scalars(select(DistributorGrade))}
        # 银牌 comes by itself on either figure; 金牌 needs both, more than anyone has yet.
        ladder = (
            ("银牌", [1200, 600], 1, grading.ConditionsInput("any", min_commission_fen=3000, min_team_spend_fen=20000)),
            ("金牌", [1500, 800], 2, grading.ConditionsInput("all", min_commission_fen=10000, min_team_spend_fen=200000)),
        )  # fmt: skip
        for name, rates, sort, upgrade in ladder:
            if name not in self.grades:
                self.grades[name] = grading.save_grade(
                    self.session, None, name=name, rates_bp=rates, sort=sort, upgrade=upgrade
                )

    def _merchant_makes(self, key: str, real_name: str) -> None:
        self.distributors[key] = dist.make_distributor(
            self.session, self.users[key], source="merchant", real_name=real_name
        )
        self.summary.distributors += 1

    def _set_grade(self, key: str, grade: str, reason: str) -> None:
        grading.change_grade_by_hand(
            self.session, self.distributors[key], self.grades[grade].id, reason=reason, actor=self.owner
        )

    def _arrives(self, key: str, sharer: str) -> None:
        """Opens a distributor's share link and signs in: a visit and a binding, as the web layer does."""
        path = self._visit(sharer, key)
        distributor = self.distributors[sharer]
        dist.bind(self.session, self.users[key], distributor, source=f"{path}?ref={distributor.code}")

    def _visit(self, sharer: str, key: str | None) -> str:
        product_id = self.rng.choice([None, *self.shared_products])
        path = "/" if product_id is None else f"/p/{product_id}"
        ip = ".".join(
            str(part) for part in (self.rng.choice((113, 117, 183, 223)), *self.rng.sample(range(1, 255), 3))
        )
        dist.record_visit(
            self.session, self.distributors[sharer], visitor_key=f"{self.rng.getrandbits(128):032x}",
            user_id=self.users[key].id if key else None, path=path, product_id=product_id, ip=ip,
            in_wechat=self.rng.random() < 0.85, today=utcnow().date(),
        )  # fmt: skip
        return path

    def _applies(self, key: str, real_name: str, reason: str) -> None:
        self.real_names[key] = real_name
        if dist.get_settings(self.session).mode == "apply":
            user = self.users[key]
            self.applications[key] = dist.apply(
                self.session, user, real_name=real_name, mobile=user.mobile, reason=reason
            )

    def _approve(self, key: str) -> None:
        application = self.applications.get(key)
        if application is None:  # the merchant's rules take no applications: they add the distributor
            self._merchant_makes(key, self.real_names[key])
            return
        self.distributors[key] = dist.approve_application(self.session, application, actor=self.owner)
        self.summary.distributors += 1

    def _reject(self, key: str, reason: str) -> None:
        if key in self.applications:
            dist.reject_application(self.session, self.applications[key], actor=self.owner, reason=reason)

    # -------------------------------------------------------- orders

    def order(self, spec: OrderSpec) -> None:
        at = self.timeline.at
        at(spec.placed, partial(self._place, spec))
        if spec.pay == "sandbox":
            at(spec.paid, partial(self._pay_in_sandbox, spec.key))
        elif spec.pay == "manual":
            at(spec.paid, partial(self._claim_transfer, spec.key))
            if spec.confirmed:
                at(spec.confirmed, partial(self._confirm_transfer, spec.key))
        if spec.opened_payment:
            at(spec.opened_payment, partial(self._open_sandbox, spec.key))
        if spec.expired:
            at(spec.expired, partial(self._expire, spec.key))
        if spec.buyer_cancelled:
            at(spec.buyer_cancelled, partial(self._buyer_cancels, spec))
        if spec.late_payment:
            at(spec.late_payment, partial(self._sandbox_notify, spec.key))
        if spec.void:
            moment, reason = spec.void
            at(moment, partial(self._void, spec.key, reason))
        if spec.shipped:
            at(spec.shipped, partial(self._ship, spec))
        if spec.completed:
            at(spec.completed, partial(self._complete, spec))
        for index, refund in enumerate(spec.refunds):
            at(refund.requested, partial(self._request_refund, spec, index))
            if refund.decided:
                at(refund.decided, partial(self._decide_refund, spec, index))

    def _sku(self, title: str, values: tuple[str, ...]) -> Sku:
        product = self.session.scalar(
            select(Product).where(Product.title == title, Product.is_on_shelf).order_by(Product.id).limit(1)
        )
        sku = next(
            (s for s in (product.active_skus if product else []) if tuple(s.spec_values) == values), None
        )
        if sku is None:
            raise HistorySkipped(f"the demo product {title} {' '.join(values)} is missing or off the shelf")
        return sku

    def _place(self, spec: OrderSpec) -> None:
        buyer = self.users[spec.buyer]
        items = {}
        for title, values, qty in spec.items:
            items[self._sku(title, values).id] = qty
        self.orders[spec.key] = orders.checkout.place_order(
            self.session,
            user=buyer,
            items=items,
            address_id=orders.addresses.list_addresses(self.session, buyer.id)[0].id,
            idempotency_key=f"demo-history-order-{spec.key}",
            buyer_note=spec.note,
        )
        self.summary.orders += 1

    def _buyer(self, key: str) -> User:
        return self.orders[key].user

    def _open_sandbox(self, key: str) -> None:
        self.payments[key] = payments.start_payment(
            self.session, self.orders[key], "sandbox", user=self._buyer(key)
        )

    def _sandbox_notify(self, key: str) -> None:
        """What the sandbox cashier's "pay" button ends in: its notify, confirmed as the gateways' are."""
        notify = json.loads(sandbox.notify_body(self.payments[key]))
        payments.confirm_payment(
            self.session, provider="sandbox", out_trade_no=notify["out_trade_no"],
            amount_fen=notify["amount_fen"], gateway_trade_no=notify["trade_no"], raw=notify,
        )  # fmt: skip

    def _pay_in_sandbox(self, key: str) -> None:
        self._open_sandbox(key)
        self._sandbox_notify(key)

    def _claim_transfer(self, key: str) -> None:
        payments.claim_manual_payment(self.session, self.orders[key], self._buyer(key))

    def _confirm_transfer(self, key: str) -> None:
        payments.confirm_manual_payment(self.session, self.orders[key], actor=self.staff)

    def _expire(self, key: str) -> None:
        orders.transitions.expire_if_due(self.session, self.orders[key])

    def _buyer_cancels(self, spec: OrderSpec) -> None:
        orders.transitions.shopper_cancel(self.session, self.orders[spec.key], self._buyer(spec.key))

    def _void(self, key: str, reason: str) -> None:
        ledger.void_order_commission(self.session, self.orders[key], actor=self.owner, reason=reason)

    def _ship(self, spec: OrderSpec) -> None:
        prefix, digits = TRACKING_FORMATS[spec.carrier]
        tracking = prefix + "".join(str(self.rng.randint(0, 9)) for _ in range(digits))
        orders.transitions.ship_order(
            self.session, self.orders[spec.key], actor=self.staff, carrier=spec.carrier, tracking_no=tracking
        )

    def _complete(self, spec: OrderSpec) -> None:
        order = self.orders[spec.key]
        if spec.auto_completed:
            orders.transitions.complete_order(self.session, order, actor=None, automatic=True)
        else:
            orders.transitions.confirm_receipt(self.session, order, self._buyer(spec.key))

    def _request_refund(self, spec: OrderSpec, index: int) -> None:
        order = self.orders[spec.key]
        wanted = spec.refunds[index]
        self.refunds[spec.key, index] = orders.refunds.request_refund(
            self.session,
            order,
            order.user,
            items={order.lines[line].id: qty for line, qty in wanted.items.items()},
            reason=wanted.reason,
        )

    def _decide_refund(self, spec: OrderSpec, index: int) -> None:
        refund, wanted = self.refunds[spec.key, index], spec.refunds[index]
        if wanted.approve:
            orders.refunds.approve_refund(self.session, refund, actor=self.staff, restock=wanted.restock)
        else:
            orders.refunds.reject_refund(self.session, refund, actor=self.staff, reason=wanted.reject_reason)

    def cart(self) -> None:
        """小林 has two things waiting in the cart."""

        def fill():
            user = self.users["xiaolin"]
            orders.cart.add_to_cart(self.session, user.id, self._sku("冻干草莓脆", ("30g×6袋",)).id, 1)
            orders.cart.add_to_cart(
                self.session, user.id, self._sku("精梳棉中筒袜 5双装", ("黑白灰混装", "男款39-44")).id, 2
            )

        self.timeline.at(self.clock.ago(35), fill)

    # -------------------------------------------------------- money out

    def withdrawals(self) -> None:
        """Requested, approved, paid with a reference, rejected with a reason."""
        d, at = self.clock.day, self.timeline.at
        amei_wechat = ledger.WithdrawalInput(2000, "wechat", "梅雪", "ameixue_88")
        linjie_alipay = ledger.WithdrawalInput(4000, "alipay", "林芳", "linfang.hz@example.com")
        linjie_bank = ledger.WithdrawalInput(
            5000, "bank", "林芳", "6225881234567890", "招商银行", "杭州分行营业部"
        )
        daxiong_bank = ledger.WithdrawalInput(
            5000, "bank", "熊伟", "6217001234567890123", "中国建设银行", "长沙岳麓支行"
        )
        linjie_wechat = ledger.WithdrawalInput(3000, "wechat", "林芳", "linfang_hz")
        wrong_name = "支付宝账户的实名与您填写的姓名不一致，请核对后重新申请。"
        at(d(18, "21:00"), partial(self._withdraw, "w1", "amei", amei_wechat))
        at(d(17, "10:30"), partial(self._approve_withdrawal, "w1"))
        at(
            d(17, "10:40"),
            partial(self._pay_withdrawal, "w1", f"微信转账 1000050001{d(17, '10:40'):%Y%m%d}0417"),
        )
        at(d(13, "20:00"), partial(self._withdraw, "w2", "linjie", linjie_alipay))
        at(d(12, "09:30"), partial(self._reject_withdrawal, "w2", wrong_name))
        at(d(10, "21:10"), partial(self._withdraw, "w3", "linjie", linjie_bank))
        at(d(9, "10:00"), partial(self._approve_withdrawal, "w3"))
        at(d(9, "16:00"), partial(self._pay_withdrawal, "w3", f"招行代发批次 {d(9, '16:00'):%Y%m%d}-017"))
        at(d(6, "19:00"), partial(self._withdraw, "w4", "daxiong", daxiong_bank))
        at(d(5, "10:15"), partial(self._approve_withdrawal, "w4"))
        at(d(1, "20:30"), partial(self._withdraw, "w5", "linjie", linjie_wechat))

    def _withdraw(self, key: str, who: str, data: ledger.WithdrawalInput) -> None:
        self.withdrawal_rows[key] = ledger.request_withdrawal(self.session, self.distributors[who], data)

    def _approve_withdrawal(self, key: str) -> None:
        ledger.approve_withdrawal(self.session, self.withdrawal_rows[key], actor=self.owner)

    def _pay_withdrawal(self, key: str, reference: str) -> None:
        ledger.mark_withdrawal_paid(
            self.session, self.withdrawal_rows[key], actor=self.owner, reference=reference
        )

    def _reject_withdrawal(self, key: str, reason: str) -> None:
        ledger.reject_withdrawal(self.session, self.withdrawal_rows[key], actor=self.owner, reason=reason)

    def nightly_settle(self) -> None:
        """`flask distribution settle` from cron at three every night."""
        for days_ago in range(42, -1, -1):
            moment = self.clock.day(days_ago, "03:00")
            if moment < self.clock.now:
                self.timeline.at(moment, self._settle)

    def _settle(self) -> None:
        ledger.release_due(self.session)
        dividends.finalise_due(self.session)  # orders become final on the night their commission is released
        grading.check_upgrades(self.session)

    def dividends(self) -> None:
        """Static dividends turned on two weeks ago (银牌 2 %, 金牌 3 %: with 金牌's 23 % commission the
        scheme shares out 28 %, under the 30 % limit), then each night after the settle the job pays the
        day before, from the orders that became final on it."""
        self.timeline.at(self.clock.day(DIVIDEND_DAYS, "09:00"), self._dividends_on)
        for days_ago in range(DIVIDEND_DAYS - 1, -1, -1):
            moment = self.clock.day(days_ago, "03:30")
            if moment < self.clock.now:
                self.timeline.at(moment, self._pay_yesterday)

    def _dividends_on(self) -> None:
        settings = dist.get_settings(self.session)
        settings.dividends_enabled, settings.dividend_mode = True, dividends.STATIC
        settings.dividends_acknowledged_at = utcnow()
        settings.dividends_start_on = dividends.shop_today()
        self.grades["银牌"].dividend_ratio_bp, self.grades["金牌"].dividend_ratio_bp = 200, 300

    def _pay_yesterday(self) -> None:
        # pay_day itself, not the job: the job commits, and the history is one savepoint until it is done.
        rules = dividends.rules_from(self.session, dist.get_settings(self.session))
        dividends.pay_day(self.session, dividends.shop_today() - timedelta(days=1), rules)
