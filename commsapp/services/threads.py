"""Threads: where inbound messages land and how a thread's unread state changes."""

from sqlalchemy import select

from commsapp.extensions import db
from commsapp.models import Category, Channel, Customer, Direction, Message, MessageContent, Thread
from commsapp.models.base import utcnow


def thread_for_customer(customer: Customer) -> Thread:
    thread = db.session.scalar(select(Thread).where(Thread.customer_id == customer.id))
    if thread is None:
        thread = Thread(customer_id=customer.id, location_id=customer.home_location_id)
        db.session.add(thread)
        db.session.flush()
    return thread


def record_inbound_message(
    customer: Customer, channel: Channel, body_text: str, subject: str = "", origin: str = ""
) -> Message:
    """A message from the customer (an SMS reply, an in-app message): it lands in their thread as unread."""
    now = utcnow()
    thread = thread_for_customer(customer)
    content = MessageContent(
        subject=subject[:300],
        body_text=body_text,
        sms_text=body_text if channel == Channel.SMS else "",
    )
    message = Message(
        thread=thread,
        content=content,
        direction=Direction.INBOUND,
        channel=channel,
        category=Category.MANUAL,
        origin=origin,
        location_id=customer.home_location_id,
        created_at=now,
    )
    thread.last_message_at = thread.last_inbound_at = now
    thread.unread = True
    db.session.add_all([content, message])
    db.session.flush()
    return message
