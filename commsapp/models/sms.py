"""SMS usage per calendar month: the segments sent against the tier's monthly allowance."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commsapp.extensions import db


class SmsUsageMonth(db.Model):
    """One row per month; `used` only grows by an UPDATE that checks it stays within the allowance."""

    __tablename__ = "sms_usage_months"
    __table_args__ = (CheckConstraint("used >= 0", name="used_not_negative"),)

    # The first day of the month in the studio's time zone.
    month: Mapped[date] = mapped_column(primary_key=True)
    # The tier in force when segments were last counted (the current tier for this month).
    allowance: Mapped[int] = mapped_column(default=0)
    used: Mapped[int] = mapped_column(default=0)
    # Set by the one worker that sends the month's "SMS are paused" notice to admins.
    paused_notice_at: Mapped[datetime | None]
