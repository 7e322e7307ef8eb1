"""The segment builder over HTTP: live count, saving, tabs and their order, deleting, bad input."""

import html
import json
import re
from datetime import timedelta

from sqlalchemy import func, select

from commsapp.models import Category, Channel, Role, Segment, SendBatch
from commsapp.models.base import utcnow
from commsapp.services import outbox
from tests import factories
from tests.conftest import csrf_token

HX = {"HX-Request": "true"}


def _vip_definition(tag_id: int) -> str:
    return json.dumps({"conditions": [{"type": "tag", "op": "has", "tag_ids": [tag_id]}]})


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _post(client, path, data, headers=None, token_from="/segments/new"):
    return client.post(
        path, data={**data, "csrf_token": csrf_token(client, token_from)}, headers=headers or {}
    )


def test_builder_shows_the_live_count_and_first_customers(client, login_as, db):
    """Posting the builder's fields answers with the count and the matching customers' names."""
    vip = factories.tag("VIP")
    lea = factories.customer(first_name="Lea", last_name="Vogel")
    lea.tags.append(vip)
    factories.customer(first_name="Tom", last_name="Graf")
    db.session.commit()
    login_as(Role.STAFF)
    assert b"Customer segmentation" in client.get("/segments/new").data
    fields = {"match": "all", "n-1-type": "tag", "n-1-op": "has", "n-1-tag_ids": str(vip.id)}
    answer = _post(client, "/segments/preview", fields, HX).get_data(as_text=True)
    assert 'data-count="1"' in answer and "Vogel, Lea" in answer and "Graf" not in answer
    fields["n-1-op"] = "has_not"
    answer = _post(client, "/segments/preview", fields, HX).get_data(as_text=True)
    assert 'data-count="1"' in answer and "Graf, Tom" in answer


def test_unfinished_condition_gets_a_hint_and_a_tampered_one_a_400_naming_it(client, login_as, db):
    """No tag chosen yet is a hint (200); an unknown type or operator is refused by name."""
    login_as(Role.STAFF)
    hint = _post(client, "/segments/preview", {"n-1-type": "tag", "n-1-op": "has"}, HX)
    assert hint.status_code == 200 and "choose at least one" in _text(hint)
    bad = _post(client, "/segments/preview", {"n-1-type": "horoscope"}, HX)
    assert bad.status_code == 400 and "unknown condition type 'horoscope'" in _text(bad)
    bad_op = _post(
        client, "/segments/preview", {"n-1-type": "contact", "n-1-field": "email", "n-1-op": "is"}
    )
    assert bad_op.status_code == 400 and "unknown op 'is'" in _text(bad_op)
    mangled = _post(client, "/segments/preview", {"n-x.1-type": "tag"}, HX)
    assert mangled.status_code == 400 and "Unknown field" in _text(mangled)


def test_builder_adds_groups_and_removes_conditions(client, login_as, db):
    """The builder's buttons re-render the tree with a nested group added or a condition removed."""
    login_as(Role.STAFF)
    fields = {"match": "all", "n-1-type": "created", "n-1-days": "30"}
    grouped = _post(client, "/segments/builder", {**fields, "action": "group:"}, HX)
    body = grouped.get_data(as_text=True)
    assert 'name="n-2-type" value="group"' in body and 'name="n-2.1-type"' in body
    removed = _post(client, "/segments/builder", {**fields, "action": "remove:1"}, HX)
    assert 'name="n-1-type"' not in removed.get_data(as_text=True)
    gone = _post(client, "/segments/builder", {**fields, "action": "remove:7"}, HX)
    assert gone.status_code == 400


def test_saved_segment_becomes_a_tab_and_shows_on_the_profile(client, login_as, db):
    """Saving leads to the segment's customers; it is a tab on the customer list and inbox, and
    the customer's profile lists it."""
    vip = factories.tag("VIP")
    lea = factories.customer(first_name="Lea", last_name="Vogel")
    lea.tags.append(vip)
    db.session.commit()
    login_as(Role.STAFF)
    response = _post(
        client, "/segments/new", {"name": "VIPs", "definition": _vip_definition(vip.id)}
    )
    segment = db.session.scalar(select(Segment))
    assert response.status_code == 302 and response.headers["Location"] == f"/segments/{segment.id}"
    members = client.get(f"/segments/{segment.id}").get_data(as_text=True)
    assert "Vogel, Lea" in members and 'data-count="1"' in members
    assert "VIPs" in client.get("/customers").get_data(as_text=True)
    assert f"/inbox?segment={segment.id}" in client.get("/inbox").get_data(as_text=True)
    profile = client.get(f"/customers/{lea.id}").get_data(as_text=True)
    assert re.search(r'id="customer-segments".*VIPs', profile, re.S)


def test_saving_a_tampered_segment_stores_nothing(client, login_as, db):
    """A definition naming an unknown condition or a tag that does not exist is refused with 400."""
    login_as(Role.STAFF)
    unknown = json.dumps({"conditions": [{"type": "zodiac"}]})
    response = _post(client, "/segments/new", {"name": "X", "definition": unknown})
    assert response.status_code == 400 and "unknown condition type 'zodiac'" in _text(response)
    missing = _vip_definition(424242)
    response = _post(client, "/segments/new", {"name": "X", "definition": missing})
    assert response.status_code == 400 and "424242 no longer exist" in _text(response)
    no_name = _post(client, "/segments/new", {"name": " ", "definition": '{"conditions": []}'})
    assert no_name.status_code == 422 and b"Give the segment a name" in no_name.data
    assert db.session.scalar(select(func.count()).select_from(Segment)) == 0


def test_tabs_are_reordered_and_keep_their_order(client, login_as, db):
    """The order posted after a drag is stored and shown on the next page load."""
    login_as(Role.STAFF)
    for name in ("Alpha", "Beta", "Gamma"):
        _post(client, "/segments/new", {"name": name, "definition": '{"conditions": []}'})
    ids = {s.name: s.id for s in db.session.scalars(select(Segment))}
    order = f"{ids['Gamma']},{ids['Alpha']},{ids['Beta']}"
    response = _post(client, "/segments/order", {"order": order}, HX)
    assert response.status_code == 204 and "Order saved" in response.headers["HX-Trigger"]
    page = client.get("/customers").get_data(as_text=True)
    assert page.index("Gamma") < page.index("Alpha") < page.index("Beta")
    stale = _post(client, "/segments/order", {"order": f"{ids['Alpha']}"}, HX)
    assert stale.status_code == 400 and b"reload the page" in stale.data
    junk = _post(client, "/segments/order", {"order": "1,two"}, HX)
    assert junk.status_code == 400


def test_rename_duplicate_and_delete(client, login_as, db):
    """Rename keeps names unique, a duplicate opens in the builder, delete removes the tab."""
    login_as(Role.STAFF)
    _post(client, "/segments/new", {"name": "Neu", "definition": '{"conditions": []}'})
    _post(client, "/segments/new", {"name": "Alt", "definition": '{"conditions": []}'})
    neu, alt = db.session.scalars(select(Segment).order_by(Segment.id)).all()
    taken = _post(client, f"/segments/{neu.id}/rename", {"name": "alt"}, token_from="/segments")
    assert taken.status_code == 422 and b"exists already" in taken.data
    assert _post(client, f"/segments/{neu.id}/rename", {"name": "Neukunden"}).status_code == 302
    copy = _post(client, f"/segments/{neu.id}/duplicate", {})
    assert copy.status_code == 302 and copy.headers["Location"].endswith("/edit")
    assert _post(client, f"/segments/{alt.id}/delete", {}).status_code == 302
    db.session.expire_all()
    names = sorted(s.name for s in db.session.scalars(select(Segment)))
    assert names == ["Neukunden", "Neukunden (copy)"]


def test_segment_of_a_scheduled_send_is_not_deleted_silently(client, login_as, db, redis):
    """Deleting answers 409 naming the scheduled send, and the segment stays."""
    login_as(Role.STAFF)
    _post(client, "/segments/new", {"name": "Alle", "definition": '{"conditions": []}'})
    segment = db.session.scalar(select(Segment))
    customers = [factories.customer() for _ in range(2)]
    db.session.commit()
    result = outbox.send(
        outbox.MessageSpec(
            category=Category.MANUAL,
            channel=Channel.EMAIL,
            subject="Herbstprogramm",
            body_html="<p>Neu!</p>",
            scheduled_at=utcnow() + timedelta(days=1),
            description="Herbstprogramm",
        ),
        [c.id for c in customers],
    )
    db.session.get(SendBatch, result.batch_id).segment_id = segment.id
    db.session.commit()
    response = _post(client, f"/segments/{segment.id}/delete", {})
    assert response.status_code == 409
    assert "scheduled send" in response.get_data(as_text=True)
    assert "Herbstprogramm" in response.get_data(as_text=True)
    assert db.session.get(Segment, segment.id) is not None


def test_location_staff_count_only_their_locations_customers(client, login_as, db):
    """The live count and a segment's customer list stop at the staff member's location."""
    berlin, zurich = factories.location("Berlin"), factories.location("Zürich")
    factories.customer(berlin, first_name="Bea", last_name="Hier")
    factories.customer(zurich, first_name="Zoe", last_name="Dort")
    db.session.commit()
    login_as(Role.STAFF, location=berlin)
    everyone = '{"conditions": []}'
    preview = _post(client, "/segments/preview", {"definition": everyone}, HX).get_data(
        as_text=True
    )
    assert 'data-count="1"' in preview and "Dort" not in preview
    _post(client, "/segments/new", {"name": "Alle", "definition": everyone})
    segment = db.session.scalar(select(Segment))
    members = client.get(f"/segments/{segment.id}").get_data(as_text=True)
    assert "Hier, Bea" in members and "Dort" not in members
    assert client.get("/segments/999999").status_code == 404
