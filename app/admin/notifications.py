"""设置 › 消息通知: WeChat template messages on or off, each message's template and keywords, a test
message to the merchant's own WeChat, and the outbox's recent messages with their state and last error."""

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.viewutil import badges, first_error, local_time, save_form, service_refused
from app.errors import UserError
from app.extensions import db
from app.notifications import kinds
from app.notifications.forms import NotificationSettingsForm, TestMessageForm, kind_fields
from app.notifications.models import NotificationStatus
from app.notifications.outbox import (
    form_values,
    get_notification_settings,
    queue_test_message,
    recent,
    save_notification_settings,
)
from app.payments import wechat_web

STATUS_LABELS, STATUS_COLOURS = badges(
    pending=(_l("Waiting to send"), "secondary"),
    sending=(_l("Sending"), "info"),
    sent=(_l("Sent"), "success"),
    failed=(_l("Failed"), "danger"),
    gave_up=(_l("Not following the account"), "warning"),
)


@bp.route("/settings/notifications", methods=["GET", "POST"])
@permission_required(Permission.SETTINGS)
def notification_settings():
    settings = get_notification_settings(db.session)
    form = NotificationSettingsForm(data=form_values(settings))
    saved = save_form(
        form,
        lambda: save_notification_settings(db.session, form.data),
        _("Notification settings saved."),
        "admin.notification_settings",
    )
    if saved is not None:
        return saved
    status = 422 if form.errors or form.form_errors else 200
    return _page(form, TestMessageForm(), status)


@bp.post("/settings/notifications/test")
@permission_required(Permission.SETTINGS)
def notification_test():
    """Queue a sample message to the merchant's own WeChat: the job sends it within a minute."""
    form = TestMessageForm()
    if not form.validate_on_submit():
        flash(_("Please choose a message type.") if form.test_kind.errors else first_error(form), "error")
        return redirect(url_for("admin.notification_settings"))
    try:
        queue_test_message(db.session, current_user, form.test_kind.data)
    except UserError as error:
        service_refused(form, error)
        settings_form = NotificationSettingsForm(data=form_values(get_notification_settings(db.session)))
        return _page(settings_form, form, 422)
    db.session.commit()
    flash(_("Test message queued: it reaches your WeChat within a minute, when the job runs."), "success")
    return redirect(url_for("admin.notification_settings"))


def _page(form, test_form, status: int):
    shown = request.args.get("status", "")
    shown = shown if shown in STATUS_LABELS else ""
    return render_template(
        "admin/notification_settings.html",
        form=form,
        test_form=test_form,
        kinds=[
            (kind, *kind_fields(form, name), " ".join(f"{{{value}}}" for value in kind.placeholders))
            for name, kind in kinds.KINDS.items()
        ],
        placeholders=kinds.PLACEHOLDER_LABELS,
        wechat_ready=wechat_web.configured(db.session),
        openid_bound=bool(current_user.wechat_openid),
        rows=recent(db.session, shown),
        shown=shown,
        status_labels=STATUS_LABELS,
        status_colours=STATUS_COLOURS,
        kind_labels={name: kind.label for name, kind in kinds.KINDS.items()},
        local_time=local_time,
        statuses=list(NotificationStatus),
    ), status
