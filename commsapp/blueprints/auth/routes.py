"""Staff sign-in and sign-out."""

from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.security import check_password_hash

from commsapp.access import ALL_ROLES, public, roles
from commsapp.blueprints.auth.forms import LoginForm
from commsapp.extensions import db
from commsapp.models import Role, StaffUser
from commsapp.queue import get_redis
from commsapp.services import login_throttle
from commsapp.views_support import render_page

bp = Blueprint("auth", __name__)

# Checked against when the email is unknown, so a wrong email takes as long as a wrong password.
_DUMMY_HASH = "scrypt:32768:8:1$0000000000000000$" + "0" * 128


@bp.route("/")
@roles(*ALL_ROLES)
def home():
    if current_user.role == Role.TEACHER:
        return redirect(url_for("courses.index"))
    return redirect(url_for("inbox.index"))


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Sign in; one generic error whether the email or the password was wrong.

    :raise 429: after too many failed attempts for the email or the client.
    """
    if current_user.is_authenticated:
        return redirect(url_for("auth.home"))
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        client = request.remote_addr or "unknown"
        r = get_redis()
        wait = login_throttle.seconds_locked(
            r, email, client, current_app.config["LOGIN_MAX_FAILURES"]
        )
        if wait:
            minutes = max(1, (wait + 59) // 60)
            error = _(
                "Too many failed sign-in attempts. Try again in %(minutes)d minutes.",
                minutes=minutes,
            )
            status = 429
        else:
            user = db.session.scalar(db.select(StaffUser).where(StaffUser.email == email))
            if user is not None and user.active and user.check_password(form.password.data):
                login_throttle.record_success(r, email)
                login_user(user, remember=form.remember.data)
                return redirect(_safe_next(request.args.get("next")))
            if user is None:
                check_password_hash(_DUMMY_HASH, form.password.data)
            login_throttle.record_failure(
                r, email, client, current_app.config["LOGIN_LOCKOUT_SECONDS"]
            )
            error = _("Email or password is not correct.")
            status = 401
    elif request.method == "POST":
        status = 422
    return render_page("auth/login.html", form=form, error=error, status=status)


@bp.route("/logout", methods=["POST"])
@roles(*ALL_ROLES)
def logout():
    logout_user()
    return redirect(url_for("auth.login"))


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so the login page cannot be used to bounce users elsewhere."""
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
        ):
            return target
    return url_for("auth.home")
