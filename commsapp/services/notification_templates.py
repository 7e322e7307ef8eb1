"""Notification templates ("Vorlagen"): reusable subject, body and SMS text for the composer and course messages."""

import json
from collections.abc import Sequence

from flask_babel import gettext as _
from sqlalchemy import or_, select

from commsapp.extensions import db
from commsapp.models import NotificationTemplate, StaffUser
from commsapp.models.base import utcnow
from commsapp.services import like
from commsapp.services.html_sanitize import sanitize_rich_text
from commsapp.services.template_editor import (
    NOTIFICATION_VARIABLES,
    TemplateInvalid,
    blocks_to_rich_text,
    clean_sms_text,
    clean_subject,
    new_block_id,
    validate_template_blocks,
    working_blocks,
    write_template,
)

MAX_NAME_CHARS = 160
MAX_SEARCH_CHARS = 100
VARIABLES = NOTIFICATION_VARIABLES


def list_templates(query: str = "") -> list[NotificationTemplate]:
    """All notification templates by name; `query` keeps those whose name or subject has every word."""
    statement = select(NotificationTemplate).order_by(
        NotificationTemplate.name, NotificationTemplate.id
    )
    for word in query[:MAX_SEARCH_CHARS].split():
        pattern = like.containing(word)
        statement = statement.where(
            or_(
                NotificationTemplate.name.ilike(pattern, escape=like.ESCAPE),
                NotificationTemplate.subject.ilike(pattern, escape=like.ESCAPE),
            )
        )
    return list(db.session.scalars(statement))


def clean_name(name: str) -> str:
    """:raise TemplateInvalid: empty or too long."""
    name = " ".join((name or "").split())
    if not name:
        raise TemplateInvalid(_("Give the template a name."), field="name")
    if len(name) > MAX_NAME_CHARS:
        raise TemplateInvalid(
            _("The name can have at most %(max)d characters.", max=MAX_NAME_CHARS), field="name"
        )
    return name


def create_template(
    staff: StaffUser, *, name: str, subject: str, body_html: str = "", sms_text: str = ""
) -> NotificationTemplate:
    """A new template with a rich-text body; it can be turned into blocks in the editor.

    :raise TemplateInvalid: naming the field.
    """
    template = NotificationTemplate(
        name=clean_name(name),
        subject=clean_subject(subject),
        body_html=sanitize_rich_text(body_html or ""),
        sms_text=clean_sms_text(sms_text),
        updated_by_id=staff.id,
        updated_at=utcnow(),
    )
    db.session.add(template)
    db.session.commit()
    return template


def save_rich_template(
    template: NotificationTemplate,
    staff: StaffUser,
    *,
    base_version: int,
    name: str,
    subject: str,
    body_html: str,
    sms_text: str,
) -> None:
    """Save a template whose body is rich text.

    :raise TemplateInvalid: naming the field.
    :raise TemplateConflict: someone saved since `base_version`.
    """
    write_template(
        template,
        staff,
        base_version,
        {
            "name": clean_name(name),
            "subject": clean_subject(subject),
            "body_html": sanitize_rich_text(body_html or ""),
            "sms_text": clean_sms_text(sms_text),
        },
    )


def switch_to_blocks(template: NotificationTemplate, staff: StaffUser, base_version: int) -> None:
    """Design the body in the block editor from now on, starting from the rich text.

    :raise TemplateConflict: someone saved since `base_version`.
    """
    if template.blocks_json is not None:
        return
    blocks = [{"id": new_block_id(), "type": "text", "html": template.body_html or "<p></p>"}]
    write_template(
        template,
        staff,
        base_version,
        {"blocks_json": json.dumps(validate_template_blocks(blocks))},
    )


def switch_to_rich_text(
    template: NotificationTemplate, staff: StaffUser, base_version: int
) -> None:
    """Go back to one rich-text body, made from the blocks (images and layout are lost, the text stays).

    :raise TemplateConflict: someone saved since `base_version`.
    """
    if template.blocks_json is None:
        return
    blocks = working_blocks(template, staff.id)[0]
    write_template(
        template,
        staff,
        base_version,
        {"blocks_json": None, "body_html": blocks_to_rich_text(blocks)},
    )


def delete_template(template: NotificationTemplate) -> None:
    db.session.delete(template)
    db.session.commit()


def composer_content(template: NotificationTemplate) -> dict[str, object]:
    """What fills a composer: subject, a rich-text body (from the blocks when designed), SMS text and blocks."""
    blocks: Sequence[dict] | None = template.blocks
    return {
        "id": template.id,
        "name": template.name,
        "subject": template.subject,
        "body_html": blocks_to_rich_text(blocks) if blocks is not None else template.body_html,
        "sms_text": template.sms_text,
        "blocks": blocks,
    }
