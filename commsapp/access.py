"""Who may open which page: roles per view, and the location a staff member is limited to.

Every view declares its access with `@public` or `@roles(...)`; a view that declares
nothing is refused, so a forgotten decorator fails closed rather than open.
"""

import logging
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, abort, make_response, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import ColumnElement, true

from commsapp.extensions import db, htmx, login_manager
from commsapp.models import Course, Customer, Role, StaffUser

log = logging.getLogger(__name__)
View = TypeVar("View", bound=Callable)

STAFF_ROLES = (Role.ADMIN, Role.STAFF)
ALL_ROLES = (Role.ADMIN, Role.STAFF, Role.TEACHER)


def public(view: View) -> View:
    """Anyone may open it, signed in or not (login page, unsubscribe links, webhooks)."""
    view.access_public = True
    return view


def roles(*allowed: Role) -> Callable[[View], View]:
    """Signed-in staff with one of these roles may open it."""

    def decorate(view: View) -> View:
        view.access_roles = frozenset(allowed)
        return view

    return decorate


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to open that page.")
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(user_id: str) -> StaffUser | None:
        staff_id, _, version = user_id.partition(":")
        if not staff_id.isdigit() or not version.isdigit():
            return None
        user = db.session.get(StaffUser, int(staff_id))
        if user is None or user.session_version != int(version) or not user.active:
            return None
        return user

    @login_manager.unauthorized_handler
    def unauthorized():
        target = url_for("auth.login", next=request.full_path.rstrip("?"))
        if htmx:
            response = make_response("", 401)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target)

    @app.before_request
    def enforce_access():
        if request.endpoint is None or request.endpoint == "static":
            return None
        view = app.view_functions[request.endpoint]
        if getattr(view, "access_public", False):
            return None
        allowed = getattr(view, "access_roles", None)
        if allowed is None:
            log.error("view %s declares no access rule; refused", request.endpoint)
            abort(403)
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if current_user.role not in allowed:
            abort(403)
        return None


def customer_scope(user: StaffUser) -> ColumnElement[bool]:
    """Customers a staff member may see: all, or those of their pre-filtered location."""
    if user.location_id is None:
        return true()
    return Customer.home_location_id == user.location_id


def course_scope(user: StaffUser) -> ColumnElement[bool]:
    """Courses a staff member may see: their location's, and for teachers only their own."""
    condition = true()
    if user.location_id is not None:
        condition = Course.location_id == user.location_id
    if user.role == Role.TEACHER:
        condition = condition & (Course.teacher_id == user.id)
    return condition


def get_customer_or_404(customer_id: int) -> Customer:
    """:raise 404: also for a customer of another location, so ids of other locations don't leak."""
    customer = db.session.scalar(
        db.select(Customer).where(Customer.id == customer_id, customer_scope(current_user))
    )
    if customer is None:
        abort(404)
    return customer


def get_course_or_404(course_id: int) -> Course:
    """:raise 404: also for a course outside the staff member's location or teaching."""
    course = db.session.scalar(
        db.select(Course).where(Course.id == course_id, course_scope(current_user))
    )
    if course is None:
        abort(404)
    return course
