"""What customers book: class types, templates, series, courses, their sessions, bookings and waitlists."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commsapp.extensions import db
from commsapp.models.base import str_enum, utcnow
from commsapp.models.business import Location
from commsapp.models.people import Customer, Participant, StaffUser


class ClassType(db.Model):
    """A kind of class: Yoga, Ballet, Swimming for children."""

    __tablename__ = "class_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)


class ClassTemplate(db.Model):
    """A reusable class definition that courses are created from."""

    __tablename__ = "class_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    class_type_id: Mapped[int] = mapped_column(ForeignKey("class_types.id"), index=True)
    welcome_message: Mapped[str] = mapped_column(Text, default="")

    class_type: Mapped[ClassType] = relationship()


class RecurringSeries(db.Model):
    """A class that repeats on a schedule, e.g. every Tuesday at 18:00."""

    __tablename__ = "recurring_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    rule: Mapped[str] = mapped_column(String(200), default="")


class Course(db.Model):
    """A bookable offering: a drop-in class, a ten-week block course or a subscription course."""

    __tablename__ = "courses"
    __table_args__ = (Index("ix_courses_location_name", "location_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    description: Mapped[str] = mapped_column(Text, default="")
    class_type_id: Mapped[int] = mapped_column(ForeignKey("class_types.id"), index=True)
    class_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("class_templates.id", ondelete="SET NULL"), index=True
    )
    series_id: Mapped[int | None] = mapped_column(
        ForeignKey("recurring_series.id", ondelete="SET NULL"), index=True
    )
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    teacher_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), index=True
    )
    is_subscription: Mapped[bool] = mapped_column(default=False)

    class_type: Mapped[ClassType] = relationship()
    class_template: Mapped[ClassTemplate | None] = relationship()
    series: Mapped[RecurringSeries | None] = relationship()
    location: Mapped[Location] = relationship()
    teacher: Mapped[StaffUser | None] = relationship()
    sessions: Mapped[list["CourseSession"]] = relationship(
        back_populates="course", order_by="CourseSession.starts_at"
    )


class CourseSession(db.Model):
    """One date of a course (a "Kurstermin")."""

    __tablename__ = "course_sessions"
    __table_args__ = (
        Index("ix_course_sessions_course_starts", "course_id", "starts_at"),
        Index("ix_course_sessions_location_starts", "location_id", "starts_at"),
        Index("ix_course_sessions_starts", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    capacity: Mapped[int] = mapped_column(default=12)
    cancelled: Mapped[bool] = mapped_column(default=False)
    cancellation_note: Mapped[str] = mapped_column(Text, default="")
    welcome_message: Mapped[str] = mapped_column(Text, default="")

    course: Mapped[Course] = relationship(back_populates="sessions")
    location: Mapped[Location] = relationship()
    bookings: Mapped[list["Booking"]] = relationship(back_populates="session")


class BookingStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    NO_SHOW = "no_show"


class PaymentMethod(StrEnum):
    PACKAGE = "package"
    MEMBERSHIP = "membership"
    CREDIT = "credit"
    CASH = "cash"
    SUBSCRIPTION = "subscription"


booking_participants = Table(
    "booking_participants",
    db.metadata,
    Column("booking_id", ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True),
    Column("participant_id", ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_booking_participants_participant", "participant_id"),
)


class Booking(db.Model):
    """A customer's place in a session.

    `course_id` and `starts_at` copy the session's values: segment conditions such as
    "at least 5 visits in 30 days" or "attended course X" then read one covering index
    over millions of bookings instead of joining every row to its session.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        Index("ix_bookings_customer_status_starts", "customer_id", "status", "starts_at"),
        Index("ix_bookings_status_starts_customer", "status", "starts_at", "customer_id"),
        Index("ix_bookings_course_status_customer", "course_id", "status", "customer_id"),
        Index("ix_bookings_session_status", "session_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("course_sessions.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    status: Mapped[BookingStatus] = mapped_column(
        str_enum(BookingStatus, "booking_status"), default=BookingStatus.BOOKED
    )
    paid_with: Mapped[PaymentMethod] = mapped_column(
        str_enum(PaymentMethod, "payment_method"), default=PaymentMethod.CASH
    )
    customer_product_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_products.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship()
    session: Mapped[CourseSession] = relationship(back_populates="bookings")
    participants: Mapped[list[Participant]] = relationship(secondary=booking_participants)


class WaitlistStatus(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    EXPIRED = "expired"


class WaitlistEntry(db.Model):
    __tablename__ = "waitlist_entries"
    __table_args__ = (
        Index("ix_waitlist_session_status_position", "session_id", "status", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("course_sessions.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    status: Mapped[WaitlistStatus] = mapped_column(
        str_enum(WaitlistStatus, "waitlist_status"), default=WaitlistStatus.WAITING
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    offered_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship()
    session: Mapped[CourseSession] = relationship()
