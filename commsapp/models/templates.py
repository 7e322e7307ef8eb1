"""Templates: transactional emails per event and language, reusable notification templates, editor drafts, images."""

import json
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commsapp.extensions import db
from commsapp.models.base import utcnow
from commsapp.models.people import StaffUser


class _EditableTemplate:
    """What both kinds of template share: subject, blocks, SMS text and a version that detects lost updates."""

    @property
    def blocks(self) -> list[dict] | None:
        return json.loads(self.blocks_json) if self.blocks_json is not None else None


class TransactionalTemplate(_EditableTemplate, db.Model):
    """The email (and optional SMS) one event sends, in one language; the catalogue creates one per pair."""

    __tablename__ = "transactional_templates"
    __table_args__ = (UniqueConstraint("event_key", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_key: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(2))
    subject: Mapped[str] = mapped_column(String(300))
    blocks_json: Mapped[str | None] = mapped_column(Text)
    sms_text: Mapped[str] = mapped_column(Text, default="")
    # False again after "reset to default": the catalogue shows which templates a studio changed.
    customised: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Every save must name the version it started from; a mismatch means someone saved in between.
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )

    updated_by: Mapped[StaffUser | None] = relationship()


class NotificationTemplate(_EditableTemplate, db.Model):
    """A reusable subject, body and optional SMS text (a "Vorlage"), for the composer, one-to-one and course messages.

    The body is either rich text (`body_html`) or, once designed in the block editor, `blocks_json`.
    """

    __tablename__ = "notification_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    blocks_json: Mapped[str | None] = mapped_column(Text)
    sms_text: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )

    updated_by: Mapped[StaffUser | None] = relationship()


class TemplateDraft(db.Model):
    """One staff member's unsaved block edits of one template, kept until saved or discarded.

    Blocks are added, moved and edited one request at a time; keeping them in a draft means
    customers never get a half-edited template, and two staff editing at once never mix
    their changes: whoever saves second is told, and still has their draft.
    """

    __tablename__ = "template_drafts"
    __table_args__ = (
        CheckConstraint(
            "(transactional_template_id IS NULL) <> (notification_template_id IS NULL)",
            name="one_template",
        ),
        Index(
            "uq_template_drafts_transactional_staff",
            "transactional_template_id",
            "staff_user_id",
            unique=True,
            sqlite_where=text("transactional_template_id IS NOT NULL"),
            postgresql_where=text("transactional_template_id IS NOT NULL"),
        ),
        Index(
            "uq_template_drafts_notification_staff",
            "notification_template_id",
            "staff_user_id",
            unique=True,
            sqlite_where=text("notification_template_id IS NOT NULL"),
            postgresql_where=text("notification_template_id IS NOT NULL"),
        ),
        Index("ix_template_drafts_staff", "staff_user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transactional_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("transactional_templates.id", ondelete="CASCADE")
    )
    notification_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification_templates.id", ondelete="CASCADE")
    )
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    base_version: Mapped[int]
    blocks_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def blocks(self) -> list[dict]:
        return json.loads(self.blocks_json)


class TemplateImage(db.Model):
    """An image uploaded for an email; served publicly by its unguessable token, since mail clients fetch it."""

    __tablename__ = "template_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    content_type: Mapped[str] = mapped_column(String(20))
    size: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
