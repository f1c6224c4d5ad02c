"""Staff in the back office (员工): the owner adds people by mobile number, chooses what each may do,
and disables them. Changes apply at the person's next click."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2_fragments.flask import render_block

from app.accounts import management
from app.accounts.admin_forms import PERMISSION_LABELS, AccountStatusForm, AddStaffForm, StaffPermissionsForm
from app.accounts.models import AccountEvent, AccountEventKind, Permission, Role, User
from app.accounts.services import AccountError
from app.admin import bp, permission_required
from app.admin.viewutil import action_answer, record_action
from app.extensions import db
from app.forms import apply_service_error


def _staff_context(**forms) -> dict:
    members = management.staff_members(db.session)
    return {
        "members": members,
        "permission_labels": PERMISSION_LABELS,
        "add_form": forms.get("add_form") or AddStaffForm(formdata=None),
        "permission_forms": {
            m.id: StaffPermissionsForm(
                formdata=None, data={"permissions": [p.value for p in m.granted_permissions]}
            )
            for m in members
            if m.role == Role.STAFF
        }
        | forms.get("permission_forms", {}),
        "status_forms": {m.id: AccountStatusForm(formdata=None) for m in members}
        | forms.get("status_forms", {}),
        "may_disable": {m.id: management.may_disable(m, current_user) for m in members},
    }


@bp.route("/staff", methods=["GET", "POST"])
@permission_required(Permission.STAFF)
def staff():
    form = AddStaffForm() if request.method == "POST" else AddStaffForm(formdata=None)
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            try:
                member = management.add_staff(
                    db.session,
                    actor=current_user,
                    mobile=form.mobile.data,
                    nickname=form.nickname.data or "",
                    password=form.password.data or "",
                    permissions=form.permissions.data or [],
                )
            except AccountError as error:
                db.session.rollback()
                apply_service_error(form, error)
            else:
                db.session.commit()
                flash(_("%(name)s is now staff.", name=member.display_name), "success")
                return redirect(url_for("admin.staff"))
    return render_template("admin/staff.html", **_staff_context(add_form=form)), status


def _staff_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or not user.is_back_office:
        abort(404, description=_("This staff member does not exist."))
    return user


def _staff_result(member: User, message: str, failed: dict | None = None):
    def card() -> str:
        fresh = db.session.get(User, member.id)
        forms = {f"{name}s": {member.id: form} for name, form in (failed or {}).items()}
        return render_block("admin/staff.html", "member_card", member=fresh, **_staff_context(**forms))

    return action_answer(message, bool(failed), url_for("admin.staff"), card)


staff_action = record_action(Permission.STAFF, _staff_or_404, _staff_result)


@bp.post("/staff/<int:user_id>/permissions")
@staff_action("permission_form", StaffPermissionsForm)
def staff_permissions(member: User, form: StaffPermissionsForm) -> str:
    management.set_staff_permissions(
        db.session, member, actor=current_user, permissions=form.permissions.data or []
    )
    return _("Permissions of %(name)s saved; they apply at their next click.", name=member.display_name)


@bp.post("/staff/<int:user_id>/active")
@staff_action("status_form", AccountStatusForm)
def staff_active(member: User, form: AccountStatusForm) -> str:
    active = request.form.get("active") == "1"
    management.set_account_active(
        db.session, member, active=active, actor=current_user, reason=form.reason.data
    )
    if active:
        return _("%(name)s can use the back office again.", name=member.display_name)
    return _("%(name)s is disabled and logged out.", name=member.display_name)


ACCOUNT_EVENT_LABELS = {
    AccountEventKind.DISABLED: _l("Disabled"),
    AccountEventKind.ENABLED: _l("Enabled again"),
    AccountEventKind.MADE_STAFF: _l("Made staff"),
    AccountEventKind.PERMISSIONS: _l("Permissions changed"),
    AccountEventKind.MOBILE_LINKED: _l("Mobile number linked from the mini-program"),
    AccountEventKind.MERGED_INTO: _l("Joined into another account (mini-program)"),
    AccountEventKind.MERGED_FROM: _l("Joined with its mini-program account"),
}


def account_event_note(event: AccountEvent) -> str:
    """The reason given, or for a permission change the permissions in words."""
    if event.kind in (AccountEventKind.MADE_STAFF, AccountEventKind.PERMISSIONS):
        names = [str(PERMISSION_LABELS[p]) for p in Permission if p.value in event.note.split(",")]
        return "、".join(names) or _("no permission")
    return event.note


@bp.context_processor
def account_helpers():
    return {"account_event_labels": ACCOUNT_EVENT_LABELS, "account_event_note": account_event_note}
