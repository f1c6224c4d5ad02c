"""The notification settings, and the outbox: `enqueue` writes a message in the caller's transaction (so
an event rolled back sends nothing), only for a user bound to WeChat, while notifications are on and the
message's type has a template. Nothing here talks to WeChat: `flask notifications send` does."""

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.errors import UserError
from app.notifications import kinds
from app.notifications.models import Notification, NotificationSettings
from app.payments import wechat_web
from app.settings.services import get_shop_settings
from app.timeutil import utcnow

SETTINGS_ID = 1


class NotificationError(UserError):
    pass


def get_notification_settings(session: Session) -> NotificationSettings:
    """The one settings row; an unsaved one (notifications off) before the merchant first saves."""
    return session.get(NotificationSettings, SETTINGS_ID) or NotificationSettings(
        id=SETTINGS_ID, enabled=False, templates={}
    )


def template_of(settings: NotificationSettings, kind: str) -> dict | None:
    """The kind's {"template_id", "mapping"} when it is switched on with a template, else None."""
    entry = (settings.templates or {}).get(kind) or {}
    if entry.get("on") and entry.get("template_id"):
        return entry
    return None


def form_values(settings: NotificationSettings) -> dict:
    """What the settings form starts with: each kind's stored values, or its default mapping."""
    values = {"enabled": bool(settings.enabled)}
    for name, kind in kinds.KINDS.items():
        entry = (settings.templates or {}).get(name) or {}
        values[f"{name}_on"] = bool(entry.get("on"))
        values[f"{name}_template_id"] = entry.get("template_id", "")
        values[f"{name}_mapping"] = entry.get("mapping") or kinds.default_mapping(kind)
    return values


def save_notification_settings(session: Session, data: dict) -> NotificationSettings:
    """Check every kind's template id and mapping (all problems at once, by field) and save."""
    problems: list[tuple[str, str]] = []
    templates = {}
    for name, kind in kinds.KINDS.items():
        on = bool(data.get(f"{name}_on"))
        template_id = (data.get(f"{name}_template_id") or "").strip()
        mapping = "\n".join(
            line.strip()
            for line in (data.get(f"{name}_mapping") or "").replace("\r", "").split("\n")
            if line.strip()
        )
        if on and not template_id:
            problems.append(
                (f"{name}_template_id", _("Please enter the template ID, or switch this message off."))
            )
        elif template_id and not kinds.TEMPLATE_ID_RE.match(template_id):
            problems.append(
                (
                    f"{name}_template_id",
                    _("A template ID is 10 to 64 letters, digits, - or _ (copy it from 模板消息)."),
                )
            )
        if on or mapping:
            _pairs, wrong = kinds.parse_mapping(kind, mapping)
            problems += [(f"{name}_mapping", message) for message in wrong]
        templates[name] = {"on": on, "template_id": template_id, "mapping": mapping}
    enabled = bool(data.get("enabled"))
    if enabled and not any(entry["on"] for entry in templates.values()):
        problems.append(
            ("enabled", _("Switch on at least one message with its template ID, or turn notifications off."))
        )
    if enabled and not wechat_web.configured(session):
        problems.append(
            ("enabled", _("Enter the official account's AppID and AppSecret in Settings › Payments first."))
        )
    if problems:
        (field, message), *more = problems
        raise NotificationError(message, field, more)
    settings = get_notification_settings(session)
    settings.enabled, settings.templates, settings.updated_at = enabled, templates, utcnow()
    session.add(settings)
    session.flush()
    return settings


def enqueue(session: Session, kind_name: str, user: User | None, values: dict, *, url_path: str = "",
            reference: str = "", force: bool = False) -> Notification | None:  # fmt: skip
    """Write one message for `user` into the outbox, in the caller's transaction; None (nothing written) for
    a user without a WeChat openid, a type without a template, or notifications off (`force`: the settings
    page's test message, sent whether notifications are on or not)."""
    if user is None or not user.wechat_openid:
        return None
    settings = get_notification_settings(session)
    entry = template_of(settings, kind_name)
    if entry is None or not (settings.enabled or force):
        return None
    kind = kinds.KINDS[kind_name]
    values = {"shop": get_shop_settings(session).name, "time": kinds.when(utcnow()), **values}
    notification = Notification(
        kind=kind_name,
        user_id=user.id,
        openid=user.wechat_openid,
        template_id=entry["template_id"],
        url_path=url_path,
        data=kinds.render(kind, entry["mapping"], values),
        reference=str(reference)[:64],
        next_attempt_at=utcnow(),
        created_at=utcnow(),
    )
    session.add(notification)
    session.flush()
    return notification


def queue_test_message(session: Session, user: User, kind_name: str) -> Notification:
    """A sample of one message type to the merchant's own WeChat, through the outbox like any other."""
    if kind_name not in kinds.KINDS:
        raise NotificationError(_("Please choose a message type."), "test_kind")
    if not user.wechat_openid:
        raise NotificationError(
            _(
                "Your account is not bound to WeChat: open the shop once inside WeChat, logged in as yourself."
            ),
            "test_kind",
        )
    if template_of(get_notification_settings(session), kind_name) is None:
        raise NotificationError(_("Switch this message on with its template ID and save first."), "test_kind")
    sample = {
        "order_no": "T" + utcnow().strftime("%Y%m%d%H%M%S"),
        "amount": kinds.money(1990),
        "product": _("Sample product"),
        "status": _("Test message"),
        "carrier": "顺丰速运",
        "tracking_no": "SF1234567890",
        "reason": _("Test message"),
        "reference": "TEST",
    }
    notification = enqueue(session, kind_name, user, sample, reference="test", force=True)
    assert notification is not None  # the openid and the template were checked above
    return notification


def recent(session: Session, status: str = "", limit: int = 50) -> list[Notification]:
    query = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if status:
        query = query.where(Notification.status == status)
    return list(session.scalars(query))
