"""The inbox: per-customer threads with filters and keyset pages, replies, sends to many, sent messages."""

import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from flask import has_request_context
from flask_babel import gettext
from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import selectinload

from commsapp.extensions import db
from commsapp.models import (
    Category,
    Channel,
    Customer,
    Delivery,
    DeliveryStatus,
    Direction,
    Message,
    MessageContent,
    Segment,
    SendBatch,
    StaffUser,
    Thread,
)
from commsapp.models.base import utcnow
from commsapp.services import customers, outbox, segments
from commsapp.services.outbox import MessageSpec, Preflight, SendRefused

PREVIEW_CHARACTERS = 140
THREAD_MESSAGES = 200


def _(text: str, **values) -> str:
    """Translated for the staff member in a request; plain English in the CLI, jobs and tests."""
    if has_request_context():
        return gettext(text, **values)
    return text % values if values else text


class MessageKind(StrEnum):
    """What staff filter by; "sequence" is marketing sent by an automated sequence."""

    MANUAL = "manual"
    TRANSACTIONAL = "transactional"
    SEQUENCE = "sequence"
    NOTIFICATION = "notification"
    MARKETING = "marketing"


def kind_condition(kind: MessageKind) -> ColumnElement[bool]:
    """Messages of this kind; the kinds describe what the studio sent, so they are outbound."""
    sequence = Message.origin.like("sequence%")
    by_kind = {
        MessageKind.MANUAL: Message.category == Category.MANUAL,
        MessageKind.TRANSACTIONAL: Message.category == Category.TRANSACTIONAL,
        MessageKind.NOTIFICATION: Message.category == Category.NOTIFICATION,
        MessageKind.SEQUENCE: and_(Message.category == Category.MARKETING, sequence),
        MessageKind.MARKETING: and_(Message.category == Category.MARKETING, ~sequence),
    }
    return and_(Message.direction == Direction.OUTBOUND, by_kind[kind])


def kind_of(message_category: Category, origin: str) -> MessageKind:
    if message_category == Category.MARKETING and (origin or "").startswith("sequence"):
        return MessageKind.SEQUENCE
    return MessageKind(message_category.value)


# --- The thread list ----------------------------------------------------------------------


@dataclass(frozen=True)
class InboxFilters:
    unread: bool = False
    unanswered: bool = False
    kind: MessageKind | None = None
    channel: Channel | None = None
    segment: Segment | None = None
    query: str = ""
    oldest_first: bool = False

    @property
    def message_conditions(self) -> list[ColumnElement[bool]]:
        conditions = []
        if self.kind is not None:
            conditions.append(kind_condition(self.kind))
        if self.channel is not None:
            conditions.append(Message.channel == self.channel)
        return conditions


@dataclass(frozen=True)
class ThreadRow:
    thread_id: int
    customer_id: int
    name: str
    unread: bool
    awaiting_reply: bool
    last_message_at: datetime
    preview: str = ""
    subject: str = ""
    channel: Channel | None = None
    direction: Direction | None = None
    kind: MessageKind | None = None


@dataclass(frozen=True)
class InboxPage:
    rows: list[ThreadRow]
    next_after: int | None


def unanswered_condition() -> ColumnElement[bool]:
    """The customer wrote last and nobody replied since, read or not (matches the partial index)."""
    return and_(
        Thread.customer_id.is_not(None),
        Thread.last_inbound_at.is_not(None),
        or_(Thread.last_outbound_at.is_(None), Thread.last_outbound_at < Thread.last_inbound_at),
    )


def unread_condition() -> ColumnElement[bool]:
    return and_(Thread.unread, Thread.customer_id.is_not(None))


def list_threads(
    scope: ColumnElement[bool],
    filters: InboxFilters,
    after_thread_id: int | None = None,
    page_size: int = 50,
) -> InboxPage:
    """One page of customer threads, newest (or oldest) first; `after` continues a page (keyset).

    `scope` is the staff member's customer scope: threads of other locations never appear.
    :raise segments.SegmentError: the segment tab's definition cannot be evaluated.
    """
    stmt = (
        select(
            Thread.id,
            Thread.customer_id,
            Thread.unread,
            Thread.last_message_at,
            Thread.last_inbound_at,
            Thread.last_outbound_at,
            Customer.first_name,
            Customer.last_name,
        )
        .join(Customer, Customer.id == Thread.customer_id)
        .where(scope, Thread.last_message_at.is_not(None))
    )
    if filters.unread:
        stmt = stmt.where(unread_condition())
    if filters.unanswered:
        stmt = stmt.where(unanswered_condition())
    if filters.message_conditions:
        stmt = stmt.where(
            exists(
                select(Message.id).where(
                    Message.thread_id == Thread.id, *filters.message_conditions
                )
            )
        )
    if filters.segment is not None:
        definition = segments.definition_of(filters.segment)
        stmt = stmt.where(Thread.customer_id.in_(segments.ids_subquery(definition, scope)))
    search = customers.search_condition(filters.query)
    if search is not None:
        # Found first (by the trigram index), then the threads walked in order:
        # left to itself the planner tests the search on every thread's customer in turn.
        found = select(Customer.id).where(search).cte("found").prefix_with("MATERIALIZED")
        stmt = stmt.where(Thread.customer_id.in_(select(found.c.id)))
    key = tuple_(Thread.last_message_at, Thread.id)
    if after_thread_id is not None:
        anchor = db.session.execute(
            select(Thread.last_message_at, Thread.id).where(Thread.id == after_thread_id)
        ).first()
        if anchor is not None and anchor.last_message_at is not None:
            anchor_key = tuple_(anchor.last_message_at, anchor.id)
            stmt = stmt.where(key > anchor_key if filters.oldest_first else key < anchor_key)
    if filters.oldest_first:
        stmt = stmt.order_by(Thread.last_message_at.asc(), Thread.id.asc())
    else:
        stmt = stmt.order_by(Thread.last_message_at.desc(), Thread.id.desc())
    rows = db.session.execute(stmt.limit(page_size + 1)).all()
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    latest = _latest_messages([r.id for r in rows], filters.message_conditions)
    result = []
    for row in rows:
        message = latest.get(row.id)
        awaiting = row.last_inbound_at is not None and (
            row.last_outbound_at is None or row.last_outbound_at < row.last_inbound_at
        )
        extra = {}
        if message is not None:
            text = message.subject if message.subject and not message.text else message.text
            extra = {
                "preview": " ".join((text or "").split())[:PREVIEW_CHARACTERS],
                "subject": message.subject or "",
                "channel": message.channel,
                "direction": message.direction,
                "kind": kind_of(message.category, message.origin),
            }
        result.append(
            ThreadRow(
                thread_id=row.id,
                customer_id=row.customer_id,
                name=f"{row.first_name} {row.last_name}".strip(),
                unread=row.unread,
                awaiting_reply=awaiting,
                last_message_at=row.last_message_at,
                **extra,
            )
        )
    return InboxPage(result, rows[-1].id if has_more else None)


def _latest_messages(thread_ids: list[int], conditions: list[ColumnElement[bool]]) -> dict:
    """The newest message of each thread (of the filtered kind/channel), one query for the page.

    Each thread's newest message is one step backwards in the (thread_id, created_at, id)
    index; the page's busiest threads can hold thousands of messages that are never read.
    """
    if not thread_ids:
        return {}
    newest = (
        select(Message.id)
        .where(Message.thread_id == Thread.id, *conditions)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
        .correlate(Thread)
        .scalar_subquery()
    )
    text = func.coalesce(
        func.nullif(MessageContent.body_text, ""), func.nullif(MessageContent.sms_text, ""), ""
    )
    rows = db.session.execute(
        select(
            Message.thread_id,
            Message.channel,
            Message.direction,
            Message.category,
            Message.origin,
            MessageContent.subject,
            func.substr(text, 1, PREVIEW_CHARACTERS * 2).label("text"),
        )
        .join(MessageContent, MessageContent.id == Message.content_id)
        .where(Message.id.in_(select(newest).where(Thread.id.in_(thread_ids))))
    ).all()
    return {row.thread_id: row for row in rows}


# --- One thread ---------------------------------------------------------------------------


def get_thread(thread_id: int, scope: ColumnElement[bool]) -> Thread | None:
    """A customer thread inside the scope, or None (the view answers 404)."""
    return db.session.scalar(
        select(Thread)
        .join(Customer, Customer.id == Thread.customer_id)
        .where(Thread.id == thread_id, scope)
    )


def thread_messages(thread_id: int, limit: int = THREAD_MESSAGES) -> list[Message]:
    """The thread's latest messages in time order, across channels, with content and deliveries."""
    newest = list(
        db.session.scalars(
            select(Message)
            .where(Message.thread_id == thread_id)
            .options(selectinload(Message.content), selectinload(Message.deliveries))
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(limit)
        )
    )
    newest.reverse()
    return newest


def thread_of_customer(customer_id: int) -> int | None:
    return db.session.scalar(select(Thread.id).where(Thread.customer_id == customer_id))


def mark_read(thread: Thread, unread: bool = False) -> None:
    db.session.execute(update(Thread).where(Thread.id == thread.id).values(unread=unread))
    db.session.commit()
    db.session.refresh(thread)


# --- Composing ----------------------------------------------------------------------------

MAX_SUBJECT = 300
MAX_BODY = 20_000


@dataclass(frozen=True)
class Draft:
    """What the staff member typed in the composer."""

    channel: Channel
    subject: str = ""
    body: str = ""
    sms_text: str = ""
    send_at: datetime | None = None


def text_to_html(text: str) -> str:
    """Plain text typed by staff as paragraphs and line breaks; everything else escaped."""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


def draft_problem(draft: Draft) -> str | None:
    """What keeps the draft from being sent, in words, or None."""
    if draft.channel == Channel.SMS:
        if not draft.sms_text.strip():
            return _("Write the SMS text.")
        from commsapp.services.sms_segments import validate_length

        return validate_length(draft.sms_text)
    if draft.channel == Channel.EMAIL and not draft.subject.strip():
        return _("An email needs a subject.")
    if not draft.body.strip():
        return _("Write the message.")
    if len(draft.body) > MAX_BODY:
        return _("The message is too long (at most %(max)d characters).", max=MAX_BODY)
    if draft.send_at is not None and draft.send_at <= utcnow():
        return _("The time to send lies in the past.")
    return None


def spec_for(draft: Draft, staff: StaffUser, description: str = "") -> MessageSpec:
    return MessageSpec(
        category=Category.MANUAL,
        channel=draft.channel,
        subject=draft.subject[:MAX_SUBJECT] if draft.channel == Channel.EMAIL else "",
        body_html=text_to_html(draft.body) if draft.channel != Channel.SMS else "",
        sms_text=draft.sms_text if draft.channel == Channel.SMS else "",
        sent_by_id=staff.id,
        origin="inbox",
        location_id=staff.location_id,
        scheduled_at=draft.send_at,
        description=description[:300],
    )


def channel_reasons(customer_id: int) -> dict[Channel, str | None]:
    """For a one-to-one message: why each channel cannot reach this customer (None: it can)."""
    reasons = {}
    for channel in Channel:
        check = outbox.preflight(
            MessageSpec(category=Category.MANUAL, channel=channel), [customer_id]
        )
        reasons[channel] = next(iter(check.skipped), None) if check.skipped else None
    return reasons


def reply(thread: Thread, draft: Draft, staff: StaffUser) -> outbox.SendResult:
    """Send a one-to-one message in the thread.

    :raise SendRefused: the draft is incomplete or the customer cannot receive this channel;
        nothing is written then.
    """
    problem = draft_problem(draft)
    if problem:
        raise SendRefused(problem)
    spec = spec_for(draft, staff)
    check = outbox.preflight(spec, [thread.customer_id])
    if check.refused:
        raise SendRefused(check.refused)
    if check.skipped:
        reason = next(iter(check.skipped))
        raise SendRefused(_("This customer cannot receive it: %(reason)s.", reason=reason))
    result = outbox.send(spec, [thread.customer_id])
    db.session.execute(update(Thread).where(Thread.id == thread.id).values(unread=False))
    db.session.commit()
    return result


# --- One message to many ------------------------------------------------------------------


@dataclass
class Review:
    """The preflight the staff member sees before a send, and its fingerprint."""

    preflight: Preflight
    customer_count: int
    fingerprint: str
    skipped: list[tuple[str, int]] = field(default_factory=list)

    @property
    def can_send(self) -> bool:
        return not self.preflight.refused and self.preflight.will_receive > 0


def review(draft: Draft, staff: StaffUser, customer_ids: Sequence[int]) -> Review:
    """Who receives the message on which channel, who is skipped and why; nothing is written."""
    spec = spec_for(draft, staff)
    ids = sorted(set(customer_ids))
    check = outbox.preflight(spec, ids)
    digest = hashlib.sha256()
    digest.update(f"{draft.channel.value}|{','.join(map(str, ids))}|{check.will_receive}".encode())
    for reason, count in sorted(check.skipped.items()):
        digest.update(f"|{reason}={count}".encode())
    skipped = sorted(check.skipped.items(), key=lambda item: (-item[1], item[0]))
    return Review(check, len(ids), digest.hexdigest()[:32], skipped)


class ReviewOutdated(ValueError):
    """The recipients or their consent changed since the preflight the staff member saw."""

    def __init__(self, fresh: Review) -> None:
        super().__init__(
            _("The recipients changed since you reviewed this message: review it again.")
        )
        self.fresh = fresh


def send_to_many(
    draft: Draft,
    staff: StaffUser,
    customer_ids: Sequence[int],
    fingerprint: str,
    segment: Segment | None = None,
) -> outbox.SendResult:
    """Send one message as a separate thread to each customer, exactly as reviewed.

    :raise ReviewOutdated: the preflight now differs from the one that was shown.
    :raise SendRefused: empty draft, plan limit, abuse lock or nobody would receive it.
    """
    problem = draft_problem(draft)
    if problem:
        raise SendRefused(problem)
    fresh = review(draft, staff, customer_ids)
    if fresh.fingerprint != fingerprint:
        raise ReviewOutdated(fresh)
    if fresh.preflight.refused:
        raise SendRefused(fresh.preflight.refused)
    if fresh.preflight.will_receive == 0:
        raise SendRefused(_("Nobody would receive this message."))
    description = (
        segment.name
        if segment
        else _("Message to %(count)d customers", count=len(set(customer_ids)))
    )
    result = outbox.send(spec_for(draft, staff, description), sorted(set(customer_ids)))
    if segment is not None and result.batch_id is not None:
        db.session.execute(
            update(SendBatch).where(SendBatch.id == result.batch_id).values(segment_id=segment.id)
        )
        db.session.commit()
    return result


@dataclass(frozen=True)
class Progress:
    total: int
    sent: int
    failed: int
    skipped: int
    waiting: int
    scheduled_at: datetime | None

    @property
    def done(self) -> bool:
        return self.waiting == 0

    @property
    def percent(self) -> int:
        finished = self.sent + self.failed + self.skipped
        return round(100 * finished / self.total) if self.total else 100


def batch_progress(batch: SendBatch) -> Progress:
    counts = outbox.batch_progress(batch.id)
    waiting = counts.get(DeliveryStatus.PENDING.value, 0) + counts.get(
        DeliveryStatus.SENDING.value, 0
    )
    scheduled_at = None
    if waiting:
        due = db.session.scalar(
            select(func.min(Delivery.next_attempt_at))
            .join(Message, Message.id == Delivery.message_id)
            .where(Message.batch_id == batch.id, Delivery.status == DeliveryStatus.PENDING)
        )
        if due is not None and due > utcnow():
            scheduled_at = due
    return Progress(
        total=sum(counts.values()),
        sent=counts.get(DeliveryStatus.SENT.value, 0),
        failed=counts.get(DeliveryStatus.FAILED.value, 0),
        skipped=counts.get(DeliveryStatus.SKIPPED.value, 0),
        waiting=waiting,
        scheduled_at=scheduled_at,
    )


# --- Sent messages ------------------------------------------------------------------------


class RecipientKind(StrEnum):
    CUSTOMERS = "customers"
    STAFF = "staff"


@dataclass(frozen=True)
class SentFilters:
    kind: MessageKind | None = None
    recipients: RecipientKind | None = None
    origin: str | None = None
    channel: Channel | None = None
    status: DeliveryStatus | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class SentRow:
    delivery_id: int
    created_at: datetime
    recipient: str
    recipient_is_staff: bool
    customer_id: int | None
    thread_id: int
    channel: Channel
    kind: MessageKind
    origin: str
    subject: str
    status: DeliveryStatus
    reason: str


@dataclass(frozen=True)
class SentPage:
    rows: list[SentRow]
    next_after: int | None


def sent_messages(filters: SentFilters, after_delivery_id: int | None, page_size: int) -> SentPage:
    """Every outgoing delivery, newest first (keyset on created_at, id)."""
    stmt = (
        select(
            Delivery.id,
            Delivery.created_at,
            Delivery.customer_id,
            Delivery.staff_user_id,
            Delivery.channel,
            Delivery.status,
            Delivery.reason,
            Message.thread_id,
            Message.category,
            Message.origin,
            MessageContent.subject,
            func.substr(
                func.coalesce(
                    func.nullif(MessageContent.body_text, ""), MessageContent.sms_text, ""
                ),
                1,
                PREVIEW_CHARACTERS * 2,
            ).label("text"),
            Customer.first_name,
            Customer.last_name,
            StaffUser.name.label("staff_name"),
        )
        .join(Message, Message.id == Delivery.message_id)
        .join(MessageContent, MessageContent.id == Message.content_id)
        .outerjoin(Customer, Customer.id == Delivery.customer_id)
        .outerjoin(StaffUser, StaffUser.id == Delivery.staff_user_id)
        .where(Message.direction == Direction.OUTBOUND)
    )
    if filters.kind is not None:
        stmt = stmt.where(kind_condition(filters.kind))
    if filters.recipients == RecipientKind.CUSTOMERS:
        stmt = stmt.where(Delivery.staff_user_id.is_(None))
    elif filters.recipients == RecipientKind.STAFF:
        stmt = stmt.where(Delivery.staff_user_id.is_not(None))
    if filters.origin:
        stmt = stmt.where(Message.origin == filters.origin)
    if filters.channel is not None:
        stmt = stmt.where(Delivery.channel == filters.channel)
    if filters.status is not None:
        stmt = stmt.where(Delivery.status == filters.status)
    if filters.since is not None:
        stmt = stmt.where(Delivery.created_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(Delivery.created_at < filters.until)
    if after_delivery_id is not None:
        anchor = db.session.execute(
            select(Delivery.created_at, Delivery.id).where(Delivery.id == after_delivery_id)
        ).first()
        if anchor is not None:
            stmt = stmt.where(
                tuple_(Delivery.created_at, Delivery.id) < tuple_(anchor.created_at, anchor.id)
            )
    stmt = stmt.order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(page_size + 1)
    rows = db.session.execute(stmt).all()
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    return SentPage(
        [
            SentRow(
                delivery_id=r.id,
                created_at=r.created_at,
                recipient=r.staff_name
                if r.staff_user_id
                else f"{r.first_name or ''} {r.last_name or ''}".strip() or _("deleted customer"),
                recipient_is_staff=r.staff_user_id is not None,
                customer_id=r.customer_id,
                thread_id=r.thread_id,
                channel=r.channel,
                kind=kind_of(r.category, r.origin),
                origin=r.origin,
                subject=r.subject or " ".join((r.text or "").split())[:PREVIEW_CHARACTERS],
                status=r.status,
                reason=r.reason,
            )
            for r in rows
        ],
        rows[-1].id if has_more else None,
    )


def sent_origins(limit: int = 200) -> list[str]:
    """The templates and sources outgoing messages came from, for the filter."""
    return list(
        db.session.scalars(
            select(Message.origin)
            .where(Message.direction == Direction.OUTBOUND, Message.origin != "")
            .group_by(Message.origin)
            .order_by(Message.origin)
            .limit(limit)
        )
    )
