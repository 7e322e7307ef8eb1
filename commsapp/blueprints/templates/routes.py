"""Template pages: the transactional catalogue, notification templates, the block editor and uploaded images."""

import json
import re

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from commsapp.access import ALL_ROLES, STAFF_ROLES, public, roles
from commsapp.blueprints.templates.editing import (
    KINDS,
    LANGUAGE_NAMES,
    Editor,
    conflict_text,
    load_editor,
    render_editor,
    render_fragment,
)
from commsapp.extensions import htmx
from commsapp.services import notification_templates, template_catalogue, template_editor
from commsapp.services.email_blocks import BlockError
from commsapp.services.outbox import SendRefused
from commsapp.services.template_editor import (
    ImageRejected,
    TemplateConflict,
    TemplateInvalid,
    UnknownBlock,
)
from commsapp.views_support import render_page

bp = Blueprint("templates", __name__, url_prefix="/templates")

MAX_SEARCH_CHARS = 100
# The preview is the customer's email: no script may run in it, whatever slipped into a template.
PREVIEW_POLICY = (
    "default-src 'none'; img-src http: https: data:; style-src 'unsafe-inline'; "
    "font-src http: https: data:; base-uri 'none'; form-action 'none'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)


def _form_int(name: str) -> int | None:
    value = request.form.get(name, "").strip()
    # ASCII only: "²".isdigit() is true, and databases refuse integers past 32 bits.
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None


def _toast(response: Response, message: str) -> Response:
    response.headers["HX-Trigger"] = json.dumps({"toast": message})
    return response


def _changed(response: Response) -> Response:
    """Tell the preview and the warnings that the blocks changed."""
    response.headers["HX-Trigger"] = "templateChanged"
    return response


# --- The catalogue -----------------------------------------------------------------------------


@bp.route("")
@roles(*STAFF_ROLES)
def index():
    """The transactional templates, one per event, searchable by name or any word in them."""
    query = request.args.get("q", "")[:MAX_SEARCH_CHARS]
    entries = template_catalogue.catalogue(query)
    return render_page(
        "templates/index.html",
        "templates/_catalogue.html",
        entries=entries,
        q=query,
        languages=template_catalogue.LANGUAGES,
        language_names=LANGUAGE_NAMES,
    )


@bp.route("/transactional/<int:template_id>", methods=["GET", "POST"])
@roles(*STAFF_ROLES)
def transactional(template_id: int):
    """The editor of one transactional template; POST saves it.

    :raise 404: unknown template.
    """
    editor = load_editor("transactional", template_id)
    if request.method == "POST":
        return _save(editor)
    return render_editor(editor)


@bp.route("/transactional/<int:template_id>/reset", methods=["POST"])
@roles(*STAFF_ROLES)
def reset(template_id: int):
    """Put the default subject, blocks and SMS text back.

    :raise 404: unknown template.
    """
    editor = load_editor("transactional", template_id)
    try:
        template_catalogue.reset_to_default(
            editor.template, current_user, _form_int("base_version") or 0
        )
    except TemplateConflict as conflict:
        return render_editor(editor, status=409, stale=conflict_text(conflict))
    message = _("The default text is back.")
    if not htmx:
        flash(message, "success")
        return redirect(editor.page_url, code=303)
    return _toast(render_editor(editor, saved=True), message)


def _save(editor: Editor):
    form = request.form
    base_version = _form_int("overwrite_version") or _form_int("base_version") or 0
    typed = {
        "subject": form.get("subject", ""),
        "sms_text": form.get("sms_text", ""),
    }
    if not editor.is_transactional:
        typed["name"] = form.get("name", "")
        if not editor.uses_blocks:
            typed["body_html"] = form.get("body_html", "")
    try:
        if editor.is_transactional:
            check = template_editor.save_template(
                editor.template,
                current_user,
                base_version=base_version,
                subject=typed["subject"],
                sms_text=typed["sms_text"],
                extra_values={"customised": True},
            )
        elif editor.uses_blocks:
            check = template_editor.save_template(
                editor.template,
                current_user,
                base_version=base_version,
                subject=typed["subject"],
                sms_text=typed["sms_text"],
                extra_values={"name": notification_templates.clean_name(typed["name"])},
            )
        else:
            notification_templates.save_rich_template(
                editor.template, current_user, base_version=base_version, **typed
            )
            check = None
    except TemplateConflict as conflict:
        return render_editor(
            editor,
            status=409,
            conflict=conflict_text(conflict),
            base_version=base_version,
            **typed,
        )
    except (TemplateInvalid, BlockError) as exc:
        return render_editor(
            editor,
            status=422,
            error=str(exc),
            error_field=getattr(exc, "field", None),
            base_version=base_version,
            **typed,
        )
    message = _("Template saved.")
    if not htmx:
        flash(message, "success")
        return redirect(editor.page_url, code=303)
    return _toast(render_editor(editor, saved=True, check=check), message)


# --- Notification templates --------------------------------------------------------------------


@bp.route("/notifications", methods=["GET", "POST"])
@roles(*STAFF_ROLES)
def notifications():
    """Notification templates, and the form that creates one."""
    query = request.args.get("q", "")[:MAX_SEARCH_CHARS]
    error = field = None
    typed = {"name": "", "subject": ""}
    if request.method == "POST":
        typed = {"name": request.form.get("name", ""), "subject": request.form.get("subject", "")}
        try:
            template = notification_templates.create_template(current_user, **typed)
        except TemplateInvalid as exc:
            error, field = str(exc), exc.field
        else:
            flash(_("Template created. Write its text below."), "success")
            target = url_for("templates.notification", template_id=template.id)
            if htmx:
                response = make_response("", 204)
                response.headers["HX-Redirect"] = target
                return response
            return redirect(target, code=303)
    return render_page(
        "templates/notifications.html",
        "templates/_notification_list.html",
        status=422 if error else 200,
        templates=notification_templates.list_templates(query),
        q=query,
        error=error,
        error_field=field,
        typed=typed,
    )


@bp.route("/notifications/<int:template_id>", methods=["GET", "POST"])
@roles(*STAFF_ROLES)
def notification(template_id: int):
    """The editor of one notification template; POST saves it.

    :raise 404: unknown template.
    """
    editor = load_editor("notifications", template_id)
    if request.method == "POST":
        return _save(editor)
    return render_editor(editor)


@bp.route("/notifications/<int:template_id>/design", methods=["POST"])
@roles(*STAFF_ROLES)
def switch_design(template_id: int):
    """Switch the body between rich text and the block editor.

    :raise 404: unknown template.
    """
    editor = load_editor("notifications", template_id)
    base_version = _form_int("base_version") or 0
    try:
        if request.form.get("to") == "blocks":
            notification_templates.switch_to_blocks(editor.template, current_user, base_version)
        else:
            notification_templates.switch_to_rich_text(editor.template, current_user, base_version)
    except TemplateConflict as conflict:
        return render_editor(editor, status=409, stale=conflict_text(conflict))
    if not htmx:
        return redirect(editor.page_url, code=303)
    return render_editor(editor)


@bp.route("/notifications/<int:template_id>/delete", methods=["POST"])
@roles(*STAFF_ROLES)
def delete_notification(template_id: int):
    """:raise 404: unknown template."""
    editor = load_editor("notifications", template_id)
    name = editor.template.name
    notification_templates.delete_template(editor.template)
    flash(_("Template %(name)s deleted.", name=name), "success")
    target = url_for("templates.notifications")
    if htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


@bp.route("/notifications/picker")
@roles(*ALL_ROLES)
def notification_picker():
    """The list of notification templates for a composer (see _notification_picker.html)."""
    return render_page(
        "templates/_notification_picker_list.html",
        "templates/_notification_picker_list.html",
        templates=notification_templates.list_templates(),
    )


@bp.route("/notifications/<int:template_id>/content")
@roles(*ALL_ROLES)
def notification_content(template_id: int):
    """A template's subject, body and SMS text: fill elements for htmx, JSON otherwise.

    :raise 404: unknown template.
    """
    editor = load_editor("notifications", template_id)
    content = notification_templates.composer_content(editor.template)
    if not htmx:
        return jsonify(content)
    return render_page(
        "templates/_notification_fill.html",
        "templates/_notification_fill.html",
        content=content,
    )


# --- The block editor --------------------------------------------------------------------------


def _block_editor(kind: str, template_id: int) -> Editor:
    """:raise 404: unknown template, or one whose body is rich text rather than blocks."""
    if kind not in KINDS:
        abort(404)
    editor = load_editor(kind, template_id)
    if not editor.uses_blocks:
        abort(404)
    return editor


def _message(editor: Editor, status: int, *, resync: bool = False, **context) -> Response:
    """An error shown above the editor, whatever element asked."""
    response = render_fragment(
        "templates/_editor_messages.html", editor, status=status, resync=resync, **context
    )
    response.headers["HX-Retarget"] = "#editor-messages"
    response.headers["HX-Reswap"] = "innerHTML"
    return response


def _block_list(editor: Editor, editing: str | None = None) -> Response:
    return _changed(render_fragment("templates/_blocks.html", editor, editing_block=editing))


@bp.route("/<kind>/<int:template_id>/blocks", methods=["POST"])
@roles(*STAFF_ROLES)
def add_block(kind: str, template_id: int):
    """Add a block of the posted `type` at the end; it opens for editing.

    :raise 404: unknown template.
    """
    editor = _block_editor(kind, template_id)
    try:
        _blocks, new_id = template_editor.add_block(
            editor.template,
            current_user.id,
            _form_int("base_version"),
            request.form.get("type", ""),
        )
    except TemplateConflict as conflict:
        return _message(editor, 409, stale=conflict_text(conflict))
    except TemplateInvalid as exc:
        return _message(editor, 422, error=str(exc))
    return _block_list(editor, editing=new_id)


@bp.route("/<kind>/<int:template_id>/order", methods=["POST"])
@roles(*STAFF_ROLES)
def reorder(kind: str, template_id: int):
    """Store the order posted after a drop (`order` = comma-separated block ids).

    :raise 404: unknown template.
    """
    editor = _block_editor(kind, template_id)
    order = [part.strip() for part in request.form.get("order", "").split(",") if part.strip()]
    try:
        template_editor.reorder_blocks(
            editor.template,
            current_user.id,
            _form_int("base_version"),
            order,
        )
    except UnknownBlock as exc:
        message = _(
            "Block %(id)s is not part of this template (it belongs to another template or was "
            "removed). Nothing was changed.",
            id=exc.block_id[:64],
        )
        return _message(editor, 400, error=message, resync=True)
    except TemplateConflict as conflict:
        return _message(editor, 409, stale=conflict_text(conflict), resync=True)
    except TemplateInvalid as exc:
        return _message(editor, 422, error=str(exc), resync=True)
    return _block_list(editor)


@bp.route("/<kind>/<int:template_id>/blocks/<block_id>", methods=["GET", "POST"])
@roles(*STAFF_ROLES)
def block(kind: str, template_id: int, block_id: str):
    """One block: shown (GET), its edit form (GET ?edit=1), or saved from that form (POST).

    :raise 404: unknown template or block.
    """
    editor = _block_editor(kind, template_id)
    blocks, _draft = template_editor.working_blocks(editor.template, current_user.id)
    current = next((b for b in blocks if b["id"] == block_id), None)
    if current is None:
        abort(404)
    if request.method == "GET":
        fragment = (
            "templates/_block_form.html" if request.args.get("edit") else "templates/_block.html"
        )
        return render_fragment(fragment, editor, block=current)
    fields = {
        name: request.form.get(name) for name in template_editor.EDITABLE_FIELDS[current["type"]]
    }
    upload = request.files.get("image")
    try:
        if current["type"] == "image" and upload and upload.filename:
            image = template_editor.store_image(
                upload.stream.read(template_editor.MAX_IMAGE_BYTES + 1), current_user.id
            )
            fields["url"] = _image_url(image)
        blocks = template_editor.update_block(
            editor.template,
            current_user.id,
            _form_int("base_version"),
            block_id,
            fields,
        )
    except (BlockError, ImageRejected) as exc:
        field = getattr(exc, "field_name", None) or (
            "url" if isinstance(exc, ImageRejected) else None
        )
        message = _block_problem(exc, current["type"])
        status = 413 if getattr(exc, "too_large", False) else 422
        return render_fragment(
            "templates/_block_form.html",
            editor,
            status=status,
            block={**current, **{k: v for k, v in fields.items() if v is not None}},
            block_error=message,
            block_error_field=field,
        )
    except UnknownBlock:
        abort(404)
    except TemplateConflict as conflict:
        return _message(editor, 409, stale=conflict_text(conflict))
    saved = next(b for b in blocks if b["id"] == block_id)
    return _changed(render_fragment("templates/_block.html", editor, block=saved))


def _block_problem(exc: Exception, block_type: str) -> str:
    """The reason a block edit was refused, said for the form it appears in."""
    field = getattr(exc, "field_name", None)
    if isinstance(exc, BlockError) and field in ("url", "link"):
        if block_type == "button" and field == "url":
            return _(
                "The link must start with https://, http:// or mailto: "
                "(for example https://studio.example/book or mailto:hello@studio.example)."
            )
        return _("The address must start with https:// or http://.")
    if isinstance(exc, BlockError) and field in ("text", "label"):
        return _("This text cannot be empty.")
    # BlockError names the block's position, which the open form makes plain already.
    return re.sub(r"^Block \d+ \([a-z]+\): ", "", str(exc))


@bp.route("/<kind>/<int:template_id>/blocks/<block_id>/delete", methods=["POST"])
@roles(*STAFF_ROLES)
def delete_block(kind: str, template_id: int, block_id: str):
    """:raise 404: unknown template or block."""
    editor = _block_editor(kind, template_id)
    try:
        template_editor.delete_block(
            editor.template,
            current_user.id,
            _form_int("base_version"),
            block_id,
        )
    except UnknownBlock:
        abort(404)
    except TemplateConflict as conflict:
        return _message(editor, 409, stale=conflict_text(conflict))
    return _block_list(editor)


@bp.route("/<kind>/<int:template_id>/discard", methods=["POST"])
@roles(*STAFF_ROLES)
def discard(kind: str, template_id: int):
    """Throw away this staff member's unsaved block changes.

    :raise 404: unknown template.
    """
    if kind not in KINDS:
        abort(404)
    editor = load_editor(kind, template_id)
    template_editor.discard_draft(editor.template, current_user.id)
    message = _("Your unsaved changes were discarded.")
    if not htmx:
        flash(message, "success")
        return redirect(editor.page_url, code=303)
    return _toast(render_editor(editor), message)


@bp.route("/<kind>/<int:template_id>/status")
@roles(*STAFF_ROLES)
def status(kind: str, template_id: int):
    """Warnings for what is in the editor now: unknown variables, missing links, unsaved changes.

    :raise 404: unknown template.
    """
    if kind not in KINDS:
        abort(404)
    editor = load_editor(kind, template_id)
    typed = {
        key: request.args[key][:20_000]
        for key in ("subject", "sms_text", "body_html")
        if key in request.args
    }
    return render_fragment("templates/_status.html", editor, **typed)


@bp.route("/<kind>/<int:template_id>/preview-frame")
@roles(*STAFF_ROLES)
def preview_frame(kind: str, template_id: int):
    """The preview iframe, with a fresh address so the browser loads it again.

    :raise 404: unknown template.
    """
    if kind not in KINDS:
        abort(404)
    return render_fragment("templates/_preview_frame.html", load_editor(kind, template_id))


@bp.route("/<kind>/<int:template_id>/preview")
@roles(*STAFF_ROLES)
def preview(kind: str, template_id: int):
    """The email as a customer would get it, with sample data (shown in the editor's iframe).

    :raise 404: unknown template.
    """
    if kind not in KINDS:
        abort(404)
    editor = load_editor(kind, template_id)
    blocks, _draft = template_editor.working_blocks(editor.template, current_user.id)
    try:
        email = template_editor.preview_email(
            subject=editor.template.subject,
            blocks=blocks if editor.uses_blocks else None,
            body_html=getattr(editor.template, "body_html", ""),
            values=editor.sample_values(),
            category=editor.category,
        )
        html = email.html
    except (BlockError, ValueError) as exc:
        html = render_template("templates/_preview_problem.html", problem=str(exc))
    response = make_response(html)
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<kind>/<int:template_id>/test-email", methods=["POST"])
@roles(*STAFF_ROLES)
def test_email(kind: str, template_id: int):
    """Send the template as it is in the editor, with sample data, to the signed-in staff member.

    :raise 404: unknown template.
    """
    if kind not in KINDS:
        abort(404)
    editor = load_editor(kind, template_id)
    blocks, _draft = template_editor.working_blocks(editor.template, current_user.id)
    try:
        subject = template_editor.clean_subject(request.form.get("subject", ""))
        template_editor.send_test_email(
            staff=current_user,
            subject=subject,
            blocks=blocks if editor.uses_blocks else None,
            body_html=request.form.get("body_html", getattr(editor.template, "body_html", "")),
            values=editor.sample_values(),
            category=editor.category,
        )
    except (TemplateInvalid, BlockError, SendRefused) as exc:
        return _message(editor, 422, error=str(exc))
    message = _("Test email sent to %(email)s.", email=current_user.email)
    if not htmx:
        flash(message, "success")
        return redirect(editor.page_url, code=303)
    return _toast(make_response("", 204), message)


# --- Images ------------------------------------------------------------------------------------


def _image_url(image) -> str:
    from flask import current_app

    extension = template_editor.IMAGE_TYPES[image.content_type]
    path = url_for("templates.image", token=f"{image.token}.{extension}", _external=False)
    return current_app.config["PUBLIC_BASE_URL"] + path


@bp.route("/images/<token>")
@public
def image(token: str):
    """An uploaded email image; public because mail clients load it, unguessable by its token.

    :raise 404: unknown token.
    """
    found = template_editor.find_image(token)
    if found is None:
        abort(404)
    response = make_response(found.data)
    response.headers["Content-Type"] = found.content_type
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Content-Disposition"] = "inline"
    return response
