"""The templates pages: catalogue, editor, block editing, bad input, concurrent edits, notification templates."""

import io
import json
import re

import pytest
from sqlalchemy import select

from commsapp.models import (
    Delivery,
    DeliveryStatus,
    NotificationTemplate,
    Role,
    TemplateImage,
    TransactionalTemplate,
)
from commsapp.services import outbox, template_catalogue
from tests import factories
from tests.conftest import csrf_token

HTMX = {"HX-Request": "true"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


@pytest.fixture
def admin(client, login_as):
    user = login_as(Role.ADMIN, name="Eva Admin")
    user.token = csrf_token(client, "/templates")
    return user


def _template(db, event_key="welcome", language="en") -> TransactionalTemplate:
    db.session.expire_all()
    template = template_catalogue.template_for(event_key, language)
    db.session.commit()
    return template


def _post(client, url, token, data=None, htmx=True, **kwargs):
    return client.post(
        url, data={"csrf_token": token, **(data or {})}, headers=HTMX if htmx else {}, **kwargs
    )


def _block_ids(html: str) -> list[str]:
    return re.findall(r'<li class="block[^"]*" id="block-[^"]+" data-id="([^"]+)"', html)


def test_catalogue_lists_every_event_and_the_search_finds_unsuccessful(client, admin):
    """All ten events are listed with both languages; searching "unsuccessful" leaves the renewal one."""
    page = client.get("/templates").get_data(as_text=True)
    for name in ("Booking confirmation", "Waitlist spot offered", "Newsletter confirmation"):
        assert name in page
    assert page.count(">English</a>") == 10 and page.count(">German</a>") == 10
    found = client.get("/templates?q=unsuccessful", headers=HTMX).get_data(as_text=True)
    assert "Unsuccessful membership renewal" in found and "Booking confirmation" not in found
    assert "<html" not in found
    none = client.get("/templates?q=" + "zz" * 200).get_data(as_text=True)
    assert "No template matches" in none


def test_editor_lists_the_allowed_variables_each_with_a_copy_button(client, admin, db):
    """Above the editor: exactly the event's variables, each copyable; the waiver names {{url}} as required."""
    template = _template(db, "session_cancelled")
    page = client.get(f"/templates/transactional/{template.id}").get_data(as_text=True)
    for variable in ("noteToCustomers", "refundNotice", "students_first_names", "first_name"):
        assert f'data-copy="{{{{{variable}}}}}"' in page
    assert 'data-copy="{{numberOfMinutesToRespond}}"' not in page
    waiver = _template(db, "waiver_update")
    page = client.get(f"/templates/transactional/{waiver.id}").get_data(as_text=True)
    assert "Required in this template:" in page and "<code>{{url}}</code>" in page


def test_saving_warns_about_an_unknown_variable_and_suggests_the_closest(client, admin, db):
    """{{firstname}} is saved as written, and the answer says: did you mean {{first_name}}?"""
    template = _template(db)
    response = _post(
        client,
        f"/templates/transactional/{template.id}",
        admin.token,
        {"base_version": "1", "subject": "Hello {{firstname}}", "sms_text": "Hi {{frist_name}}"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Unknown variable {{firstname}}: did you mean {{first_name}}?" in body
    assert "Unknown variable {{frist_name}}: did you mean {{first_name}}?" in body
    assert json.loads(response.headers["HX-Trigger"])["toast"] == "Template saved."
    db.session.expire_all()
    stored = db.session.get(TransactionalTemplate, template.id)
    assert stored.subject == "Hello {{firstname}}" and stored.version == 2 and stored.customised
    status = client.get(
        f"/templates/transactional/{template.id}/status?subject=Hi+{{{{lastname}}}}", headers=HTMX
    ).get_data(as_text=True)
    assert "did you mean {{last_name}}?" in status


def test_waiver_without_url_cannot_be_saved_and_stays_as_it_was(client, admin, db):
    """Removing the {{url}} button and saving answers 422 naming {{url}}; the stored waiver is untouched."""
    template = _template(db, "waiver_update")
    before = template.blocks_json
    button = next(b for b in template.blocks if b["type"] == "button")
    base = f"/templates/transactional/{template.id}"
    removed = _post(
        client, f"{base}/blocks/{button['id']}/delete", admin.token, {"base_version": "1"}
    )
    assert removed.status_code == 200 and button["id"] not in removed.get_data(as_text=True)
    response = _post(
        client, base, admin.token, {"base_version": "1", "subject": "Please sign", "sms_text": ""}
    )
    assert response.status_code == 422
    assert "The email must contain {{url}}" in response.get_data(as_text=True)
    assert 'value="Please sign"' in response.get_data(as_text=True)
    db.session.expire_all()
    stored = db.session.get(TransactionalTemplate, template.id)
    assert stored.blocks_json == before and stored.version == 1


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://x.example/", "www.example.com"])
def test_button_link_that_is_not_http_or_mailto_gets_a_clear_message(client, admin, db, url):
    """The block form comes back with 422 and the reason; the block keeps its link."""
    template = _template(db)
    button = next(b for b in template.blocks if b["type"] == "button")
    response = _post(
        client,
        f"/templates/transactional/{template.id}/blocks/{button['id']}",
        admin.token,
        {"base_version": "1", "label": "Book", "url": url, "colour": "#2563eb"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "The link must start with https://, http:// or mailto:" in body and "has-error" in body
    shown = client.get(
        f"/templates/transactional/{template.id}/blocks/{button['id']}", headers=HTMX
    )
    assert "{{url}}" in shown.get_data(as_text=True)
    ok = _post(
        client,
        f"/templates/transactional/{template.id}/blocks/{button['id']}",
        admin.token,
        {"base_version": "1", "label": "Write to us", "url": "mailto:hallo@studio.example"},
    )
    assert ok.status_code == 200 and "mailto:hallo@studio.example" in ok.get_data(as_text=True)
    assert ok.headers["HX-Trigger"] == "templateChanged"


def test_image_upload_is_checked_by_content_and_size_and_served_publicly(client, admin, db, app):
    """A script named .png and a 3 MB image are refused with reasons; a real PNG is stored and served."""
    template = _template(db)
    base = f"/templates/transactional/{template.id}"
    added = _post(client, f"{base}/blocks", admin.token, {"base_version": "1", "type": "image"})
    existing = {block["id"] for block in template.blocks}
    [image_id] = [i for i in _block_ids(added.get_data(as_text=True)) if i not in existing]

    def upload(data: bytes, name: str):
        return _post(
            client,
            f"{base}/blocks/{image_id}",
            admin.token,
            {"base_version": "1", "alt": "Our hall", "image": (io.BytesIO(data), name)},
            content_type="multipart/form-data",
        )

    fake = upload(b"<script>alert(1)</script>", "hall.png")
    assert fake.status_code == 422
    assert "not a PNG, JPEG, GIF or WebP image" in fake.get_data(as_text=True)
    big = upload(PNG + b"\x00" * (3 * 1024 * 1024), "big.png")
    assert big.status_code == 413 and "larger than 2 MB" in big.get_data(as_text=True)
    assert db.session.scalar(select(TemplateImage.id)) is None
    good = upload(PNG, "photo.txt")
    assert good.status_code == 200
    src = re.search(
        r'src="(http://localhost/templates/images/[^"]+\.png)"', good.get_data(as_text=True)
    )
    assert src, good.get_data(as_text=True)
    anonymous = app.test_client()
    served = anonymous.get(src.group(1).removeprefix("http://localhost"))
    assert served.status_code == 200 and served.data == PNG
    assert served.headers["Content-Type"] == "image/png"
    assert "sandbox" in served.headers["Content-Security-Policy"]
    assert anonymous.get("/templates/images/nope.png").status_code == 404


def test_adding_a_block_beyond_200_is_refused(client, admin, db):
    """The 201st block gets a clear 422 message aimed at the editor's message area."""
    template = _template(db)
    template.blocks_json = json.dumps([{"id": f"b{i:012x}", "type": "divider"} for i in range(200)])
    db.session.commit()
    response = _post(
        client,
        f"/templates/transactional/{template.id}/blocks",
        admin.token,
        {"base_version": "1", "type": "text"},
    )
    assert response.status_code == 422
    assert "at most 200 blocks" in response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "#editor-messages"
    db.session.expire_all()
    assert len(db.session.get(TransactionalTemplate, template.id).blocks) == 200
    status = client.get(f"/templates/transactional/{template.id}/status", headers=HTMX)
    assert "Gmail shows only the first 102 KB" in status.get_data(as_text=True)


def test_reorder_with_a_block_of_another_template_answers_400_naming_it(client, admin, db):
    """Nothing is reordered and the foreign id is named; a proper order is stored in the draft."""
    template = _template(db)
    other = _template(db, "booking_confirmation")
    own = [b["id"] for b in template.blocks]
    foreign = other.blocks[0]["id"]
    url = f"/templates/transactional/{template.id}/order"
    response = _post(
        client, url, admin.token, {"base_version": "1", "order": ",".join([foreign, *own[1:]])}
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and foreign in body and "Nothing was changed" in body
    assert _block_ids(body) == own  # the list is put back as stored
    moved = _post(client, url, admin.token, {"base_version": "1", "order": ",".join(reversed(own))})
    assert moved.status_code == 200 and _block_ids(moved.get_data(as_text=True)) == own[::-1]
    page = client.get(f"/templates/transactional/{template.id}").get_data(as_text=True)
    assert "You have unsaved changes to the blocks" in page


def test_later_of_two_concurrent_saves_gets_409_naming_the_other_person(app, client, admin, db):
    """Tom saves after Eva: he is told who saved when, her text stays, his stays in his form; then he may replace it."""
    template = _template(db)
    factories.staff_user(Role.STAFF, name="Tom Staff", email="tom@studio.example")
    db.session.commit()
    tom_client = app.test_client()
    tom_client.post(
        "/login",
        data={
            "email": "tom@studio.example",
            "password": "correct horse battery",
            "csrf_token": csrf_token(tom_client, "/login"),
        },
    )
    tom_token = csrf_token(tom_client, f"/templates/transactional/{template.id}")
    url = f"/templates/transactional/{template.id}"
    eva = _post(client, url, admin.token, {"base_version": "1", "subject": "Eva's welcome"})
    assert eva.status_code == 200
    late = _post(tom_client, url, tom_token, {"base_version": "1", "subject": "Tom's welcome"})
    body = late.get_data(as_text=True)
    assert late.status_code == 409
    assert "Eva Admin saved this template at" in body and "after you opened it" in body
    assert 'value="Tom&#39;s welcome"' in body
    assert '"overwrite_version": "2"' in body
    db.session.expire_all()
    assert db.session.get(TransactionalTemplate, template.id).subject == "Eva's welcome"
    replaced = _post(
        tom_client,
        url,
        tom_token,
        {"base_version": "1", "overwrite_version": "2", "subject": "Tom's welcome"},
    )
    assert replaced.status_code == 200
    db.session.expire_all()
    stored = db.session.get(TransactionalTemplate, template.id)
    assert stored.subject == "Tom's welcome" and stored.version == 3
    assert stored.updated_by.name == "Tom Staff"


def test_reset_to_default_puts_the_default_text_back(client, admin, db):
    """After edits, reset restores the default subject and blocks as a new version."""
    template = _template(db)
    url = f"/templates/transactional/{template.id}"
    _post(client, url, admin.token, {"base_version": "1", "subject": "Changed"})
    response = _post(client, f"{url}/reset", admin.token, {"base_version": "2"})
    assert response.status_code == 200
    db.session.expire_all()
    stored = db.session.get(TransactionalTemplate, template.id)
    assert stored.subject == "Welcome to {{business_name}}!" and stored.version == 3
    assert not stored.customised
    stale = _post(client, f"{url}/reset", admin.token, {"base_version": "2"})
    assert stale.status_code == 409


def test_preview_fills_sample_data_and_allows_no_scripts(client, admin, db):
    """The preview is the customer's email with sample values, served with a policy that forbids scripts."""
    template = _template(db, "booking_confirmation")
    page = client.get(f"/templates/transactional/{template.id}").get_data(as_text=True)
    assert 'id="preview-mobile"' in page and 'id="preview-desktop"' in page
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in page
    response = client.get(f"/templates/transactional/{template.id}/preview")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<table" in html
    assert "See you soon, Anna!" in html and "Mia Muster and Leo Muster" in html
    assert "{{" not in html and "Unsubscribe from transactional emails" in html
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "sandbox" in policy


def test_test_email_goes_to_the_signed_in_staff_member(app, client, admin, db, smtp):
    """ "Send a test email to me" sends the editor's current version, with sample data, to the staff member."""
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, SMTP_SECURITY="none")
    try:
        template = _template(db, "waitlist_offer")
        response = _post(
            client,
            f"/templates/transactional/{template.id}/test-email",
            admin.token,
            {"subject": "Spot for {{first_name}}", "base_version": "1"},
        )
        assert response.status_code == 204
        assert admin.email in json.loads(response.headers["HX-Trigger"])["toast"]
        pending = db.session.scalars(
            select(Delivery.id).where(Delivery.status == DeliveryStatus.PENDING)
        ).all()
        outbox.process(list(pending))
    finally:
        app.config.update(SMTP_HOST="")
    [email] = smtp.to(admin.email)
    assert email["Subject"] == "[Test] Spot for Eva"
    html = email.get_body(("html",)).get_content()
    assert "Good news, Eva!" in html and "Mia Muster and Leo Muster" in html
    empty = _post(
        client, f"/templates/transactional/{template.id}/test-email", admin.token, {"subject": ""}
    )
    assert empty.status_code == 422 and "Enter a subject." in empty.get_data(as_text=True)


def test_notification_template_is_created_edited_and_fills_a_composer(client, admin, db):
    """Create a "Vorlage", save a sanitised body and SMS, and fetch it for a composer as JSON or fill elements."""
    refused = _post(
        client, "/templates/notifications", admin.token, {"name": " ", "subject": "x"}, htmx=False
    )
    assert refused.status_code == 422 and "Give the template a name." in refused.get_data(
        as_text=True
    )
    created = _post(
        client,
        "/templates/notifications",
        admin.token,
        {"name": "Kurs fällt aus", "subject": "Heute kein Kurs"},
        htmx=False,
    )
    assert created.status_code == 303
    template = db.session.scalar(select(NotificationTemplate))
    url = f"/templates/notifications/{template.id}"
    saved = _post(
        client,
        url,
        admin.token,
        {
            "base_version": "1",
            "name": "Kurs fällt aus",
            "subject": "Heute kein Kurs, {{first_name}}",
            "body_html": '<p>Leider <b>kein</b> Kurs.<img src=x onerror="alert(1)"></p>',
            "sms_text": "Heute kein Kurs.",
        },
    )
    assert saved.status_code == 200
    content = client.get(f"{url}/content").get_json()
    assert content["subject"] == "Heute kein Kurs, {{first_name}}"
    assert content["body_html"] == "<p>Leider <b>kein</b> Kurs.</p>"
    assert content["sms_text"] == "Heute kein Kurs." and content["blocks"] is None
    fill = client.get(f"{url}/content", headers=HTMX).get_data(as_text=True)
    assert '<template data-fill-field="compose-body">&lt;p&gt;Leider' in fill
    assert '<template data-fill-field="compose-sms_text">Heute kein Kurs.</template>' in fill
    picker = client.get("/templates/notifications/picker", headers=HTMX).get_data(as_text=True)
    assert (
        "Kurs fällt aus" in picker and f"/templates/notifications/{template.id}/content" in picker
    )
    listing = client.get("/templates/notifications?q=kurs", headers=HTMX).get_data(as_text=True)
    assert "Kurs fällt aus" in listing


def test_notification_template_switches_to_blocks_and_back(client, admin, db):
    """Its text becomes the first block, blocks can be added, and going back keeps the text."""
    template = NotificationTemplate(
        name="Ferien", subject="Ferien", body_html="<p>Schöne Ferien!</p>"
    )
    db.session.add(template)
    db.session.commit()
    url = f"/templates/notifications/{template.id}"
    assert client.post(f"/templates/notifications/{template.id}/blocks").status_code == 400
    switched = _post(client, f"{url}/design", admin.token, {"base_version": "1", "to": "blocks"})
    assert switched.status_code == 200 and "Schöne Ferien!" in switched.get_data(as_text=True)
    added = _post(client, f"{url}/blocks", admin.token, {"base_version": "2", "type": "button"})
    assert added.status_code == 200
    saved = _post(
        client, url, admin.token, {"base_version": "2", "name": "Ferien", "subject": "Ferien"}
    )
    assert saved.status_code == 200
    content = client.get(f"{url}/content").get_json()
    assert len(content["blocks"]) == 2 and "Schöne Ferien!" in content["body_html"]
    back = _post(client, f"{url}/design", admin.token, {"base_version": "3", "to": "rich"})
    assert back.status_code == 200
    db.session.expire_all()
    stored = db.session.get(NotificationTemplate, template.id)
    assert stored.blocks_json is None and "Schöne Ferien!" in stored.body_html


def test_teachers_can_fill_a_composer_from_a_template_but_not_edit_templates(client, login_as, db):
    """The picker and template content are open to teachers; the editor is not."""
    template = NotificationTemplate(name="Reminder", subject="Reminder")
    db.session.add(template)
    db.session.commit()
    login_as(Role.TEACHER)
    assert client.get("/templates/notifications/picker", headers=HTMX).status_code == 200
    assert client.get(f"/templates/notifications/{template.id}/content").status_code == 200
    assert client.get(f"/templates/notifications/{template.id}").status_code == 403
    assert client.get("/templates").status_code == 403


def test_unknown_templates_and_blocks_answer_404(client, admin, db):
    """Ids that do not exist, and unknown kinds, are 404 rather than errors."""
    template = _template(db)
    assert client.get("/templates/transactional/999999").status_code == 404
    assert client.get("/templates/transactional/99999999999999999999").status_code == 404
    assert client.get(f"/templates/elsewhere/{template.id}/preview").status_code == 404
    assert client.get(f"/templates/transactional/{template.id}/blocks/nope").status_code == 404
    gone = _post(
        client, f"/templates/transactional/{template.id}/blocks/nope/delete", admin.token, {}
    )
    assert gone.status_code == 404
    form = client.get(
        f"/templates/transactional/{template.id}/blocks/{template.blocks[0]['id']}?edit=1",
        headers=HTMX,
    ).get_data(as_text=True)
    assert '<form class="block-form"' in form and 'name="text"' in form


def test_notification_picker_include_needs_nothing_from_the_page(app, client, admin):
    """A composer page includes the picker as is; it then loads the template list by itself."""
    from flask import render_template_string

    with app.test_request_context():
        html = render_template_string('{% include "templates/_notification_picker.html" %}')
    assert 'hx-get="/templates/notifications/picker"' in html and 'hx-trigger="load"' in html
