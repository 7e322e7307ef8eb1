"""In a real browser: the drag-and-drop email editor keeps order and text, and XSS never runs."""

import pytest
from sqlalchemy import select

from commsapp.models import Delivery, DeliveryStatus
from commsapp.services import outbox

pytestmark = pytest.mark.e2e

XSS = (
    "<p>Hi there</p>"
    "<img src=x onerror=\"window.__xss='img';alert('img')\">"
    "<a href=\"javascript:window.__xss='link';alert('link')\">click me</a>"
    "<svg onload=\"window.__xss='svg';alert('svg')\"><circle r=5 /></svg>"
    "<p onmouseover=\"window.__xss='hover'\">hover me</p>"
)
DANGEROUS = "img[onerror], [onload], [onmouseover], svg, a[href^='javascript']"


def _open_welcome_editor(page, live_server):
    page.set_viewport_size({"width": 1300, "height": 1000})
    page.goto(f"{live_server}/templates")
    page.click("tr:has-text('Welcome') >> text=English")
    page.wait_for_selector("#block-list > li.block")


def _blocks(page):
    return page.locator("#block-list > li.block")


def _add_block(page, block_type):
    with page.expect_response(lambda r: r.url.endswith("/blocks") and r.status == 200):
        page.click(f"button[data-block-type={block_type}]")
    page.wait_for_selector(f"#block-list > li.editing[data-block-type={block_type}]")


def _save(page):
    with page.expect_response(lambda r: r.request.method == "POST" and r.status == 200):
        page.click("#template-form button[type=submit]")
    page.wait_for_selector("#editor-messages >> text=Template saved.")


def test_blocks_are_added_dragged_edited_and_kept_after_save_and_reload(
    signed_in_page, live_server
):
    """Add two blocks, drag the heading to the top, rename it, save: after a reload editor and preview agree."""
    page = signed_in_page
    _open_welcome_editor(page, live_server)
    assert _blocks(page).count() == 4
    _add_block(page, "divider")
    page.click("li.editing >> text=Done")
    _add_block(page, "heading")
    page.click("li.editing >> text=Done")
    page.wait_for_selector("#block-list > li.block:not(.editing) >> text=New heading")
    assert _blocks(page).count() == 6

    new_heading = _blocks(page).nth(5)
    heading_id = new_heading.get_attribute("data-id")
    with page.expect_response(lambda r: r.url.endswith("/order") and r.status == 200):
        new_heading.locator(".drag-handle").drag_to(_blocks(page).first.locator(".drag-handle"))
    page.wait_for_function(
        "id => document.querySelector('#block-list > li.block').dataset.id === id", arg=heading_id
    )

    _blocks(page).first.locator("text=Edit").click()
    page.fill(f"#b-{heading_id}-text", "Spring timetable")
    with page.expect_response(lambda r: r.url.endswith(heading_id) and r.status == 200):
        page.click("li.editing >> text=Done")
    _save(page)

    page.reload()
    page.wait_for_selector("#block-list > li.block")
    types = [_blocks(page).nth(i).get_attribute("data-block-type") for i in range(6)]
    assert types == ["heading", "heading", "text", "button", "footer", "divider"]
    assert _blocks(page).first.inner_text().find("Spring timetable") >= 0
    preview = page.frame_locator("#preview-frame").locator("body")
    preview.locator("text=Spring timetable").wait_for()
    text = preview.inner_text()
    assert text.index("Spring timetable") < text.index("Welcome, Anna!")
    page.click("label[for=preview-mobile]")
    page.wait_for_function("document.querySelector('#preview-frame').offsetWidth <= 380")


def test_xss_in_rich_text_never_runs_in_editor_preview_or_sent_email(
    signed_in_page, live_server, app, db, smtp
):
    """Payloads with onerror, javascript: links and svg onload are saved harmless everywhere."""
    dialogs = []
    page = signed_in_page
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _open_welcome_editor(page, live_server)
    _add_block(page, "text")
    block_id = page.locator("li.editing").get_attribute("data-id")
    page.fill(f"#b-{block_id}-html", XSS)
    with page.expect_response(lambda r: r.url.endswith(block_id) and r.status == 200):
        page.click("li.editing >> text=Done")
    block = page.locator(f"#block-{block_id}")
    block.locator("text=Hi there").wait_for()
    assert block.locator(DANGEROUS).count() == 0
    assert block.locator("a:has-text('click me')").get_attribute("href") is None
    _save(page)

    page.reload()
    page.wait_for_selector(f"#block-{block_id} >> text=hover me")
    page.hover(f"#block-{block_id} >> text=hover me")
    preview = page.frame_locator("#preview-frame")
    preview.locator("text=Hi there").wait_for()
    preview.locator("text=hover me").hover()
    assert preview.locator(DANGEROUS).count() == 0
    assert page.locator(DANGEROUS).count() == 0

    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, SMTP_SECURITY="none")
    try:
        with page.expect_response(lambda r: r.url.endswith("/test-email") and r.status == 204):
            page.click("text=Send a test email to me")
        page.wait_for_selector(".toast >> text=Test email sent to")
        pending = db.session.scalars(
            select(Delivery.id).where(Delivery.status == DeliveryStatus.PENDING)
        ).all()
        outbox.process(list(pending))
    finally:
        app.config.update(SMTP_HOST="")
    [email] = smtp.to("e2e-admin@studio.de")
    html = email.get_body(("html",)).get_content()
    assert "Hi there" in html and "click me" in html
    for payload in ("onerror", "javascript:", "<svg", "onload", "onmouseover", "__xss"):
        assert payload not in html, payload

    assert page.evaluate("window.__xss") is None
    assert dialogs == []
