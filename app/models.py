"""Imports every model module, so the metadata Alembic compares against is complete."""

from app.accounts.access_tokens import AccessToken  # noqa: F401
from app.accounts.models import User  # noqa: F401
from app.catalog.models import Category, Product, ProductDetailImage, ProductImage, Sku  # noqa: F401
from app.catalog.view_counts import ProductDailyStat, ProductDailyVisitor  # noqa: F401
from app.distribution.models import (  # noqa: F401
    BindingLog,
    Commission,
    CommissionExplanation,
    Device,
    DistributionSettings,
    Distributor,
    DistributorApplication,
    DistributorGrade,
    LedgerEntry,
    MerchantMilestone,
    Visit,
    Withdrawal,
)
from app.jobs import JobRun  # noqa: F401
from app.marketing.models import (  # noqa: F401
    Coupon,
    CouponTemplate,
    DistributorCode,
    FullReductionCampaign,
    GrowthEntry,
    MarketingSettings,
    MemberAccount,
    MemberLevel,
    PointsEntry,
    TimedDiscount,
    TimedDiscountItem,
)
from app.notifications.models import Notification, NotificationSettings  # noqa: F401
from app.orders.idempotency import ApiIdempotencyKey  # noqa: F401
from app.orders.models import (  # noqa: F401
    Address,
    CartItem,
    Order,
    OrderEvent,
    OrderLine,
    Refund,
    RefundLine,
)
from app.page_cache import PageGeneration  # noqa: F401
from app.payments.models import ApiToken, Payment, PaymentSettings  # noqa: F401
from app.ratelimit import RateLimitCounter  # noqa: F401
from app.settings.models import ShopSettings  # noqa: F401
