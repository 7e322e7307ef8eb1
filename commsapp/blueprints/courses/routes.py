"""Courses, their sessions and who is booked into them."""

from flask import Blueprint, abort, request
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from commsapp.access import ALL_ROLES, course_scope, get_course_or_404, roles
from commsapp.extensions import db
from commsapp.models import (
    Booking,
    BookingStatus,
    Course,
    CourseSession,
    WaitlistEntry,
    WaitlistStatus,
)
from commsapp.models.base import utcnow
from commsapp.views_support import render_page

bp = Blueprint("courses", __name__, url_prefix="/courses")


@bp.route("")
@roles(*ALL_ROLES)
def index():
    courses = db.session.scalars(
        select(Course)
        .where(course_scope(current_user))
        .options(
            selectinload(Course.location),
            selectinload(Course.class_type),
            selectinload(Course.teacher),
        )
        .order_by(Course.name)
    ).all()
    return render_page("courses/index.html", courses=courses)


@bp.route("/<int:course_id>")
@roles(*ALL_ROLES)
def detail(course_id: int):
    """:raise 404: unknown course or one outside the staff member's scope."""
    course = get_course_or_404(course_id)
    show_past = request.args.get("past") == "1"
    now = utcnow()
    when = CourseSession.starts_at < now if show_past else CourseSession.starts_at >= now
    order = CourseSession.starts_at.desc() if show_past else CourseSession.starts_at.asc()
    booked = (
        select(func.count(Booking.id))
        .where(Booking.session_id == CourseSession.id, Booking.status != BookingStatus.CANCELLED)
        .correlate(CourseSession)
        .scalar_subquery()
    )
    sessions = db.session.execute(
        select(CourseSession, booked)
        .where(CourseSession.course_id == course.id, when)
        .order_by(order)
        .limit(50)
    ).all()
    return render_page("courses/detail.html", course=course, sessions=sessions, show_past=show_past)


@bp.route("/<int:course_id>/sessions/<int:session_id>")
@roles(*ALL_ROLES)
def session(course_id: int, session_id: int):
    """:raise 404: unknown session, or a session that does not belong to a visible course."""
    course = get_course_or_404(course_id)
    course_session = db.session.get(CourseSession, session_id)
    if course_session is None or course_session.course_id != course.id:
        abort(404)
    bookings = db.session.scalars(
        select(Booking)
        .where(Booking.session_id == course_session.id)
        .options(selectinload(Booking.customer), selectinload(Booking.participants))
        .order_by(Booking.created_at)
    ).all()
    waitlist = db.session.scalars(
        select(WaitlistEntry)
        .where(
            WaitlistEntry.session_id == course_session.id,
            WaitlistEntry.status != WaitlistStatus.EXPIRED,
        )
        .options(selectinload(WaitlistEntry.customer))
        .order_by(WaitlistEntry.position)
    ).all()
    return render_page(
        "courses/session.html",
        course=course,
        course_session=course_session,
        bookings=bookings,
        waitlist=waitlist,
    )
