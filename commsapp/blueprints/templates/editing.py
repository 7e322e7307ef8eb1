"""What the editor views share: which template is being edited, its variables, and rendering the editor."""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from flask import abort, make_response, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from commsapp.extensions import db
from commsapp.models import BusinessSettings, Category, NotificationTemplate
from commsapp.services import template_catalogue, template_editor
from commsapp.services.email_blocks import render_email
from commsapp.services.html_sanitize import sanitize_rich_text
from commsapp.services.template_catalogue import CatalogueEvent
from commsapp.services.template_editor import (
    ContentCheck,
    EditableTemplate,
    TemplateConflict,
    TemplateRules,
)
from commsapp.services.templating import fill_variables
from commsapp.views_support import render_page

KINDS = ("transactional", "notifications")
MAX_ID = 2**31 - 1
# Gmail shows only the first 102 KB of an email's HTML and hides the rest behind a link.
CLIPPED_KILOBYTES = 100
BLOCK_LABELS = {
    "heading": _l("Heading"),
    "text": _l("Text"),
    "image": _l("Image"),
    "button": _l("Button"),
    "divider": _l("Divider"),
    "spacer": _l("Spacer"),
    "columns": _l("Two columns"),
    "footer": _l("Footer"),
}
LANGUAGE_NAMES = {"en": _l("English"), "de": _l("German")}


@dataclass
class Editor:
    """One template open in the editor, with the rules of its kind."""

    kind: str
    template: EditableTemplate
    event: CatalogueEvent | None = None

    @property
    def is_transactional(self) -> bool:
        return self.event is not None

    @property
    def rules(self) -> TemplateRules:
        return template_editor.rules_for(self.template)

    @property
    def variables(self) -> Sequence[str]:
        return self.rules.variables

    @property
    def required(self) -> Sequence[str]:
        return self.rules.required

    @property
    def link_variables(self) -> frozenset[str]:
        return self.rules.link_variables

    @property
    def category(self) -> Category:
        return Category.TRANSACTIONAL if self.event else Category.NOTIFICATION

    @property
    def uses_blocks(self) -> bool:
        return self.template.blocks_json is not None

    @property
    def title(self) -> str:
        if self.event:
            return str(self.event.name)
        return self.template.name

    def sample_values(self) -> dict[str, str]:
        if self.event:
            return template_catalogue.sample_values(self.event.key, self.template.language)
        settings = BusinessSettings.get()
        sample = {"first_name": "Anna", "last_name": "Muster"}
        return sample | {"business_name": settings.name, "business_address": settings.address}

    def url(self, endpoint: str, **values) -> str:
        return url_for(
            f"templates.{endpoint}", kind=self.kind, template_id=self.template.id, **values
        )

    @property
    def page_url(self) -> str:
        endpoint = "templates.transactional" if self.event else "templates.notification"
        return url_for(endpoint, template_id=self.template.id)


def load_editor(kind: str, template_id: int) -> Editor:
    """:raise 404: unknown kind or template."""
    if template_id > MAX_ID:
        abort(404)
    if kind == "transactional":
        found = template_catalogue.get_template(template_id)
        if found is None:
            abort(404)
        template, event = found
        return Editor(kind, template, event)
    if kind == "notifications":
        template = db.session.get(NotificationTemplate, template_id)
        if template is None:
            abort(404)
        return Editor(kind, template)
    abort(404)


def content_check(
    editor: Editor,
    *,
    subject: str,
    sms_text: str,
    body_html: str | None,
    blocks: Sequence[dict],
) -> ContentCheck:
    return template_editor.check_content(
        subject=subject,
        blocks=blocks if editor.uses_blocks else [],
        sms_text=sms_text,
        allowed=editor.variables,
        required=editor.required,
        extra_texts=[body_html or ""] if not editor.uses_blocks else [],
    )


def editor_context(editor: Editor, **overrides) -> dict:
    """Everything the editor templates need; `overrides` carry what the writer typed but did not save."""
    template = editor.template
    blocks, draft = template_editor.working_blocks(template, current_user.id)
    subject = overrides.pop("subject", None)
    sms_text = overrides.pop("sms_text", None)
    body_html = overrides.pop("body_html", None)
    name = overrides.pop("name", None)
    context = {
        "editor": editor,
        "template": template,
        "blocks": blocks,
        "draft": draft,
        "stale_draft": draft is not None and draft.base_version != template.version,
        "base_version": draft.base_version if draft else template.version,
        "subject": template.subject if subject is None else subject,
        "sms_text": template.sms_text if sms_text is None else sms_text,
        "body_html": getattr(template, "body_html", "") if body_html is None else body_html,
        "name": getattr(template, "name", "") if name is None else name,
        "block_labels": BLOCK_LABELS,
        "clipped_kilobytes": CLIPPED_KILOBYTES,
        "language_names": LANGUAGE_NAMES,
        "sanitize": sanitize_rich_text,
        "preview_rev": secrets.token_hex(4),
        "preview_subject": fill_variables(template.subject, editor.sample_values()),
        "editing_block": None,
        "error": None,
        "error_field": None,
        "conflict": None,
        "stale": None,
        "resync": False,
        "saved": False,
        "check": None,
    }
    context["email_kilobytes"] = lambda: _email_kilobytes(editor, blocks)
    context.update(overrides)
    if context["check"] is None:
        context["check"] = content_check(
            editor,
            subject=context["subject"],
            sms_text=context["sms_text"],
            body_html=context["body_html"],
            blocks=blocks,
        )
    if editor.event:
        context["siblings"] = template_catalogue.translations_of(template)
    return context


def _email_kilobytes(editor: Editor, blocks: list[dict]) -> int:
    """Size of the email's HTML with sample data; 0 when it cannot be rendered (the preview says why)."""
    if not editor.uses_blocks:
        return 0
    try:
        filled = template_editor.fill_blocks(blocks, editor.sample_values())
        return len(render_email(filled).html.encode()) // 1024
    except ValueError:
        return 0


def render_editor(editor: Editor, *, status: int = 200, **overrides):
    page = "templates/transactional.html" if editor.event else "templates/notification.html"
    return render_page(
        page, "templates/_editor.html", status=status, **editor_context(editor, **overrides)
    )


def render_fragment(template_name: str, editor: Editor, *, status: int = 200, **overrides):
    """A piece of the editor (block list, one block, messages) with the editor's context."""
    response = make_response(
        render_template(template_name, **editor_context(editor, **overrides)), status
    )
    response.headers["Vary"] = "HX-Request"
    return response


def conflict_text(conflict: TemplateConflict) -> dict:
    return {
        "name": conflict.saved_by or str(_l("another staff member")),
        "time": conflict.saved_at,
        "version": conflict.version,
    }
