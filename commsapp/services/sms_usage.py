"""SMS tiers and usage: segments reserved atomically against the monthly allowance, email fallback, admin notice.

Before an SMS leaves, its segments are added to this month's usage by one conditional
UPDATE (`used + n <= allowance`), so any number of workers together never send more than
the tier allows; a send that fails gives its segments back. An SMS that does not fit goes
out by email instead, where the customer has an address and consent allows it for the same
audience, and is skipped with the reason otherwise. The first SMS that does not fit in a
month sends admins one notice linking to the tier page.
"""

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import case, select, update

from commsapp.extensions import db
from commsapp.models import (
    BusinessSettings,
    Category,
    Channel,
    Delivery,
    DeliveryStatus,
    Direction,
    Message,
    MessageContent,
    Role,
    SmsUsageMonth,
    StaffUser,
)
from commsapp.models.base import utcnow
from commsapp.services.consent import Audience, blocked_reason, email_problem, load_recipients
from commsapp.services.email_compose import single_line
from commsapp.services.sms_segments import analyze

log = logging.getLogger(__name__)

# Monthly segment allowances offered on the tier page.
TIERS = (250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000)
TIER_PAGE_PATH = "/settings/sms"
HISTORY_MONTHS = 12
FALLBACK_ORIGIN = "sms_fallback"


# --- Months -------------------------------------------------------------------------------


def _zone(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def month_of(moment: datetime, time_zone: str) -> date:
    """The calendar month (its first day) a naive-UTC moment falls in, in the studio's time zone."""
    local = moment.replace(tzinfo=UTC).astimezone(_zone(time_zone))
    return local.date().replace(day=1)


def previous_month(month: date) -> date:
    return (month - timedelta(days=1)).replace(day=1)


def _ensure_month(month: date, allowance: int) -> None:
    """Create the month's row if it is missing; concurrent callers all succeed."""
    table = SmsUsageMonth.__table__
    dialect = db.session.connection().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(
        insert(table)
        .values(month=month, allowance=allowance, used=0)
        .on_conflict_do_nothing(index_elements=["month"])
    )


def _tier_now():
    """The tier as the database holds it at the moment of the UPDATE, not as this worker read it."""
    return (
        select(BusinessSettings.sms_tier_segments).where(BusinessSettings.id == 1).scalar_subquery()
    )


# --- Reserving and giving back ------------------------------------------------------------


@dataclass(frozen=True)
class Reservation:
    """Segments counted for one delivery in one month."""

    delivery_id: int
    month: date
    segments: int


def reserve(delivery_id: int, sms_text: str, settings: BusinessSettings) -> Reservation | None:
    """Count this SMS's segments in this month's usage and on the delivery; None when they do not fit."""
    segments = analyze(sms_text).segments
    month = month_of(utcnow(), settings.time_zone)
    _ensure_month(month, settings.sms_tier_segments)
    tier = _tier_now()
    # One statement that checks and adds: a second worker's UPDATE waits for this row and
    # re-checks the condition against the committed total, on SQLite and PostgreSQL alike.
    counted = db.session.execute(
        update(SmsUsageMonth)
        .where(SmsUsageMonth.month == month, SmsUsageMonth.used + segments <= tier)
        .values(used=SmsUsageMonth.used + segments, allowance=tier)
    ).rowcount
    if counted != 1:
        db.session.commit()
        return None
    db.session.execute(update(Delivery).where(Delivery.id == delivery_id).values(segments=segments))
    db.session.commit()
    return Reservation(delivery_id, month, segments)


def release(reservation: Reservation) -> None:
    """Give the segments back: the SMS did not leave (an error, a retry later)."""
    cleared = db.session.execute(
        update(Delivery)
        .where(Delivery.id == reservation.delivery_id, Delivery.segments.is_not(None))
        .values(segments=None)
    ).rowcount
    if cleared:
        _give_back(reservation.month, reservation.segments)
    db.session.commit()


def release_unbilled(delivery: Delivery, time_zone: str) -> None:
    """The provider reports it never sent this SMS (and does not bill it): its segments come back.

    Clearing `segments` first makes a repeated report give nothing back twice. The caller commits.
    """
    segments, sent_at = delivery.segments, delivery.sent_at
    if not segments:
        return
    cleared = db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.segments.is_not(None))
        .values(segments=None)
    ).rowcount
    if cleared:
        _give_back(month_of(sent_at or utcnow(), time_zone), segments)


def _give_back(month: date, segments: int) -> None:
    used = SmsUsageMonth.used
    db.session.execute(
        update(SmsUsageMonth)
        .where(SmsUsageMonth.month == month)
        .values(used=case((used >= segments, used - segments), else_=0))
    )


# --- Over the allowance: email instead, and one notice ------------------------------------


def reserve_or_fall_back(
    delivery: Delivery,
    message: Message,
    content: MessageContent,
    customer,
    audience: Audience,
    settings: BusinessSettings,
) -> Reservation | None:
    """Reserve the SMS's segments; when they do not fit, send it by email or skip it with the reason.

    Returns None when the SMS must not be sent (the delivery is then already finished).
    """
    reservation = reserve(delivery.id, content.sms_text, settings)
    if reservation is not None:
        return reservation
    month = month_of(utcnow(), settings.time_zone)
    allowance = db.session.scalar(
        select(SmsUsageMonth.allowance).where(SmsUsageMonth.month == month)
    )
    fall_back_to_email(delivery, message, content, customer, audience, settings, month, allowance)
    notify_admins_once(month, allowance or 0, settings)
    return None


def fall_back_to_email(
    delivery: Delivery,
    message: Message,
    content: MessageContent,
    customer,
    audience: Audience,
    settings: BusinessSettings,
    month: date,
    allowance: int | None,
) -> str:
    """Finish the SMS delivery as skipped and, where allowed, queue the text as an email; returns the reason."""
    used_up = f"the SMS allowance ({allowance or 0:,} segments for {month:%Y-%m}) is used up"
    recipient = load_recipients([customer.id], message.group_id).get(customer.id)
    problem = (
        "the customer no longer exists"
        if recipient is None
        else blocked_reason(recipient, Channel.EMAIL, audience, settings.default_region)
    )
    if problem is None:
        problem = email_problem(recipient.email)
    now = utcnow()
    email_delivery_id = None
    if problem:
        reason = f"{used_up}; not sent by email either: {problem}"
    else:
        reason = f"{used_up}; sent by email instead"
        content_id = _fallback_content_id(content, settings)
        email_message = Message(
            thread_id=message.thread_id,
            content_id=content_id,
            direction=Direction.OUTBOUND,
            channel=Channel.EMAIL,
            category=message.category,
            is_marketing=message.is_marketing,
            audience_size=message.audience_size,
            sent_by_id=message.sent_by_id,
            group_id=message.group_id,
            origin=FALLBACK_ORIGIN,
            location_id=message.location_id,
            created_at=now,
        )
        email_delivery = Delivery(
            message=email_message,
            customer_id=customer.id,
            channel=Channel.EMAIL,
            address=recipient.email[:254],
            created_at=now,
            next_attempt_at=now,
            enqueued_at=now,
        )
        db.session.add_all([email_message, email_delivery])
        db.session.flush()
        email_delivery_id = email_delivery.id
    # The skip and the email that replaces it commit together: a crash leaves neither or both.
    db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.SKIPPED, reason=reason[:500], segments=None)
    )
    db.session.commit()
    if email_delivery_id is not None:
        from commsapp.services.outbox import enqueue_deliveries

        enqueue_deliveries([email_delivery_id])
    return reason


# The email version of an SMS text is written once per text, not once per recipient.
_fallback_contents: dict[int, int] = {}
_fallback_lock = threading.Lock()


def _fallback_content_id(content: MessageContent, settings: BusinessSettings) -> int:
    text = content.sms_text.replace("\r\n", "\n")
    subject = single_line(content.subject or settings.name)[:300]
    with _fallback_lock:
        known = _fallback_contents.get(content.id)
    if known is not None:
        # Ids can come back after rows are deleted (SQLite): only a copy of this text will do.
        cached = db.session.get(MessageContent, known)
        if cached is not None and (cached.body_text, cached.subject) == (text, subject):
            return known
    email_content = MessageContent(
        subject=subject,
        body_html="<p>" + escape(text).replace("\n", "<br>") + "</p>",
        body_text=text,
    )
    db.session.add(email_content)
    db.session.flush()
    with _fallback_lock:
        if len(_fallback_contents) > 1000:
            _fallback_contents.clear()
        _fallback_contents[content.id] = email_content.id
    return email_content.id


def notify_admins_once(month: date, allowance: int, settings: BusinessSettings) -> bool:
    """Tell the admins that SMS are paused, once a month; True when this call sent the notice."""
    from commsapp.services.outbox import MessageSpec, SendRefused, send_to_staff

    admins = list(
        db.session.scalars(
            select(StaffUser.id).where(StaffUser.role == Role.ADMIN, StaffUser.active.is_(True))
        )
    )
    # The flag and the notice commit together (send_to_staff commits): the row stays locked
    # meanwhile, so a second worker finds the flag set rather than sending a second notice.
    claimed = db.session.execute(
        update(SmsUsageMonth)
        .where(SmsUsageMonth.month == month, SmsUsageMonth.paused_notice_at.is_(None))
        .values(paused_notice_at=utcnow())
    ).rowcount
    if not claimed:
        db.session.rollback()
        return False
    if not admins:
        db.session.commit()
        return True
    link = f"{current_app.config['PUBLIC_BASE_URL']}{TIER_PAGE_PATH}"
    body = (
        f"<p>{escape(settings.name)} has used all {allowance:,} SMS segments of its tier for "
        f"{month:%Y-%m}. Until the month ends or the tier is upgraded, SMS are not sent: they go "
        "out by email where the customer has an address and has not unsubscribed, and are "
        "skipped otherwise.</p>"
        f'<p><a href="{escape(link)}">Upgrade the SMS tier</a> to send SMS again this month.</p>'
    )
    try:
        send_to_staff(
            MessageSpec(
                category=Category.NOTIFICATION,
                channel=Channel.EMAIL,
                subject="SMS are paused: this month's SMS allowance is used up",
                body_html=body,
                origin="sms_paused",
            ),
            admins,
        )
    except SendRefused:
        db.session.rollback()
        log.warning("could not send the SMS-paused notice for %s", month)
        return False
    return True


# --- The tier -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TierChange:
    old: int
    new: int

    @property
    def direction(self) -> str:
        if self.new > self.old:
            return "upgrade"
        return "downgrade" if self.new < self.old else "unchanged"


def change_tier(allowance: int) -> TierChange:
    """Set the monthly allowance; it applies to the current month at once.

    :raise ValueError: not one of the offered tiers.
    """
    if allowance not in TIERS:
        raise ValueError(f"{allowance} is not one of the SMS tiers")
    settings = BusinessSettings.get()
    change = TierChange(settings.sms_tier_segments, allowance)
    settings.sms_tier_segments = allowance
    month = month_of(utcnow(), settings.time_zone)
    _ensure_month(month, allowance)
    values: dict = {"allowance": allowance}
    if change.direction == "upgrade":
        # A fresh allowance that runs out again deserves a fresh notice.
        values["paused_notice_at"] = None
    db.session.execute(update(SmsUsageMonth).where(SmsUsageMonth.month == month).values(**values))
    db.session.commit()
    return change


# --- What the tier page shows -------------------------------------------------------------


@dataclass(frozen=True)
class MonthUsage:
    month: date
    used: int
    allowance: int | None


@dataclass(frozen=True)
class UsageOverview:
    month: date
    used: int
    allowance: int
    paused: bool
    history: list[MonthUsage]

    @property
    def remaining(self) -> int:
        return max(self.allowance - self.used, 0)

    @property
    def percent(self) -> int:
        if self.allowance <= 0:
            return 100 if self.used or self.paused else 0
        return min(100, round(100 * self.used / self.allowance))


def usage_overview(settings: BusinessSettings, now: datetime | None = None) -> UsageOverview:
    """This month's usage against the tier, and the last twelve months (oldest first)."""
    month = month_of(now or utcnow(), settings.time_zone)
    months = [month]
    for _ in range(HISTORY_MONTHS - 1):
        months.append(previous_month(months[-1]))
    months.reverse()
    rows = {
        row.month: row
        for row in db.session.scalars(select(SmsUsageMonth).where(SmsUsageMonth.month >= months[0]))
    }
    history = [
        MonthUsage(
            m,
            rows[m].used if m in rows else 0,
            settings.sms_tier_segments
            if m == month
            else (rows[m].allowance if m in rows else None),
        )
        for m in months
    ]
    current = rows.get(month)
    used = current.used if current else 0
    paused = used >= settings.sms_tier_segments or (
        current is not None and current.paused_notice_at is not None
    )
    return UsageOverview(month, used, settings.sms_tier_segments, paused, history)


@dataclass(frozen=True)
class ChartBar:
    month: date
    used: int
    allowance: int | None
    x: float
    y: float
    height: float
    allowance_y: float | None
    over: bool


CHART_WIDTH = 600
CHART_HEIGHT = 180
_BAR_GAP = 10


def chart_bars(history: list[MonthUsage]) -> list[ChartBar]:
    """Geometry of the usage bar chart (an inline SVG, CHART_WIDTH x CHART_HEIGHT)."""
    top = max([1] + [m.used for m in history] + [m.allowance or 0 for m in history])
    slot = CHART_WIDTH / max(len(history), 1)
    bars = []
    for index, item in enumerate(history):
        height = CHART_HEIGHT * item.used / top
        bars.append(
            ChartBar(
                month=item.month,
                used=item.used,
                allowance=item.allowance,
                x=round(index * slot + _BAR_GAP / 2, 1),
                y=round(CHART_HEIGHT - height, 1),
                height=round(height, 1),
                allowance_y=(
                    round(CHART_HEIGHT - CHART_HEIGHT * item.allowance / top, 1)
                    if item.allowance
                    else None
                ),
                over=bool(item.allowance is not None and item.used >= item.allowance > 0),
            )
        )
    return bars


def bar_width(history: list[MonthUsage]) -> float:
    return round(CHART_WIDTH / max(len(history), 1) - _BAR_GAP, 1)
