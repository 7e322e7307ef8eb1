"""The inbox: per-customer threads, replies, new messages and "Contact customers" with preflight."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from flask import Blueprint, abort, current_app, g, request
from flask_babel import get_locale, get_timezone
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from commsapp.access import STAFF_ROLES, customer_scope, roles
from commsapp.extensions import db
from commsapp.models import (
    Booking,
    BookingStatus,
    BusinessSettings,
    Channel,
    Customer,
    CustomerProduct,
    ProductStatus,
    Role,
    Segment,
    SendBatch,
)
from commsapp.models.base import utcnow
from commsapp.services import consent, inbox, segments
from commsapp.services.customers import MAX_SEARCH_LENGTH, list_customers
from commsapp.services.inbox import Draft, InboxFilters, MessageKind, ReviewOutdated
from commsapp.services.outbox import SendRefused
from commsapp.services.segments import SegmentError
from commsapp.views_support import render_page

bp = Blueprint("inbox", __name__, url_prefix="/inbox")
MAX_RECIPIENTS_POSTED = 5_000
PROFILE_CONSENT_KINDS = ("marketing_email", "transactional_email", "marketing_sms", "all_sms")


def _enum(enum_cls, value: str | None):
    try:
        return enum_cls(value) if value else None
    except ValueError:
        return None


def _filters() -> InboxFilters:
    """Filters from the query string; values the UI never sends are ignored, not errors."""
    args = request.args
    segment = None
    if args.get("segment", type=int):
        segment = db.session.get(Segment, args.get("segment", type=int)) or abort(404)
    return InboxFilters(
        unread=args.get("unread") == "1",
        unanswered=args.get("unanswered") == "1",
        kind=_enum(MessageKind, args.get("kind")),
        channel=_enum(Channel, args.get("channel")),
        segment=segment,
        query=args.get("q", "")[:MAX_SEARCH_LENGTH],
        oldest_first=args.get("sort") == "oldest",
    )


def _filter_args(filters: InboxFilters) -> dict:
    """The filters as query arguments, for links that keep them (load more, tabs)."""
    values = {
        "unread": "1" if filters.unread else None,
        "unanswered": "1" if filters.unanswered else None,
        "kind": filters.kind.value if filters.kind else None,
        "channel": filters.channel.value if filters.channel else None,
        "segment": filters.segment.id if filters.segment else None,
        "q": filters.query or None,
        "sort": "oldest" if filters.oldest_first else None,
    }
    return {k: v for k, v in values.items() if v is not None}


@bp.route("")
@roles(*STAFF_ROLES)
def index():
    """Threads, one per customer, with Unread/Unanswered, kind, channel, segment tab, search, sort.

    :raise 404: an unknown segment tab.
    """
    filters = _filters()
    after = request.args.get("after", type=int)
    error = None
    try:
        page = inbox.list_threads(
            customer_scope(current_user), filters, after, current_app.config["PAGE_SIZE"]
        )
    except SegmentError as exc:
        page, error = inbox.InboxPage([], None), str(exc)
    context = {
        "page": page,
        "filters": filters,
        "filter_args": _filter_args(filters),
        "location": current_user.location,
        "error": error,
    }
    if after:
        return render_page("inbox/index.html", "inbox/_thread_rows.html", **context)
    return render_page("inbox/index.html", "inbox/_threads.html", **context)


def _thread_or_404(thread_id: int):
    thread = inbox.get_thread(thread_id, customer_scope(current_user))
    if thread is None:
        abort(404)
    return thread


def _thread_context(thread, draft: Draft | None = None, error: str = "", sent: bool = False):
    customer = thread.customer
    now = utcnow()
    reasons = inbox.channel_reasons(customer.id)
    channel = draft.channel if draft else next((c for c, r in reasons.items() if r is None), None)
    return {
        "thread": thread,
        "customer": customer,
        "messages": inbox.thread_messages(thread.id),
        "reasons": reasons,
        "draft": draft or Draft(channel=channel or Channel.EMAIL),
        "error": error,
        "sent": sent,
        "products": db.session.scalars(
            select(CustomerProduct)
            .where(
                CustomerProduct.customer_id == customer.id,
                CustomerProduct.status == ProductStatus.ACTIVE,
            )
            .order_by(CustomerProduct.starts_on.desc())
        ).all(),
        "upcoming": db.session.scalars(
            select(Booking)
            .where(
                Booking.customer_id == customer.id,
                Booking.starts_at >= now,
                Booking.status == BookingStatus.BOOKED,
            )
            .order_by(Booking.starts_at)
            .limit(5)
        ).all(),
        "consents": [
            (kind, consent.is_subscribed(customer, consent.ConsentKind(kind)))
            for kind in PROFILE_CONSENT_KINDS
        ],
    }


@bp.route("/<int:thread_id>")
@roles(*STAFF_ROLES)
def thread(thread_id: int):
    """All messages with the customer across channels; opening the thread marks it read.

    :raise 404: unknown thread, or one of a customer of another location.
    """
    found = _thread_or_404(thread_id)
    if found.unread:
        inbox.mark_read(found)
    return render_page("inbox/thread.html", **_thread_context(found))


@bp.route("/<int:thread_id>/unread", methods=["POST"])
@roles(*STAFF_ROLES)
def mark_unread(thread_id: int):
    """Mark the thread unread again, to come back to it. :raise 404: as for the thread."""
    found = _thread_or_404(thread_id)
    inbox.mark_read(found, unread=True)
    return render_page("inbox/_unread_button.html", "inbox/_unread_button.html", thread=found)


def _draft_from_form() -> Draft:
    """:raise 400: a channel the composer does not offer."""
    channel = _enum(Channel, request.form.get("channel"))
    if channel is None:
        abort(400, description=_("Unknown channel."))
    return Draft(
        channel=channel,
        subject=request.form.get("subject", "")[: inbox.MAX_SUBJECT],
        body=request.form.get("body", "")[: inbox.MAX_BODY + 1],
        sms_text=request.form.get("compose-sms_text", "")[:5000],
        send_at=_send_at(request.form.get("send_at", "")),
    )


def _send_at(value: str) -> datetime | None:
    """A local date and time (the business's time zone) as naive UTC; None for "now".

    :raise 400: not a date and time.
    """
    if not value.strip():
        return None
    try:
        local = datetime.fromisoformat(value.strip())
    except ValueError:
        abort(400, description=_("The time to send is not a date and time."))
    zone = ZoneInfo(BusinessSettings.get().time_zone or "UTC")
    return local.replace(tzinfo=zone).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


@bp.route("/<int:thread_id>/reply", methods=["POST"])
@roles(*STAFF_ROLES)
def reply(thread_id: int):
    """Send a one-to-one message in the thread; a channel the customer cannot receive is refused
    with the reason (422) and nothing is written.

    :raise 404: as for the thread; :raise 400: unknown channel.
    """
    found = _thread_or_404(thread_id)
    draft = _draft_from_form()
    try:
        inbox.reply(found, draft, current_user)
    except SendRefused as exc:
        db.session.rollback()
        return render_page(
            "inbox/thread.html",
            "inbox/_conversation.html",
            status=422,
            **_thread_context(found, draft, str(exc)),
        )
    db.session.refresh(found)
    return render_page(
        "inbox/thread.html", "inbox/_conversation.html", **_thread_context(found, sent=True)
    )


@bp.route("/composer", methods=["POST"])
@roles(*STAFF_ROLES)
def composer():
    """The composer's fields for the chosen channel, keeping what was typed (htmx)."""
    draft = _draft_from_form()
    return render_page(
        "inbox/_compose_fields.html",
        "inbox/_compose_fields.html",
        draft=draft,
        many=request.form.get("many") == "1",
    )


# --- One message to one or many customers --------------------------------------------------


def _scoped_customers(ids: list[int]) -> list[Customer]:
    """:raise 404: any id that is not a customer the staff member may see."""
    if not ids:
        return []
    found = db.session.scalars(
        select(Customer).where(Customer.id.in_(ids), customer_scope(current_user))
    ).all()
    if len(found) != len(set(ids)):
        abort(404)
    return sorted(found, key=lambda c: (c.last_name, c.first_name, c.id))


def _posted_ids(name: str = "customer_id") -> list[int]:
    """:raise 400: not ids, or more than a message may list."""
    raw = request.values.getlist(name)
    if len(raw) > MAX_RECIPIENTS_POSTED:
        abort(400, description=_("Too many recipients in one message: use a segment."))
    try:
        return list(dict.fromkeys(int(v) for v in raw))
    except ValueError:
        abort(400, description=_("Unknown recipient."))


def _segment_from_request() -> Segment | None:
    segment_id = request.values.get("segment", type=int)
    if not segment_id:
        return None
    return db.session.get(Segment, segment_id) or abort(404)


def _recipients(segment: Segment | None) -> tuple[list[int], list[Customer], str]:
    """The recipients' ids, the few shown by name, and an error when the segment cannot be evaluated."""
    if segment is None:
        chosen = _scoped_customers(_posted_ids())
        return [c.id for c in chosen], chosen, ""
    try:
        definition = segments.definition_of(segment)
    except SegmentError as exc:
        return [], [], str(exc)
    ids = segments.customer_ids(definition, customer_scope(current_user))
    return ids, [], ""


@bp.route("/new", methods=["GET"])
@roles(*STAFF_ROLES)
def new():
    """Compose one message to one or several chosen customers (each gets their own thread).

    :raise 404: a preselected customer of another location.
    """
    chosen = _scoped_customers(_posted_ids())
    return render_page(
        "inbox/compose.html",
        segment=None,
        chosen=chosen,
        ids=[c.id for c in chosen],
        draft=Draft(channel=Channel.EMAIL),
        review=None,
        error="",
    )


@bp.route("/contact", methods=["GET"])
@roles(*STAFF_ROLES)
def contact():
    """Contact customers of a segment tab: one message, a separate thread for each customer.

    :raise 404: unknown segment.
    """
    segment = _segment_from_request() or abort(404)
    ids, _chosen, error = _recipients(segment)
    return render_page(
        "inbox/compose.html",
        segment=segment,
        chosen=[],
        ids=ids,
        draft=Draft(channel=Channel.EMAIL),
        review=None,
        error=error,
    )


@bp.route("/recipients", methods=["GET"])
@roles(*STAFF_ROLES)
def recipients():
    """The recipient picker: chosen customers plus search results to add (htmx).

    :raise 404: a chosen customer of another location.
    """
    chosen = _scoped_customers(_posted_ids())
    remove = request.args.get("remove", type=int)
    add = request.args.get("add", type=int)
    if add:
        chosen = _scoped_customers([c.id for c in chosen] + [add])
    if remove:
        chosen = [c for c in chosen if c.id != remove]
    query = request.args.get("q", "")[:MAX_SEARCH_LENGTH]
    found = (
        list_customers(customer_scope(current_user), query, None, 10).customers
        if query.strip()
        else []
    )
    return render_page(
        "inbox/_recipients.html", "inbox/_recipients.html", chosen=chosen, found=found, q=query
    )


@bp.route("/send", methods=["POST"])
@roles(*STAFF_ROLES)
def send():
    """Review (the preflight: who receives it on which channel, who is skipped and why), then send.

    `action=review` only computes the preflight; `action=send` sends exactly what was reviewed
    (409 with a fresh review when recipients or consent changed meanwhile).
    :raise 404: a recipient or segment the staff member may not see; :raise 400: bad fields.
    """
    segment = _segment_from_request()
    ids, chosen, error = _recipients(segment)
    draft = _draft_from_form()
    context = {"segment": segment, "chosen": chosen, "ids": ids, "draft": draft, "error": error}
    if error:
        return render_page(
            "inbox/compose.html", "inbox/_review.html", review=None, status=422, **context
        )
    problem = inbox.draft_problem(draft) or (None if ids else _("Choose at least one recipient."))
    if problem:
        return render_page(
            "inbox/compose.html",
            "inbox/_review.html",
            review=None,
            status=422,
            **{**context, "error": problem},
        )
    if request.form.get("action") != "send":
        review = inbox.review(draft, current_user, ids)
        return render_page("inbox/compose.html", "inbox/_review.html", review=review, **context)
    try:
        result = inbox.send_to_many(
            draft, current_user, ids, request.form.get("fingerprint", ""), segment
        )
    except ReviewOutdated as exc:
        db.session.rollback()
        return render_page(
            "inbox/compose.html",
            "inbox/_review.html",
            review=exc.fresh,
            status=409,
            **{**context, "error": str(exc)},
        )
    except SendRefused as exc:
        db.session.rollback()
        review = inbox.review(draft, current_user, ids)
        return render_page(
            "inbox/compose.html",
            "inbox/_review.html",
            review=review,
            status=422,
            **{**context, "error": str(exc)},
        )
    if result.batch_id is None:
        thread_id = inbox.thread_of_customer(ids[0])
        return render_page(
            "inbox/compose.html",
            "inbox/_sent_one.html",
            thread_id=thread_id,
            **context,
            review=None,
        )
    batch = db.session.get(SendBatch, result.batch_id)
    return render_page(
        "inbox/compose.html",
        "inbox/_progress.html",
        batch=batch,
        progress=inbox.batch_progress(batch),
        **context,
        review=None,
    )


@bp.route("/batches/<int:batch_id>")
@roles(*STAFF_ROLES)
def progress(batch_id: int):
    """The progress bar of a send to many; answers 286 (stop polling) once nothing is waiting.

    :raise 404: unknown batch, or another staff member's batch for a location-limited account.
    """
    batch = db.session.get(SendBatch, batch_id) or abort(404)
    limited = current_user.location_id is not None and current_user.role != Role.ADMIN
    if limited and batch.created_by_id != current_user.id:
        abort(404)
    state = inbox.batch_progress(batch)
    stop = state.done or state.scheduled_at is not None
    response = render_page(
        "inbox/_progress.html", "inbox/_progress.html", batch=batch, progress=state
    )
    if stop and request.headers.get("HX-Request"):
        response.status_code = 286
    return response


@bp.app_template_filter("inbox_time")
def inbox_time(value: datetime | None) -> str:
    """Today's messages by time, older ones by date, as mail clients do.

    The locale and time zone are looked up once per request, and each day or minute is
    formatted once: through Flask-Babel each row would cost ten times as much, and a page has
    fifty rows, most of them from the same few days.
    """
    if value is None:
        return ""
    if "inbox_time" not in g:
        zone = get_timezone()
        g.inbox_time = (get_locale(), zone, datetime.now(zone).date(), {})
    locale, zone, today, formatted = g.inbox_time
    local = value.replace(tzinfo=UTC).astimezone(zone)
    key = (local.hour, local.minute) if local.date() == today else local.date()
    if key not in formatted:
        formatted[key] = (
            babel_dates.format_time(local, "short", locale=locale)
            if local.date() == today
            else babel_dates.format_date(local.date(), "medium", locale=locale)
        )
    return formatted[key]


@bp.app_template_filter("local_input")
def local_input(value: datetime | None) -> str:
    """Naive UTC as the value of a datetime-local input in the business's time zone."""
    if value is None:
        return ""
    zone = ZoneInfo(BusinessSettings.get().time_zone or "UTC")
    return value.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).strftime("%Y-%m-%dT%H:%M")
