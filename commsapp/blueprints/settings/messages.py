"""Settings > Sent messages: every message sent on the business's behalf, filterable."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, request

from commsapp.access import roles
from commsapp.blueprints.settings.routes import bp
from commsapp.models import BusinessSettings, Channel, DeliveryStatus, Role
from commsapp.services import inbox
from commsapp.services.inbox import MessageKind, RecipientKind, SentFilters
from commsapp.views_support import render_page


def _enum(enum_cls, value: str | None):
    try:
        return enum_cls(value) if value else None
    except ValueError:
        return None


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _utc(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, zone).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


@bp.route("/messages")
@roles(Role.ADMIN)
def sent_messages():
    """Outgoing messages: transactional, sequences, sent manually, notifications; to customers or staff.

    Filters the UI never sends (unknown values, malformed dates) are ignored rather than refused.
    """
    args = request.args
    zone = ZoneInfo(BusinessSettings.get().time_zone or "UTC")
    since, until = _day(args.get("from")), _day(args.get("to"))
    filters = SentFilters(
        kind=_enum(MessageKind, args.get("kind")),
        recipients=_enum(RecipientKind, args.get("recipients")),
        origin=args.get("origin", "")[:120] or None,
        channel=_enum(Channel, args.get("channel")),
        status=_enum(DeliveryStatus, args.get("status")),
        since=_utc(since, zone) if since else None,
        until=_utc(until + timedelta(days=1), zone) if until else None,
    )
    after = args.get("after", type=int)
    page = inbox.sent_messages(filters, after, current_app.config["PAGE_SIZE"])
    query = {k: v for k, v in args.items() if k != "after" and v}
    context = {"page": page, "filters": filters, "query": query, "args": args}
    if after:
        return render_page("settings/messages.html", "settings/_sent_rows.html", **context)
    return render_page(
        "settings/messages.html",
        "settings/_sent_list.html",
        origins=inbox.sent_origins(),
        **context,
    )
