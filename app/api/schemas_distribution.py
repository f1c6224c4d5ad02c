"""What the distribution (分销) endpoints take and answer: joining, the distributor centre, commissions, the
team, share links and withdrawals — the figures and words of the H5 分销中心."""

from typing import Literal

from pydantic import BaseModel, Field

from app.api.schemas import Money

MAX_PAGE = 10_000
MAX_CURSOR_DIGITS = 12


# ---------------------------------------------------------------- joining


class DistRateOut(BaseModel):
    level: int
    rate_bp: int = Field(description="Basis points: 1000 = 10%")
    text: str = Field(description="e.g. 10%")


class DistApplicationOut(BaseModel):
    status: Literal["pending", "approved", "rejected"]
    real_name: str
    mobile: str
    reason: str
    reject_reason: str | None = Field(description="Why the shop said no (rejected only)")
    created_at: str = Field(description="ISO 8601, UTC")
    decided_at: str | None


class DistJoinRulesOut(BaseModel):
    mode: Literal["everyone", "apply", "spend"] = Field(
        description="everyone: POST /distribution/join at once; apply: POST /distribution/apply and wait "
        "for review; spend: POST /distribution/join once the spend is reached"
    )
    can_join: bool = Field(description="POST /distribution/join would make the caller a distributor now")
    why_not: str | None = Field(description="Why not yet (spend mode: how much more), as the H5 page says")
    spent: Money | None = Field(description="Spend mode: what the caller has paid, refunds excluded")
    spend_threshold: Money | None = Field(description="Spend mode: the spend that makes a distributor")
    rates: list[DistRateOut]
    freeze_days: int = Field(description="Commission is withdrawable this many days after completion")
    withdrawal_min: Money


class DistApplyFormOut(BaseModel):
    """What the H5 apply form is filled with: the rejected application's details, else the account's mobile."""

    real_name: str
    mobile: str
    reason: str


class DistributionStatusOut(BaseModel):
    state: Literal["distributor", "disabled", "pending", "rejected", "none"] = Field(
        description="distributor / disabled (a distributor the shop switched off) / pending (application "
        "under review) / rejected (may apply again) / none"
    )
    distribution_open: bool = Field(description="The shop runs distribution now")
    code: str | None = Field(description="The caller's share code (distributors only)")
    disabled_reason: str | None
    application: DistApplicationOut | None = Field(description="The latest application, if any")
    join: DistJoinRulesOut
    form: DistApplyFormOut


class DistApplyIn(BaseModel):
    real_name: str = Field(max_length=100, description="As on the ID card, at most 20 characters")
    mobile: str = Field(max_length=40, description="Mainland China mobile number")
    reason: str = Field(default="", max_length=2000, description="Optional, at most 500 characters")


# ---------------------------------------------------------------- the centre


class DistNeedOut(BaseModel):
    kind: str
    label: str
    text: str
    have: Money
    need: Money
    percent: int


class DistGradeOut(BaseModel):
    name: str = Field(description="The grade's name, or 分销员 without one")
    rates: list[DistRateOut] = Field(description="The commission rates this grade gives")
    next_grade: str | None
    headline: str = Field(description="What the next grade needs, as the H5 card says it")
    needs: list[DistNeedOut]
    ready: bool
    at_top: bool


class DistBalancesOut(BaseModel):
    available: Money = Field(description="Withdrawable now (may be below zero after a refund)")
    frozen: Money = Field(description="Earned, waiting for the after-sales window")
    withdrawing: Money = Field(description="Requested or approved withdrawals not yet paid")
    withdrawn: Money = Field(description="Paid out")
    total_earned: Money = Field(description="available + frozen + withdrawing + withdrawn")


class DistEarningsOut(BaseModel):
    today: Money = Field(description="Commission on orders paid today (the shop's calendar), net of refunds")
    month: Money
    dividends_month: Money | None = Field(description="Dividends this month, when the H5 centre shows them")


class DistTeamCountsOut(BaseModel):
    level_one: int
    level_two: int
    total: int


class DistributionCentreOut(BaseModel):
    code: str = Field(description="The share code (邀请码) that ?ref= and the mini-program scene carry")
    active: bool
    disabled_reason: str | None
    distribution_open: bool
    grade: DistGradeOut
    balances: DistBalancesOut
    earnings: DistEarningsOut
    team: DistTeamCountsOut
    shop_link: str = Field(description="The H5 shop with ?ref=<code>")
    freeze_days: int
    withdrawal_min: Money
    notices: list[str] = Field(description="The warnings the H5 centre shows (disabled, paused, below zero)")


# ---------------------------------------------------------------- commissions


class DistCommissionsQuery(BaseModel):
    state: Literal["", "frozen", "held", "released", "voided"] = Field(
        default="",
        description='"" all; frozen (冻结中), held (审核中), released (可提现), voided (已作废) — the H5 tabs',
    )
    cursor: str | None = Field(
        default=None, max_length=MAX_CURSOR_DIGITS, description="next_cursor of the page before"
    )


class DistCommissionOut(BaseModel):
    id: int
    order_number: str = Field(description="Masked as the H5 list shows it: 241122******6789")
    created_at: str = Field(description="ISO 8601, UTC")
    level: int
    level_label: str = Field(description="一级 / 二级 / 自购")
    self_purchase: bool
    buyer: str = Field(description="Masked: 张** / 138****5678")
    state: Literal["frozen", "held", "released", "voided", "refunded"]
    state_label: str = Field(description="冻结中 / 审核中 / 可提现 / 已作废 / 已退款")
    amount: Money = Field(description="What it is worth now (refunds taken off)")
    original: Money = Field(description="What it was at payment")
    release_on: str | None = Field(description="Frozen, order completed: the date it becomes available")
    after_sales: bool = Field(description="Frozen while an after-sales request is open")
    note: str | None = Field(description="The line under the entry on the H5 list")


class DistCommissionPageOut(BaseModel):
    items: list[DistCommissionOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last")


# ---------------------------------------------------------------- team


class DistTeamQuery(BaseModel):
    level: int = Field(default=1, ge=1, le=2, description="1: referred by me; 2: by my level-1 members")
    page: int = Field(default=1, ge=1, le=MAX_PAGE)


class DistMemberOut(BaseModel):
    id: int
    label: str = Field(description="Masked as on the H5 team page: 张** / 138****5678")
    joined_at: str | None
    bound_until: str | None = Field(description="null: bound permanently")
    lapsed: bool
    orders: int
    sales: Money = Field(description="Paid minus refunded")
    via: str | None = Field(description="Level 2: the level-1 member they came through (masked)")


class DistTeamPageOut(BaseModel):
    level: int
    counts: DistTeamCountsOut
    items: list[DistMemberOut]
    page: int
    next_page: int | None


# ---------------------------------------------------------------- share


class DistShareQuery(BaseModel):
    product: int | None = Field(default=None, ge=1, le=2**31 - 1, description="A product id to share")


class DistShareTargetOut(BaseModel):
    link: str = Field(description="The H5 page with ?ref=<code> (on PUBLIC_URL when set)")
    title: str
    image_url: str | None
    path: str = Field(description="The mini-program page with the scene, for a share card or a 小程序码")
    poster_url: str = Field(description="GET /distribution/share/poster (PNG) with the bearer token")


class DistProductShareOut(DistShareTargetOut):
    id: int
    price_text: str
    no_commission: bool = Field(description="The product pays no commission (it may still be shared)")


class DistShareOut(BaseModel):
    scene: str = Field(
        description="The shop's scene for this distributor (r=<code>): what POST /visits takes"
    )
    coupon_code: str | None = Field(description="The distributor's coupon code, when the shop runs one")
    shop: DistShareTargetOut
    product: DistProductShareOut | None


# ---------------------------------------------------------------- withdrawals


class DistWithdrawalsQuery(BaseModel):
    page: int = Field(default=1, ge=1, le=MAX_PAGE)


class DistMethodOut(BaseModel):
    value: str
    label: str


class DistWithdrawalOut(BaseModel):
    id: int
    amount: Money
    fee: Money
    net: Money = Field(description="What is transferred: the amount less the fee")
    method: str
    account: str = Field(description="微信 · 137****001: the method and the end of the account")
    status: Literal["requested", "approved", "paid", "rejected"]
    status_label: str
    reject_reason: str | None
    reference: str | None = Field(description="The transfer reference, once paid")
    created_at: str
    decided_at: str | None
    paid_at: str | None


class DistWithdrawalPageOut(BaseModel):
    available: Money
    withdrawing: Money
    minimum: Money
    fee_rate_bp: int = Field(description="The shop's fee in basis points (0: none)")
    methods: list[DistMethodOut]
    items: list[DistWithdrawalOut]
    page: int
    next_page: int | None


class DistWithdrawIn(BaseModel):
    amount_fen: int = Field(ge=-(2**53), le=2**53, description="Integer fen (分): 2500 = ¥25.00")
    method: str = Field(default="wechat", max_length=16, description="wechat | alipay | bank")
    real_name: str = Field(max_length=100, description="The account holder's real name")
    account: str = Field(max_length=100, description="WeChat ID, Alipay account or bank card number")
    bank_name: str = Field(default="", max_length=100, description="Bank cards only")
    bank_branch: str = Field(default="", max_length=100, description="Bank cards only, optional")
