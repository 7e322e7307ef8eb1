"""Editing templates: drafts, saving without lost updates, variable checks, block rules and images."""

import json

import pytest

from commsapp.models import TemplateDraft
from commsapp.services import template_catalogue, template_editor
from commsapp.services.email_blocks import MAX_BLOCKS, BlockError
from commsapp.services.template_editor import (
    ImageRejected,
    TemplateConflict,
    TemplateInvalid,
    UnknownBlock,
)
from tests import factories

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
WAIVER_VARIABLES = template_catalogue.EVENTS["waiver_update"].variables


@pytest.fixture(autouse=True)
def _request(app):
    """Messages are translated for the staff member, which needs a request (as in the editor)."""
    with app.test_request_context():
        yield


def _waiver(db):
    template = template_catalogue.template_for("waiver_update", "en")
    db.session.commit()
    return template


def _save(template, staff, **fields):
    fields.setdefault("base_version", template.version)
    fields.setdefault("subject", template.subject)
    fields.setdefault("sms_text", template.sms_text)
    return template_editor.save_template(template, staff, **fields)


def test_unknown_variable_is_reported_with_the_closest_allowed_name(app, db):
    """{{firstname}} is flagged with {{first_name}} as suggestion; a far-off name gets none."""
    check = template_editor.check_content(
        subject="Hi {{firstname}}",
        blocks=[{"id": "t", "type": "text", "html": "<p>{{Business_Name}} {{banana}}</p>"}],
        sms_text="{{first_name}}",
        allowed=WAIVER_VARIABLES,
    )
    assert [(u.name, u.suggestion) for u in check.unknown] == [
        ("firstname", "first_name"),
        ("Business_Name", "business_name"),
        ("banana", None),
    ]


def test_saving_keeps_unknown_variables_but_reports_them(app, db):
    """Saving is not refused for a misspelling: it is stored as written and the warning says which."""
    template = _waiver(db)
    staff = factories.staff_user()
    check = _save(template, staff, subject="Dear {{firstname}}")
    assert template.subject == "Dear {{firstname}}"
    assert [(u.name, u.suggestion) for u in check.unknown] == [("firstname", "first_name")]


def test_waiver_template_cannot_be_saved_without_url(app, db):
    """Removing the button with {{url}} makes the waiver request unsaveable; the stored one stays intact."""
    template = _waiver(db)
    staff = factories.staff_user()
    before = template.blocks_json
    button = next(b for b in template.blocks if b["type"] == "button")
    template_editor.delete_block(template, staff.id, template.version, button["id"])
    with pytest.raises(TemplateInvalid, match=r"\{\{url\}\}"):
        _save(template, staff)
    with pytest.raises(TemplateInvalid, match="SMS"):
        text = next(b for b in template.blocks if b["type"] == "text")
        template_editor.update_block(
            template, staff.id, None, text["id"], {"html": "<p>Sign: {{url}}</p>"}
        )
        _save(template, staff, sms_text="Please sign our waiver.")
    db.session.refresh(template)
    assert template.blocks_json == before and template.version == 1
    _save(template, staff, sms_text="Please sign: {{url}}")
    assert template.version == 2 and "{{url}}" in template.blocks_json


def test_second_save_from_an_older_version_is_refused_and_loses_nothing(app, db):
    """Two staff edit at once: the later save is told who saved when; both versions survive."""
    template = _waiver(db)
    eva = factories.staff_user(name="Eva Admin")
    tom = factories.staff_user(name="Tom Staff")
    opened_at = template.version
    template_editor.add_block(template, tom.id, opened_at, "divider")
    _save(template, eva, base_version=opened_at, subject="Eva's subject")
    with pytest.raises(TemplateConflict) as refused:
        _save(template, tom, base_version=opened_at, subject="Tom's subject")
    assert refused.value.saved_by == "Eva Admin" and refused.value.version == 2
    db.session.refresh(template)
    assert template.subject == "Eva's subject"
    tom_blocks, tom_draft = template_editor.working_blocks(template, tom.id)
    assert tom_draft is not None and tom_blocks[-1]["type"] == "divider"
    _save(template, tom, base_version=refused.value.version, subject="Tom's subject")
    assert template.subject == "Tom's subject" and template.version == 3
    assert template.blocks[-1]["type"] == "divider"
    assert db.session.query(TemplateDraft).count() == 0


def test_block_change_after_someone_saved_is_refused_until_reload(app, db):
    """Starting a draft from a version that is no longer current would hide their change: refused."""
    template = _waiver(db)
    eva, tom = factories.staff_user(), factories.staff_user()
    _save(template, eva, subject="New")
    with pytest.raises(TemplateConflict):
        template_editor.add_block(template, tom.id, 1, "divider")
    template_editor.add_block(template, tom.id, 2, "divider")


def test_reorder_with_a_block_of_another_template_changes_nothing(app, db):
    """An id from another template is named in the error; the order stays as it was."""
    waiver = _waiver(db)
    welcome = template_catalogue.template_for("welcome", "en")
    staff = factories.staff_user()
    own = [b["id"] for b in waiver.blocks]
    foreign = welcome.blocks[0]["id"]
    with pytest.raises(UnknownBlock) as refused:
        template_editor.reorder_blocks(waiver, staff.id, 1, [foreign, *own[1:]])
    assert refused.value.block_id == foreign
    with pytest.raises(TemplateInvalid):
        template_editor.reorder_blocks(waiver, staff.id, 1, own[:-1])
    assert [b["id"] for b in template_editor.working_blocks(waiver, staff.id)[0]] == own
    assert template_editor.find_draft(waiver, staff.id) is None
    blocks = template_editor.reorder_blocks(waiver, staff.id, 1, list(reversed(own)))
    assert [b["id"] for b in blocks] == list(reversed(own))


def test_a_template_holds_at_most_200_blocks(app, db):
    """The 201st block is refused with a clear message and the draft keeps its 200."""
    template = _waiver(db)
    staff = factories.staff_user()
    template_editor.add_block(template, staff.id, 1, "divider")
    draft = template_editor.find_draft(template, staff.id)
    draft.blocks_json = json.dumps(
        [{"id": f"b{i:012x}", "type": "divider"} for i in range(MAX_BLOCKS)]
    )
    db.session.commit()
    with pytest.raises(TemplateInvalid, match="at most 200 blocks"):
        template_editor.add_block(template, staff.id, 1, "spacer")
    assert len(template_editor.working_blocks(template, staff.id)[0]) == MAX_BLOCKS


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,x", "ftp://files.example/a", "{{first_name}}"]
)
def test_button_link_must_be_http_https_or_mailto(app, db, url):
    """A bad button link is refused naming block and field; the stored block is unchanged."""
    template = _waiver(db)
    staff = factories.staff_user()
    button = next(b for b in template.blocks if b["type"] == "button")
    with pytest.raises(BlockError, match=r"Block 3 \(button\): 'url'") as refused:
        template_editor.update_block(
            template, staff.id, 1, button["id"], {"label": "Sign", "url": url}
        )
    assert refused.value.field_name == "url"
    assert template_editor.working_blocks(template, staff.id)[0][2]["url"] == "{{url}}"


def test_button_link_may_be_the_url_variable_only_where_the_event_offers_it(app, db):
    """{{url}} stands in for the link in the waiver; a notification template has no such variable."""
    blocks = [{"id": "b", "type": "button", "label": "Go", "url": " {{url}} "}]
    assert template_editor.validate_template_blocks(blocks, {"url"})[0]["url"] == "{{url}}"
    with pytest.raises(BlockError):
        template_editor.validate_template_blocks(blocks, ())


def test_rich_text_is_sanitised_and_values_are_escaped_when_filled(app, db):
    """Script, handlers and javascript: links are dropped; a value with markup arrives as text."""
    [block] = template_editor.validate_template_blocks(
        [
            {
                "id": "t",
                "type": "text",
                "html": '<p>Hi {{first_name}}<img src=x onerror=alert(1)><a href="javascript:alert(2)">x</a>'
                "<svg onload=alert(3)></svg><script>alert(4)</script></p>",
            }
        ]
    )
    assert "onerror" not in block["html"] and "javascript" not in block["html"]
    assert "<svg" not in block["html"] and "<script" not in block["html"]
    [filled, heading] = template_editor.fill_blocks(
        [block, {"id": "h", "type": "heading", "text": "Hi {{first_name}}"}],
        {"first_name": "<b>Ann</b>"},
    )
    assert "Hi &lt;b&gt;Ann&lt;/b&gt;" in filled["html"]
    assert heading["text"] == "Hi <b>Ann</b>"  # plain text: escaped once, when rendered


def test_images_are_recognised_by_content_not_name(app, db):
    """PNG, JPEG, GIF and WebP by their first bytes; anything else, and over 2 MB, is refused."""
    detect = template_editor.detect_image_type
    assert detect(PNG) == "image/png"
    assert detect(b"\xff\xd8\xff\xe0" + b"\x00" * 8) == "image/jpeg"
    assert detect(b"GIF89a" + b"\x00" * 8) == "image/gif"
    assert detect(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert detect(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None
    assert detect(b"<html><script>alert(1)</script>") is None
    with pytest.raises(ImageRejected, match="not a PNG, JPEG, GIF or WebP"):
        template_editor.store_image(b"%PDF-1.7 pretending to be a png", None)
    with pytest.raises(ImageRejected, match="larger than 2 MB") as too_big:
        template_editor.store_image(PNG + b"\x00" * (2 * 1024 * 1024), None)
    assert too_big.value.too_large
    image = template_editor.store_image(PNG, None)
    assert image.content_type == "image/png" and image.size == len(PNG)
    assert template_editor.find_image(image.token + ".png").id == image.id
