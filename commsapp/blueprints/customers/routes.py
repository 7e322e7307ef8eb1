"""The customer list and the customer profile."""

from datetime import datetime

from flask import Blueprint, abort, current_app, request
from flask_login import current_user
from sqlalchemy import select

from commsapp.access import STAFF_ROLES, customer_scope, get_customer_or_404, roles
from commsapp.extensions import db
from commsapp.models import Booking, ConsentKind, ConsentSource, CourseSession, CustomerProduct
from commsapp.models.base import utcnow
from commsapp.services import consent
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
        **_consent_context(customer),
    )


# The switches staff see on the profile, as in the reference: an "x" to unsubscribe, an arrow to undo.
STAFF_CONSENT_KINDS = (
    ConsentKind.MARKETING_EMAIL,
    ConsentKind.TRANSACTIONAL_EMAIL,
    ConsentKind.MARKETING_SMS,
    ConsentKind.ALL_SMS,
)


def _consent_context(customer) -> dict:
    return {
        "consents": [(kind, consent.is_subscribed(customer, kind)) for kind in STAFF_CONSENT_KINDS],
        "consent_events": consent.consent_history(customer.id),
    }


@bp.route("/<int:customer_id>/consent", methods=["POST"])
@roles(*STAFF_ROLES)
def change_consent(customer_id: int):
    """Unsubscribe or resubscribe a customer for one message type, logged as a staff change.

    :raise 404: customer outside the staff member's location; :raise 400: unknown message type.
    """
    customer = get_customer_or_404(customer_id)
    try:
        kind = ConsentKind(request.form.get("kind", ""))
    except ValueError:
        abort(400, description="Unknown message type.")
    if kind not in STAFF_CONSENT_KINDS:
        abort(400, description="Unknown message type.")
    subscribed = request.form.get("subscribed") == "1"
    consent.set_consent(
        customer,
        kind,
        subscribed,
        ConsentSource.STAFF,
        actor_staff_id=current_user.id,
        ip_address=request.remote_addr or "",
    )
    db.session.commit()
    return render_page(
        "customers/profile.html",
        "customers/_consent.html",
        customer=customer,
        **_consent_context(customer),
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
