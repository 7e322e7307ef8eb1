"""Consent: what each customer agreed to receive, customer groups they belong to, and every change as evidence."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commsapp.extensions import db
from commsapp.models.base import str_enum, utcnow
from commsapp.models.people import Customer, StaffUser


class ConsentKind(StrEnum):
    MARKETING_EMAIL = "marketing_email"
    TRANSACTIONAL_EMAIL = "transactional_email"
    MARKETING_SMS = "marketing_sms"
    ALL_SMS = "all_sms"
    GROUP = "group"


class ConsentSource(StrEnum):
    STAFF = "staff"
    FOOTER_LINK = "footer_link"
    ONE_CLICK = "one_click"
    STOP = "stop"
    START = "start"
    DOUBLE_OPT_IN = "double_opt_in"


class CustomerGroup(db.Model):
    """A list customers belong to, such as a newsletter ("Kundengruppe")."""

    __tablename__ = "customer_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MembershipStatus(StrEnum):
    PENDING = "pending"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"


class GroupMembership(db.Model):
    __tablename__ = "group_memberships"
    __table_args__ = (
        Index("ix_group_memberships_group_status", "group_id", "status", "customer_id"),
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("customer_groups.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[MembershipStatus] = mapped_column(
        str_enum(MembershipStatus, "membership_status"), default=MembershipStatus.SUBSCRIBED
    )
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    unsubscribed_at: Mapped[datetime | None]

    group: Mapped[CustomerGroup] = relationship()


class ConsentEvent(db.Model):
    """One change of consent: the studio's proof under GDPR of who agreed to what, when and how."""

    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_customer_created", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[ConsentKind] = mapped_column(str_enum(ConsentKind, "consent_kind"))
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_groups.id", ondelete="SET NULL")
    )
    subscribed: Mapped[bool]
    source: Mapped[ConsentSource] = mapped_column(str_enum(ConsentSource, "consent_source"))
    actor_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    ip_address: Mapped[str] = mapped_column(String(45), default="")
    detail: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship()
    actor: Mapped[StaffUser | None] = relationship()
    group: Mapped[CustomerGroup | None] = relationship()
