"""The studio itself: its locations and its one row of business settings."""

from datetime import datetime

from sqlalchemy import String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from commsapp.extensions import db


class Location(db.Model):
    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    address: Mapped[str] = mapped_column(String(300), default="")

    def __repr__(self) -> str:
        return f"<Location {self.name}>"


class BusinessSettings(db.Model):
    """Exactly one row (id 1); `BusinessSettings.get()` creates it on first use."""

    __tablename__ = "business_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160), default="My Studio")
    address: Mapped[str] = mapped_column(String(300), default="")
    logo_path: Mapped[str | None] = mapped_column(String(300))
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    default_region: Mapped[str] = mapped_column(String(2), default="DE")
    default_language: Mapped[str] = mapped_column(String(2), default="de")
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    marketing_suite_enabled: Mapped[bool] = mapped_column(default=False)
    sms_enabled: Mapped[bool] = mapped_column(default=False)
    sms_tier_segments: Mapped[int] = mapped_column(default=500)
    sms_sender_number: Mapped[str] = mapped_column(String(20), default="")
    call_forward_number: Mapped[str] = mapped_column(String(20), default="")
    waiver_text: Mapped[str] = mapped_column(Text, default="")
    waiver_version: Mapped[int] = mapped_column(default=1)
    waitlist_minutes_to_respond: Mapped[int] = mapped_column(default=120)
    # Abuse guard: group sending locks when 30 days of outgoing messages exceed
    # max(abuse_min_messages, abuse_messages_per_contact x (customers + bookings in 30 days)).
    abuse_messages_per_contact: Mapped[int] = mapped_column(default=30, server_default="30")
    abuse_min_messages: Mapped[int] = mapped_column(default=5000, server_default="5000")
    messaging_locked_at: Mapped[datetime | None]
    messaging_lock_exempt: Mapped[bool] = mapped_column(default=False, server_default=false())

    @classmethod
    def get(cls) -> "BusinessSettings":
        settings = db.session.get(cls, 1)
        if settings is None:
            settings = cls(id=1)
            db.session.add(settings)
            db.session.flush()
        return settings
