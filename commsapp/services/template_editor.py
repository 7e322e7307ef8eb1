"""Editing email templates: per-staff drafts of blocks, saving without lost updates, variable checks, images.

Both transactional and notification templates are edited here. Block changes (add, edit,
move, remove) go to the editing staff member's draft; `save_template` writes the draft to
the template only if nobody saved since the editor was opened (the version number), so
two people editing at once never silently overwrite each other.
"""

import dataclasses
import json
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from commsapp.extensions import db
from commsapp.models import (
    BusinessSettings,
    Category,
    Channel,
    NotificationTemplate,
    StaffUser,
    TemplateDraft,
    TemplateImage,
    TransactionalTemplate,
)
from commsapp.models.base import utcnow
from commsapp.services import outbox
from commsapp.services.consent import audience_for
from commsapp.services.email_blocks import (
    MAX_BLOCKS,
    BlockError,
    validate_blocks,
)
from commsapp.services.email_compose import (
    EmailRecipient,
    OutgoingEmail,
    Sender,
    compose_email,
    single_line,
)
from commsapp.services.html_sanitize import sanitize_rich_text
from commsapp.services.sms_segments import validate_length
from commsapp.services.templating import (
    VARIABLE,
    UnknownVariable,
    check_variables,
    fill_variables,
    variables_in,
)

EditableTemplate = TransactionalTemplate | NotificationTemplate

MAX_SUBJECT_CHARS = 300
MAX_IMAGE_BYTES = 2 * 1024 * 1024
IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}

# Which fields of each block type the editor form sends, and how variables are filled in them.
EDITABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "heading": ("text", "level", "align"),
    "text": ("html",),
    "image": ("url", "alt", "width", "link"),
    "button": ("label", "url", "colour"),
    "divider": (),
    "spacer": ("height",),
    "columns": ("left_html", "right_html"),
    "footer": ("html",),
}
PLAIN_FIELDS = {"heading": ("text",), "image": ("alt",), "button": ("label",)}
RICH_FIELDS = {"text": ("html",), "columns": ("left_html", "right_html"), "footer": ("html",)}
# A link field may be exactly one of the template's link variables (`{{url}}`): its value is
# only known at send time, when the filled-in link is checked like any other.
LINK_FIELDS = {"button": ("url",), "image": ("link",)}
_STAND_IN_LINK = "https://example.com/"
# What the outbox fills in every email it sends (see email_compose.compose_email).
NOTIFICATION_VARIABLES = ("first_name", "last_name", "business_name", "business_address")


class TemplateConflict(Exception):
    """Someone saved the template after this editor was opened; nothing was written."""

    def __init__(self, template: EditableTemplate) -> None:
        self.version = template.version
        self.saved_at: datetime = template.updated_at
        self.saved_by: str | None = template.updated_by.name if template.updated_by else None
        super().__init__(
            f"saved by {self.saved_by or 'someone'} at {self.saved_at:%Y-%m-%d %H:%M} "
            f"(version {self.version})"
        )


class TemplateInvalid(ValueError):
    """The template cannot be saved as it is; the message says why, `field` names the form field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownBlock(LookupError):
    """A block id that is not part of this template (another template's, or since removed)."""

    def __init__(self, block_id: str) -> None:
        super().__init__(block_id)
        self.block_id = block_id


class ImageRejected(ValueError):
    """An upload that is not an accepted image, or too large."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True)
class ContentCheck:
    """What the writer should know before or after saving: unknown variables and missing required ones."""

    unknown: list[UnknownVariable]
    missing_in_email: list[str]
    missing_in_sms: list[str]

    @property
    def blocks_saving(self) -> bool:
        return bool(self.missing_in_email or self.missing_in_sms)


@dataclass(frozen=True)
class TemplateRules:
    """The variables a template may use, those it cannot do without, and those allowed as a link."""

    variables: tuple[str, ...]
    required: tuple[str, ...] = ()
    link_variables: frozenset[str] = frozenset()


def rules_for(template: EditableTemplate) -> TemplateRules:
    if isinstance(template, TransactionalTemplate):
        # Imported here because the catalogue itself builds on this module.
        from commsapp.services.template_catalogue import EVENTS

        event = EVENTS[template.event_key]
        return TemplateRules(event.variables, event.required, event.link_variables)
    return TemplateRules(NOTIFICATION_VARIABLES)


# --- Blocks ---------------------------------------------------------------------------------


def new_block_id() -> str:
    """Random, so an id posted for one template can never name a block of another."""
    return "b" + secrets.token_hex(6)


def new_block(block_type: str) -> dict:
    """A block of that type with content that passes validation, ready to be edited."""
    base = current_app.config["PUBLIC_BASE_URL"]
    block_id = new_block_id()
    contents: dict[str, dict] = {
        "heading": {"text": _("New heading"), "level": 2, "align": "left"},
        "text": {"html": "<p>" + escape(_("Write your text here.")) + "</p>"},
        "image": {
            "url": f"{base}/static/img/email-placeholder.png",
            "alt": "",
            "width": None,
            "link": None,
        },
        "button": {"label": _("Book now"), "url": base + "/", "colour": "#2563eb"},
        "divider": {},
        "spacer": {"height": 24},
        "columns": {
            "left_html": "<p>" + escape(_("Left column")) + "</p>",
            "right_html": "<p>" + escape(_("Right column")) + "</p>",
        },
        "footer": {"html": "<p>{{business_name}}</p>"},
    }
    if block_type not in contents:
        raise TemplateInvalid(_("Unknown block type %(type)s.", type=block_type[:40]), field="type")
    return {"id": block_id, "type": block_type, **contents[block_type]}


def with_fresh_ids(blocks: Iterable[Mapping]) -> list[dict]:
    """Copies of `blocks` with new random ids (for defaults shared by many templates)."""
    return [{**block, "id": new_block_id()} for block in blocks]


def validate_template_blocks(blocks: list, link_variables: Collection[str] = ()) -> list[dict]:
    """The blocks checked and sanitised as stored; a link field may be exactly `{{v}}` for v in `link_variables`.

    :raise BlockError: naming the block's position and field.
    """
    if not isinstance(blocks, list):
        raise BlockError("The blocks must be a list.")
    stand_ins: dict[tuple[int, str], str] = {}
    prepared = []
    for position, raw in enumerate(blocks):
        if isinstance(raw, Mapping):
            raw = dict(raw)
            for name in LINK_FIELDS.get(raw.get("type"), ()):
                value = raw.get(name)
                match = VARIABLE.fullmatch(value.strip()) if isinstance(value, str) else None
                if match and match.group(1) in link_variables:
                    stand_ins[(position, name)] = "{{" + match.group(1) + "}}"
                    raw[name] = _STAND_IN_LINK
        prepared.append(raw)
    validated = [dataclasses.asdict(block) for block in validate_blocks(prepared)]
    for (position, name), variable in stand_ins.items():
        validated[position][name] = variable
    return validated


def fill_blocks(blocks: Sequence[Mapping], values: Mapping[str, str]) -> list[dict]:
    """Copies of `blocks` with variables filled: escaped in rich text, as written in plain text and links."""
    values = dict(values)
    filled = []
    for block in blocks:
        block = dict(block)
        kind = block.get("type")
        for name in PLAIN_FIELDS.get(kind, ()) + LINK_FIELDS.get(kind, ()):
            if isinstance(block.get(name), str):
                block[name] = fill_variables(block[name], values)
        for name in RICH_FIELDS.get(kind, ()):
            if isinstance(block.get(name), str):
                block[name] = fill_variables(block[name], values, html=True)
        filled.append(block)
    return filled


def blocks_to_rich_text(blocks: Sequence[Mapping]) -> str:
    """The blocks as one sanitised rich-text body, for places without the block renderer (composer, inbox)."""
    parts: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "heading":
            parts.append(f"<h2>{escape(block.get('text', ''))}</h2>")
        elif kind in ("text", "footer"):
            parts.append(block.get("html", ""))
        elif kind == "columns":
            parts.append(block.get("left_html", "") + block.get("right_html", ""))
        elif kind == "button":
            parts.append(
                f'<p><a href="{escape(block.get("url", ""))}">{escape(block.get("label", ""))}</a></p>'
            )
        elif kind == "image" and block.get("link"):
            label = block.get("alt") or block["link"]
            parts.append(f'<p><a href="{escape(block["link"])}">{escape(label)}</a></p>')
    return sanitize_rich_text("".join(parts))


def block_texts(blocks: Iterable[Mapping]) -> list[str]:
    """Every text field of the blocks, where variables may be written."""
    texts = []
    for block in blocks:
        kind = block.get("type")
        for name in (
            PLAIN_FIELDS.get(kind, ()) + RICH_FIELDS.get(kind, ()) + LINK_FIELDS.get(kind, ())
        ):
            if isinstance(block.get(name), str):
                texts.append(block[name])
    return texts


def check_content(
    *,
    subject: str,
    blocks: Sequence[Mapping],
    sms_text: str,
    allowed: Sequence[str],
    required: Sequence[str] = (),
    extra_texts: Sequence[str] = (),
) -> ContentCheck:
    """Unknown variables (with the closest allowed name) and required variables that are missing."""
    email_text = "\n".join([subject, *block_texts(blocks), *extra_texts])
    used_in_email = set(variables_in(email_text))
    used_in_sms = set(variables_in(sms_text))
    return ContentCheck(
        unknown=check_variables(email_text + "\n" + sms_text, allowed),
        missing_in_email=[name for name in required if name not in used_in_email],
        missing_in_sms=[name for name in required if sms_text.strip() and name not in used_in_sms],
    )


# --- Drafts ---------------------------------------------------------------------------------


def _owner_column(template: EditableTemplate):
    if isinstance(template, TransactionalTemplate):
        return TemplateDraft.transactional_template_id
    return TemplateDraft.notification_template_id


def find_draft(template: EditableTemplate, staff_id: int) -> TemplateDraft | None:
    return db.session.scalar(
        select(TemplateDraft).where(
            _owner_column(template) == template.id, TemplateDraft.staff_user_id == staff_id
        )
    )


def working_blocks(
    template: EditableTemplate, staff_id: int
) -> tuple[list[dict], TemplateDraft | None]:
    """The blocks this staff member is editing: their draft's, else the template's."""
    draft = find_draft(template, staff_id)
    if draft is not None:
        return draft.blocks, draft
    return template.blocks or [], None


def _draft_for_change(
    template: EditableTemplate, staff_id: int, base_version: int | None
) -> TemplateDraft:
    """The staff member's draft, started from the template if they have none.

    :raise TemplateConflict: no draft yet, and the template changed since the editor was opened.
    """
    draft = find_draft(template, staff_id)
    if draft is not None:
        return draft
    if base_version != template.version:
        raise TemplateConflict(template)
    draft = TemplateDraft(
        staff_user_id=staff_id,
        base_version=template.version,
        blocks_json=template.blocks_json or "[]",
    )
    if isinstance(template, TransactionalTemplate):
        draft.transactional_template_id = template.id
    else:
        draft.notification_template_id = template.id
    db.session.add(draft)
    try:
        db.session.flush()
    except IntegrityError:
        # The same person's second tab started a draft at the same moment; continue with it.
        db.session.rollback()
        draft = find_draft(template, staff_id)
        if draft is None:
            raise
    return draft


def _store(template: EditableTemplate, draft: TemplateDraft, blocks: list) -> list[dict]:
    validated = validate_template_blocks(blocks, rules_for(template).link_variables)
    draft.blocks_json = json.dumps(validated)
    draft.updated_at = utcnow()
    db.session.commit()
    return validated


def add_block(
    template: EditableTemplate,
    staff_id: int,
    base_version: int | None,
    block_type: str,
) -> tuple[list[dict], str]:
    """Append a new block to the draft; returns the blocks and the new block's id.

    :raise TemplateInvalid: unknown type, or the template already has MAX_BLOCKS blocks.
    """
    block = new_block(block_type)
    if len(working_blocks(template, staff_id)[0]) >= MAX_BLOCKS:
        raise TemplateInvalid(
            _(
                "A template can have at most %(max)d blocks. Remove one before adding another.",
                max=MAX_BLOCKS,
            )
        )
    draft = _draft_for_change(template, staff_id, base_version)
    return _store(template, draft, [*draft.blocks, block]), block["id"]


def update_block(
    template: EditableTemplate,
    staff_id: int,
    base_version: int | None,
    block_id: str,
    fields: Mapping[str, object],
) -> list[dict]:
    """Replace one block's fields with what the editor form sent.

    :raise UnknownBlock: the id is not in this template.
    :raise BlockError: a field is invalid (nothing is changed then).
    """
    current = working_blocks(template, staff_id)[0]
    index = _index_of(current, block_id)
    kind = current[index]["type"]
    changed = {"id": block_id, "type": kind}
    for name in EDITABLE_FIELDS[kind]:
        value = fields.get(name)
        changed[name] = (
            value.strip() if name in ("url", "link") and isinstance(value, str) else value
        )
    blocks = [*current[:index], changed, *current[index + 1 :]]
    validated = validate_template_blocks(blocks, rules_for(template).link_variables)
    draft = _draft_for_change(template, staff_id, base_version)
    return _store(template, draft, validated)


def delete_block(
    template: EditableTemplate,
    staff_id: int,
    base_version: int | None,
    block_id: str,
) -> list[dict]:
    """:raise UnknownBlock: the id is not in this template."""
    current = working_blocks(template, staff_id)[0]
    index = _index_of(current, block_id)
    draft = _draft_for_change(template, staff_id, base_version)
    return _store(template, draft, [*current[:index], *current[index + 1 :]])


def reorder_blocks(
    template: EditableTemplate,
    staff_id: int,
    base_version: int | None,
    order: Sequence[str],
) -> list[dict]:
    """Put the blocks in the posted order; nothing changes unless it lists exactly this template's blocks.

    :raise UnknownBlock: an id that is not in this template.
    :raise TemplateInvalid: a block missing from the order, or listed twice.
    """
    current = working_blocks(template, staff_id)[0]
    by_id = {block["id"]: block for block in current}
    for block_id in order:
        if block_id not in by_id:
            raise UnknownBlock(block_id)
    if len(order) != len(by_id) or set(order) != set(by_id):
        raise TemplateInvalid(
            _(
                "The new order must list every block of this template exactly once. "
                "Nothing was changed; reload the editor and try again."
            )
        )
    draft = _draft_for_change(template, staff_id, base_version)
    return _store(template, draft, [by_id[block_id] for block_id in order])


def discard_draft(template: EditableTemplate, staff_id: int) -> None:
    db.session.execute(
        delete(TemplateDraft).where(
            _owner_column(template) == template.id, TemplateDraft.staff_user_id == staff_id
        )
    )
    db.session.commit()


def _index_of(blocks: list[dict], block_id: str) -> int:
    for index, block in enumerate(blocks):
        if block["id"] == block_id:
            return index
    raise UnknownBlock(block_id)


# --- Saving ---------------------------------------------------------------------------------


def clean_subject(subject: str) -> str:
    """:raise TemplateInvalid: empty or too long."""
    subject = single_line(subject or "")
    if not subject:
        raise TemplateInvalid(_("Enter a subject."), field="subject")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise TemplateInvalid(
            _("The subject can have at most %(max)d characters.", max=MAX_SUBJECT_CHARS),
            field="subject",
        )
    return subject


def clean_sms_text(sms_text: str) -> str:
    """:raise TemplateInvalid: longer than an SMS may be."""
    sms_text = (sms_text or "").replace("\r\n", "\n").strip()
    problem = validate_length(sms_text) if sms_text else None
    if problem:
        raise TemplateInvalid(problem, field="sms_text")
    return sms_text


def write_template(
    template: EditableTemplate, staff: StaffUser, base_version: int, values: Mapping[str, object]
) -> None:
    """Write `values` only if the template is still at `base_version`, and bump the version.

    :raise TemplateConflict: someone saved in between; nothing is written and the caller's draft stays.
    """
    model = type(template)
    result = db.session.execute(
        update(model)
        .where(model.id == template.id, model.version == base_version)
        .values(**values, version=model.version + 1, updated_at=utcnow(), updated_by_id=staff.id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        db.session.refresh(template)
        raise TemplateConflict(template)
    db.session.execute(
        delete(TemplateDraft).where(
            _owner_column(template) == template.id, TemplateDraft.staff_user_id == staff.id
        )
    )
    db.session.commit()
    db.session.refresh(template)


def save_template(
    template: EditableTemplate,
    staff: StaffUser,
    *,
    base_version: int,
    subject: str,
    sms_text: str,
    extra_values: Mapping[str, object] | None = None,
    extra_texts: Sequence[str] = (),
) -> ContentCheck:
    """Save subject, SMS text and the staff member's draft blocks; returns the warnings to show.

    :raise TemplateInvalid: bad subject or SMS text, or a required variable missing.
    :raise BlockError: a stored block no longer passes validation.
    :raise TemplateConflict: someone else saved since `base_version`.
    """
    subject = clean_subject(subject)
    sms_text = clean_sms_text(sms_text)
    blocks, draft = working_blocks(template, staff.id)
    uses_blocks = draft is not None or template.blocks_json is not None
    rules = rules_for(template)
    validated = validate_template_blocks(blocks, rules.link_variables) if uses_blocks else []
    check = check_content(
        subject=subject,
        blocks=validated,
        sms_text=sms_text,
        allowed=rules.variables,
        required=rules.required,
        extra_texts=extra_texts,
    )
    if check.missing_in_email:
        raise TemplateInvalid(
            _(
                "The email must contain %(variables)s: without it customers cannot act on it.",
                variables=", ".join("{{" + name + "}}" for name in check.missing_in_email),
            )
        )
    if check.missing_in_sms:
        raise TemplateInvalid(
            _(
                "The SMS text must contain %(variables)s as well, or be left empty.",
                variables=", ".join("{{" + name + "}}" for name in check.missing_in_sms),
            ),
            field="sms_text",
        )
    values: dict[str, object] = {"subject": subject, "sms_text": sms_text}
    if uses_blocks:
        values["blocks_json"] = json.dumps(validated)
    values.update(extra_values or {})
    write_template(template, staff, base_version, values)
    return check


# --- Preview and test email -------------------------------------------------------------------


def _sender() -> Sender:
    settings = BusinessSettings.get()
    config = current_app.config
    return Sender(
        business_name=settings.name,
        business_address=settings.address,
        from_address=config["MAIL_FROM"],
        reply_to=settings.contact_email,
        public_base_url=config["PUBLIC_BASE_URL"],
        secret_key=config["SECRET_KEY"],
    )


def preview_email(
    *,
    subject: str,
    blocks: Sequence[Mapping] | None,
    body_html: str = "",
    values: Mapping[str, str],
    category: Category,
) -> OutgoingEmail:
    """The email a sample customer would get, built by the same code that builds real ones.

    The sample customer has id 0, which no customer has, so their unsubscribe link leads nowhere.
    """
    values = dict(values)
    email_blocks = None
    if blocks is not None:
        email_blocks = validate_template_blocks(fill_blocks(blocks, values))
    return compose_email(
        delivery_id=0,
        sender=_sender(),
        recipient=EmailRecipient(
            0, values.get("first_name", ""), values.get("last_name", ""), "anna@example.com"
        ),
        subject=fill_variables(subject, values),
        body_html=sanitize_rich_text(fill_variables(body_html, values, html=True)),
        audience=audience_for(category, False, 1),
        blocks=email_blocks,
    )


def send_test_email(
    *,
    staff: StaffUser,
    subject: str,
    blocks: Sequence[Mapping] | None,
    body_html: str = "",
    values: Mapping[str, str],
    category: Category,
) -> None:
    """Send the template with sample data to the staff member, through the outbox like any email.

    Their own name fills `{{first_name}}` and `{{last_name}}`, so they see how a greeting reads.

    :raise outbox.SendRefused: the email cannot be sent (nothing in it, a broken link).
    :raise BlockError: a block does not validate once the sample values are filled in.
    """
    values = {k: v for k, v in values.items() if k not in ("first_name", "last_name")}
    filled_subject = fill_variables(subject, values)
    spec = outbox.MessageSpec(
        category=category,
        channel=Channel.EMAIL,
        subject=_("[Test] %(subject)s", subject=filled_subject),
        body_html=fill_variables(body_html, values, html=True) if blocks is None else "",
        blocks=validate_template_blocks(fill_blocks(blocks, values))
        if blocks is not None
        else None,
        sent_by_id=staff.id,
        origin="template test email",
    )
    outbox.send_to_staff(spec, [staff.id])


# --- Images -----------------------------------------------------------------------------------


def detect_image_type(data: bytes) -> str | None:
    """The image's MIME type read from its first bytes, or None: the file name proves nothing."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def store_image(data: bytes, staff_id: int | None) -> TemplateImage:
    """Keep an uploaded image (PNG, JPEG, GIF or WebP, at most 2 MB) in the database.

    :raise ImageRejected: too large, empty, or not one of those formats by its content.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageRejected(
            _("The image is larger than 2 MB. Make it smaller and upload it again."),
            too_large=True,
        )
    if not data:
        raise ImageRejected(_("The file is empty. Choose an image file."))
    content_type = detect_image_type(data)
    if content_type is None:
        raise ImageRejected(
            _(
                "This file is not a PNG, JPEG, GIF or WebP image (its content was checked, "
                "not only its name). Choose an image file."
            )
        )
    image = TemplateImage(
        token=secrets.token_urlsafe(24),
        content_type=content_type,
        size=len(data),
        data=data,
        uploaded_by_id=staff_id,
    )
    # Committed together with the block that shows it, so a refused edit leaves no orphan.
    db.session.add(image)
    db.session.flush()
    return image


def find_image(token: str) -> TemplateImage | None:
    token = token.rsplit(".", 1)[0]
    return db.session.scalar(select(TemplateImage).where(TemplateImage.token == token))
