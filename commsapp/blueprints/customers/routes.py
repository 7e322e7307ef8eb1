"""The customer list and the customer profile."""

from datetime import datetime

from flask import Blueprint, current_app, request
from flask_login import current_user
from sqlalchemy import select

from commsapp.access import STAFF_ROLES, customer_scope, get_customer_or_404, roles
from commsapp.extensions import db
from commsapp.models import Booking, CourseSession, CustomerProduct
from commsapp.models.base import utcnow
from commsapp.services.customers import MAX_SEARCH_LENGTH, list_customers
from commsapp.views_support import render_page

bp = Blueprint("customers", __name__, url_prefix="/customers")


@bp.route("")
@roles(*STAFF_ROLES)
def index():
    query = request.args.get("q", "")[:MAX_SEARCH_LENGTH]
    after = request.args.get("after", type=int)
    page = list_customers(
        customer_scope(current_user), query, after, current_app.config["PAGE_SIZE"]
    )
    fragment = "customers/_rows.html" if after else "customers/_list.html"
    return render_page("customers/index.html", fragment, page=page, q=query)


@bp.route("/<int:customer_id>")
@roles(*STAFF_ROLES)
def profile(customer_id: int):
    """:raise 404: unknown customer or one of another location."""
    customer = get_customer_or_404(customer_id)
    products = db.session.scalars(
        select(CustomerProduct)
        .where(CustomerProduct.customer_id == customer.id)
        .order_by(CustomerProduct.starts_on.desc())
    ).all()
    now = utcnow()
    upcoming = _bookings(customer.id, Booking.starts_at >= now, ascending=True)
    past = _bookings(customer.id, Booking.starts_at < now, ascending=False)
    return render_page(
        "customers/profile.html",
        customer=customer,
        products=products,
        upcoming=upcoming,
        past=past,
        now=now,
    )


def _bookings(customer_id: int, when, ascending: bool, limit: int = 20) -> list[Booking]:
    order = Booking.starts_at.asc() if ascending else Booking.starts_at.desc()
    return db.session.scalars(
        select(Booking)
        .join(CourseSession)
        .where(Booking.customer_id == customer_id, when)
        .order_by(order)
        .limit(limit)
    ).all()


@bp.app_template_filter("datetime")
def format_datetime(value: datetime | None) -> str:
    from flask_babel import format_datetime as babel_format

    return babel_format(value, "short") if value else ""
