"""Saved customer segments, and the indexes the inbox and segment queries read."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from commsapp.extensions import db
from commsapp.models.base import utcnow
from commsapp.models.messaging import Delivery, SendBatch, Thread
from commsapp.models.people import Customer


class Segment(db.Model):
    """A saved filter over customers: a tree of conditions kept as JSON, shown as a tab."""

    __tablename__ = "segments"
    __table_args__ = (Index("ix_segments_position", "position", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # The condition tree as JSON; `services.segments` validates it before it is stored.
    definition: Mapped[str] = mapped_column(Text)
    # Tab order at the top of the customer list and the inbox (one business per installation).
    position: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CourseAttendance(db.Model):
    """How often a customer attended one course, first and last time: a summary of `bookings`.

    Segment conditions on visits ("attended Yoga", "attended course X in the last 30 days")
    read this instead of millions of bookings. Database triggers on `bookings` keep it exact
    whoever writes bookings (migration 0004_segments_inbox); nothing in Python writes it.
    A later migration that rebuilds `bookings` on SQLite (batch mode copies the table) drops
    those triggers with the old table and must create them again.
    """

    __tablename__ = "course_attendance"
    __table_args__ = (
        Index("ix_course_attendance_course_last", "course_id", "last_visit_at", "customer_id"),
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    course_id: Mapped[int] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True
    )
    visits: Mapped[int]
    first_visit_at: Mapped[datetime]
    last_visit_at: Mapped[datetime]


class ClassTypeAttendance(db.Model):
    """A customer's visits to one class type (all its courses together): "attended Yoga".

    The sum of `CourseAttendance` over the type's courses, kept by triggers on
    `course_attendance` and on `courses.class_type_id` (migration 0006_segment_speed), so a
    condition on class types reads one row per customer and type instead of one per course.
    """

    __tablename__ = "class_type_attendance"
    # Customers in id order within a type: SQLite collects "any of these types" into its IN
    # list by appending rather than by random inserts (20 instead of 34 ms for 54,000 customers).
    __table_args__ = (
        Index(
            "ix_class_type_attendance_type_customer",
            "class_type_id",
            "customer_id",
            "last_visit_at",
        ),
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    class_type_id: Mapped[int] = mapped_column(
        ForeignKey("class_types.id", ondelete="CASCADE"), primary_key=True
    )
    visits: Mapped[int]
    first_visit_at: Mapped[datetime]
    last_visit_at: Mapped[datetime]


class CustomerAttendance(db.Model):
    """A customer's visits over all courses, first and last: "lapsed", "first visit this week".

    Kept by the same triggers as `CourseAttendance`, from which it is the sum per customer.
    """

    __tablename__ = "customer_attendance"
    __table_args__ = (
        Index("ix_customer_attendance_last", "last_visit_at", "customer_id"),
        Index("ix_customer_attendance_first", "first_visit_at", "customer_id"),
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    visits: Mapped[int]
    first_visit_at: Mapped[datetime]
    last_visit_at: Mapped[datetime]


# The send that contacted a segment remembers it, so a segment a scheduled send still needs
# cannot be deleted silently. The column lives here, with segments, rather than in the
# sending core's module; migration 0004_segments_inbox adds it.
SendBatch.segment_id = Column(
    "segment_id", Integer, ForeignKey("segments.id", ondelete="SET NULL"), nullable=True
)
Index("ix_send_batches_segment", SendBatch.__table__.c.segment_id)

# The inbox's Unread and Unanswered filters read these partial indexes in list order,
# so a filter that matches few threads never scans the whole thread table.
UNANSWERED_SQL = (
    "customer_id IS NOT NULL AND last_inbound_at IS NOT NULL"
    " AND (last_outbound_at IS NULL OR last_outbound_at < last_inbound_at)"
)
Index(
    "ix_threads_unread_last",
    Thread.__table__.c.last_message_at,
    Thread.__table__.c.id,
    # Written as each database renders `WHERE threads.unread`, so the planner matches it.
    sqlite_where=text("unread = 1 AND customer_id IS NOT NULL"),
    postgresql_where=text("unread AND customer_id IS NOT NULL"),
)
Index(
    "ix_threads_unanswered_last",
    Thread.__table__.c.last_message_at,
    Thread.__table__.c.id,
    sqlite_where=text(UNANSWERED_SQL),
    postgresql_where=text(UNANSWERED_SQL),
)
# Settings > Sent messages lists deliveries newest first.
Index("ix_deliveries_created", Delivery.__table__.c.created_at, Delivery.__table__.c.id)

# The inbox's search on PostgreSQL: trigrams of exactly the expression `services.inbox` searches
# (SQLite has no such index and scans). Created by migration 0004_segments_inbox.
Index(
    "ix_customers_search_trgm",
    text(
        "(lower(first_name || ' ' || last_name || ' ' || coalesce(email, '') || ' ' "
        "|| coalesce(mobile, ''))) gin_trgm_ops"
    ),
    _table=Customer.__table__,
    postgresql_using="gin",
).ddl_if(dialect="postgresql")
