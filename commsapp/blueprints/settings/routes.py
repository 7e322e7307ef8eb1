"""Business settings, staff accounts and the failed-jobs list: admins only."""

from flask import Blueprint, abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user
from sqlalchemy import select

from commsapp.access import roles
from commsapp.blueprints.settings.forms import BusinessSettingsForm, StaffForm
from commsapp.extensions import db
from commsapp.models import BusinessSettings, Location, Role, StaffUser
from commsapp.services import jobs_admin, staff
from commsapp.views_support import render_page

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.route("", methods=["GET", "POST"])
@roles(Role.ADMIN)
def index():
    settings = BusinessSettings.get()
    form = BusinessSettingsForm(obj=settings)
    if form.validate_on_submit():
        form.populate_obj(settings)
        db.session.commit()
        flash(_("Settings saved."), "success")
        return redirect(url_for("settings.index"))
    status = 422 if form.errors else 200
    return render_page("settings/index.html", "settings/_form.html", form=form, status=status)


@bp.route("/staff")
@roles(Role.ADMIN)
def staff_list():
    users = db.session.scalars(select(StaffUser).order_by(StaffUser.name)).all()
    return render_page("settings/staff.html", users=users)


@bp.route("/staff/new", methods=["GET", "POST"])
@bp.route("/staff/<int:staff_id>", methods=["GET", "POST"])
@roles(Role.ADMIN)
def staff_edit(staff_id: int | None = None):
    """Create or change a staff account: role, pre-filtered location, language.

    :raise 404: unknown staff id.
    """
    user = None
    if staff_id is not None:
        user = db.session.get(StaffUser, staff_id) or abort(404)
    form = StaffForm(obj=user)
    form.location_id.choices = [(0, _("All locations"))] + [
        (loc.id, loc.name) for loc in db.session.scalars(select(Location).order_by(Location.name))
    ]
    if user is not None and not form.is_submitted():
        form.location_id.data = user.location_id or 0
        form.language.data = user.language or ""
    if form.validate_on_submit():
        location_id = form.location_id.data or None
        role = Role(form.role.data)
        try:
            if user is None:
                if not form.password.data:
                    raise staff.StaffError(
                        _("A new account needs a password of at least 10 characters.")
                    )
                user = staff.create_staff(
                    form.name.data,
                    form.email.data,
                    form.password.data,
                    role,
                    location_id,
                    form.language.data,
                )
            else:
                staff.update_staff(
                    user,
                    name=form.name.data,
                    email=form.email.data,
                    role=role,
                    location_id=location_id,
                    language=form.language.data,
                    active=form.active.data,
                    password=form.password.data or None,
                )
        except staff.StaffError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            db.session.commit()
            if user.id == current_user.id:
                login_user(user)  # keep the admin signed in after changing their own account
            flash(_("Staff account saved."), "success")
            return redirect(url_for("settings.staff_list"))
    status = 422 if (form.errors or form.form_errors) else 200
    return render_page(
        "settings/staff_edit.html", "settings/_staff_form.html", form=form, user=user, status=status
    )


@bp.route("/jobs")
@roles(Role.ADMIN)
def jobs():
    return render_page("settings/jobs.html", failed=jobs_admin.failed_jobs())


# Settings > Sent messages lives in its own module and registers on this blueprint.
from commsapp.blueprints.settings import messages  # noqa: E402, F401
