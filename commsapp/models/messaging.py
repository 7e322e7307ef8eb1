"""Messages and their outbox: threads per customer, messages, one delivery row per recipient and channel."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commsapp.extensions import db
from commsapp.models.base import str_enum, utcnow
from commsapp.models.people import Customer, StaffUser


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    IN_APP = "in_app"


class Category(StrEnum):
    MANUAL = "manual"
    TRANSACTIONAL = "transactional"
    MARKETING = "marketing"
    NOTIFICATION = "notification"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class Thread(db.Model):
    """All messages with one customer (or one staff member), across channels."""

    __tablename__ = "threads"
    __table_args__ = (
        Index(
            "uq_threads_customer",
            "customer_id",
            unique=True,
            sqlite_where=text("customer_id IS NOT NULL"),
            postgresql_where=text("customer_id IS NOT NULL"),
        ),
        Index(
            "uq_threads_staff",
            "staff_user_id",
            unique=True,
            sqlite_where=text("staff_user_id IS NOT NULL"),
            postgresql_where=text("staff_user_id IS NOT NULL"),
        ),
        Index("ix_threads_location_last", "location_id", "last_message_at", "id"),
        Index("ix_threads_last", "last_message_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Kept when a customer is deleted: the studio's record of what was sent stays.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime | None]
    last_inbound_at: Mapped[datetime | None]
    last_outbound_at: Mapped[datetime | None]
    unread: Mapped[bool] = mapped_column(default=False)

    customer: Mapped[Customer | None] = relationship()
    staff_user: Mapped[StaffUser | None] = relationship()


class MessageContent(db.Model):
    """What was written, stored once however many customers a message went to."""

    __tablename__ = "message_contents"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(300), default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    sms_text: Mapped[str] = mapped_column(Text, default="")
    # Emails designed in the block editor keep their blocks (JSON): each recipient's copy is
    # rendered from them, because filled-in variables must go through the same escaping.
    blocks_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SendBatch(db.Model):
    """One send to many customers: the sender's view of its progress."""

    __tablename__ = "send_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    recipient_count: Mapped[int] = mapped_column(default=0)
    description: Mapped[str] = mapped_column(String(300), default="")


class Message(db.Model):
    """One message in one thread; a send to many customers makes one per customer."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_thread_created", "thread_id", "created_at", "id"),
        Index("ix_messages_batch", "batch_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    content_id: Mapped[int] = mapped_column(ForeignKey("message_contents.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("send_batches.id", ondelete="SET NULL"))
    direction: Mapped[Direction] = mapped_column(str_enum(Direction, "message_direction"))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "message_channel"))
    category: Mapped[Category] = mapped_column(str_enum(Category, "message_category"))
    # Notifications are marked operational or marketing by their sender; consent follows that.
    is_marketing: Mapped[bool] = mapped_column(default=False)
    # How many customers this was sent to at once: one-to-one messages ignore unsubscribes.
    audience_size: Mapped[int] = mapped_column(default=1)
    sent_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_groups.id", ondelete="SET NULL")
    )
    origin: Mapped[str] = mapped_column(String(120), default="")
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    thread: Mapped[Thread] = relationship()
    content: Mapped[MessageContent] = relationship()
    deliveries: Mapped[list["Delivery"]] = relationship(
        back_populates="message", order_by="Delivery.id"
    )


class Delivery(db.Model):
    """The outbox row: one recipient on one channel, with its fate in words."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_status_next_attempt", "status", "next_attempt_at"),
        Index("ix_deliveries_message", "message_id"),
        # Only sent deliveries have a provider id; a send to 100,000 does not index 100,000 NULLs.
        Index(
            "ix_deliveries_provider_id",
            "provider_id",
            postgresql_where=text("provider_id IS NOT NULL"),
            sqlite_where=text("provider_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "delivery_channel"))
    address: Mapped[str] = mapped_column(String(254), default="")
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    reason: Mapped[str] = mapped_column(String(500), default="")
    attempts: Mapped[int] = mapped_column(default=0)
    provider_id: Mapped[str | None] = mapped_column(String(120))
    # SMS only: the segments billed for it (set when reserved, cleared when it never left).
    segments: Mapped[int | None]
    # What the provider reported afterwards (Twilio status callbacks: delivered, undelivered...).
    provider_status: Mapped[str | None] = mapped_column(String(24))
    provider_error_code: Mapped[str | None] = mapped_column(String(12))
    provider_status_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]

    message: Mapped[Message] = relationship(back_populates="deliveries")
    customer: Mapped[Customer | None] = relationship()
