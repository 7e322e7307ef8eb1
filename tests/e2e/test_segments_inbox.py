"""In a real browser: build a segment with a live count, save it, reorder its tab, contact it."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from commsapp.models import Segment
from commsapp.services import segments
from tests import factories

pytestmark = pytest.mark.e2e


def _drag(page, source, target) -> None:
    """Drag by mouse in small steps, as a person would: SortableJS follows real pointer moves."""
    box, goal = source.bounding_box(), target.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(goal["x"] + 2, goal["y"] + goal["height"] / 2, steps=12)
    page.mouse.move(goal["x"] + 1, goal["y"] + goal["height"] / 2, steps=4)
    page.mouse.up()


def test_build_save_reorder_and_contact_a_segment(signed_in_page, live_server, db, redis):
    """The count follows each change, the saved tab can be dragged first, and contacting the
    segment gives each of its customers their own thread."""
    kurs = factories.tag("Kurs")
    for name in ("Ada", "Bo", "Cem"):
        member = factories.customer(first_name=name, last_name="Kursteil")
        member.tags.append(kurs)
    factories.customer(first_name="Dan", last_name="Anders")
    segments.create_segment("Erste Liste", {"conditions": []}, None)
    db.session.commit()
    page = signed_in_page

    page.goto(f"{live_server}/segments/new")
    page.select_option("select[name='n-1-type']", "tag")
    page.select_option("select[name='n-1-tag_ids']", str(kurs.id))
    count = page.locator("#segment-preview .count")
    expect(count).to_have_attribute("data-count", "3")
    page.select_option("select[name='n-1-op']", "has_not")
    expect(count).to_have_attribute("data-count", "1")
    expect(page.locator("#segment-preview")).to_contain_text("Anders, Dan")
    page.select_option("select[name='n-1-op']", "has")
    expect(count).to_have_attribute("data-count", "3")
    page.fill("#segment-name", "Kursteilnehmer")
    page.click("button:has-text('Save segment')")
    page.wait_for_url(re.compile(r"/segments/\d+$"))
    expect(page.locator(".count")).to_have_attribute("data-count", "3")

    saved = db.session.scalar(select(Segment).where(Segment.name == "Kursteilnehmer"))
    tabs = page.locator(".sortable-tabs .tab")
    expect(tabs).to_have_text(["⠿Erste Liste", "⠿Kursteilnehmer"])
    with page.expect_response(lambda r: r.url.endswith("/segments/order")) as answer:
        _drag(page, tabs.nth(1).locator(".drag"), tabs.nth(0))
    assert answer.value.status == 204
    page.reload()
    expect(page.locator(".sortable-tabs .tab")).to_have_text(["⠿Kursteilnehmer", "⠿Erste Liste"])

    page.click("a.button:has-text('Contact customers')")
    page.fill("#compose-subject", "Kursstart am Montag")
    page.fill("#compose-body", "Wir freuen uns auf euch!")
    page.click("button:has-text('Review recipients')")
    expect(page.locator(".will-receive")).to_contain_text("3 customers receive it by email")
    page.click("button:has-text('Send to 3 customers')")
    expect(page.locator("#send-progress")).to_be_visible()

    page.goto(f"{live_server}/inbox?segment={saved.id}")
    rows = page.locator("tr.thread-row")
    expect(rows).to_have_count(3)
    for name in ("Ada", "Bo", "Cem"):
        expect(page.locator("tr.thread-row", has_text=f"{name} Kursteil")).to_contain_text(
            "Kursstart am Montag"
        )
