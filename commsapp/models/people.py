"""People: staff who sign in, customers who are written to, and the participants they book for."""

from datetime import date, datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import Column, ForeignKey, Index, String, Table, false, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from commsapp.extensions import db
from commsapp.models.base import str_enum, utcnow
from commsapp.models.business import Location


class Role(StrEnum):
    ADMIN = "admin"
    STAFF = "staff"
    TEACHER = "teacher"


class StaffUser(UserMixin, db.Model):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(str_enum(Role, "staff_role"), default=Role.STAFF)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id", ondelete="SET NULL"))
    language: Mapped[str | None] = mapped_column(String(2))
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped on password or role change so that old session cookies stop working.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    location: Mapped[Location | None] = relationship()

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


customer_tags = Table(
    "customer_tags",
    db.metadata,
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    # Segment conditions ask "who has tag X": the reverse of the primary key.
    Index("ix_customer_tags_tag_customer", "tag_id", "customer_id"),
)


class Tag(db.Model):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)


class Customer(db.Model):
    __tablename__ = "customers"
    __table_args__ = (
        # One customer per address: sign-up forms and imports match customers by email.
        Index(
            "uq_customers_email",
            "email",
            unique=True,
            sqlite_where=text("email IS NOT NULL"),
            postgresql_where=text("email IS NOT NULL"),
        ),
        Index("ix_customers_mobile", "mobile"),
        Index("ix_customers_name", "last_name", "first_name", "id"),
        Index("ix_customers_location_name", "home_location_id", "last_name", "first_name", "id"),
        Index("ix_customers_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    mobile: Mapped[str | None] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(2), default="de")
    home_location_id: Mapped[int | None] = mapped_column(
        ForeignKey("locations.id", ondelete="SET NULL")
    )
    portal_access: Mapped[bool] = mapped_column(default=False)
    notes: Mapped[str] = mapped_column(String(2000), default="")
    # Consent per message type; the history of each change is in ConsentEvent.
    marketing_email_opt_out: Mapped[bool] = mapped_column(default=False, server_default=false())
    transactional_email_opt_out: Mapped[bool] = mapped_column(default=False, server_default=false())
    marketing_sms_opt_out: Mapped[bool] = mapped_column(default=False, server_default=false())
    sms_stopped: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Created by an SMS from an unknown number: staff still have to find out who it is.
    is_lead: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    home_location: Mapped[Location | None] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=customer_tags, order_by=Tag.name)
    participants: Mapped[list["Participant"]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="Participant.first_name"
    )

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Participant(db.Model):
    """Someone a customer books for, such as a child in a swim course."""

    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80), default="")
    birth_date: Mapped[date | None]

    customer: Mapped[Customer] = relationship(back_populates="participants")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
