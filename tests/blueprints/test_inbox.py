"""The inbox over HTTP: thread list and filters, location scoping, thread view, replies, sends to many."""

import html
import re
from datetime import timedelta

from sqlalchemy import func, select, update

from commsapp.models import (
    Delivery,
    DeliveryStatus,
    Message,
    Role,
    Segment,
    SendBatch,
    Thread,
)
from commsapp.models.base import utcnow
from commsapp.services import segments
from tests import factories
from tests.conftest import csrf_token

HX = {"HX-Request": "true"}


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _post(client, path, data, headers=None):
    return client.post(
        path, data={**data, "csrf_token": csrf_token(client, "/inbox")}, headers=headers or {}
    )


def _conversations(db):
    """Lea wrote and waits (unread), Tom was answered, both in Berlin; Zoe (Zürich) wrote too."""
    now = utcnow()
    berlin, zurich = factories.location("Berlin"), factories.location("Zürich")
    lea = factories.customer(berlin, first_name="Lea", last_name="Vogel", mobile=None)
    tom = factories.customer(berlin, first_name="Tom", last_name="Graf")
    zoe = factories.customer(zurich, first_name="Zoe", last_name="Frei")
    factories.message(lea, "inbound", now - timedelta(minutes=10), "Ist morgen frei?")
    factories.message(tom, "inbound", now - timedelta(hours=2), "Danke!")
    factories.message(tom, "outbound", now - timedelta(hours=1), "Gern geschehen")
    factories.message(zoe, "inbound", now - timedelta(minutes=5), "Grüezi")
    db.session.execute(update(Thread).where(Thread.customer_id == tom.id).values(unread=False))
    db.session.commit()
    threads = {
        c.first_name: db.session.scalar(select(Thread.id).where(Thread.customer_id == c.id))
        for c in (lea, tom, zoe)
    }
    return berlin, {"lea": lea, "tom": tom, "zoe": zoe}, threads


def test_inbox_lists_threads_with_unread_and_unanswered_filters(client, login_as, db):
    """Rows show name, last message and unread marker; the checkboxes narrow the list."""
    _, _, threads = _conversations(db)
    login_as(Role.STAFF)
    page = _text(client.get("/inbox"))
    assert page.index("Zoe Frei") < page.index("Lea Vogel") < page.index("Tom Graf")
    assert "Ist morgen frei?" in page and "You:</span> Gern geschehen" in page
    assert f'data-thread-id="{threads["Lea"]}"' in page
    unread = _text(client.get("/inbox?unread=1", headers=HX))
    assert "Lea Vogel" in unread and "Tom Graf" not in unread and "<html" not in unread
    unanswered = _text(client.get("/inbox?unanswered=1"))
    assert "Lea Vogel" in unanswered and "Zoe Frei" in unanswered and "Tom Graf" not in unanswered
    assert "Tom Graf" in _text(client.get("/inbox?q=graf"))
    huge = client.get("/inbox?q=" + "x" * 100_000 + "&kind=bogus&channel=pigeon&after=abc")
    assert huge.status_code == 200 and "No conversations match." in _text(huge)


def test_location_staff_see_their_threads_only_and_are_told_why(client, login_as, db):
    """A Berlin account sees Berlin's threads, is told about the filter, and gets 404 for Zürich's."""
    berlin, _, threads = _conversations(db)
    login_as(Role.STAFF, location=berlin)
    page = _text(client.get("/inbox"))
    assert "Lea Vogel" in page and "Zoe Frei" not in page
    assert "Location filter: Berlin" in page and "Settings > Staff accounts" in page
    assert client.get(f"/inbox/{threads['Zoe']}").status_code == 404
    assert _post(client, f"/inbox/{threads['Zoe']}/unread", {}).status_code == 404
    reply = {"channel": "email", "subject": "Hi", "body": "Hallo"}
    assert _post(client, f"/inbox/{threads['Zoe']}/reply", reply).status_code == 404
    assert client.get("/inbox/999999").status_code == 404


def test_opening_a_thread_marks_it_read_and_it_can_be_marked_unread_again(client, login_as, db):
    """The thread view shows the messages and profile; opening reads it, the button unreads it."""
    _, people, threads = _conversations(db)
    people["lea"].tags.append(factories.tag("Probestunde"))
    db.session.commit()
    login_as(Role.STAFF)
    page = _text(client.get(f"/inbox/{threads['Lea']}"))
    assert "Ist morgen frei?" in page and "Probestunde" in page and "Consent" in page
    db.session.expire_all()
    assert db.session.get(Thread, threads["Lea"]).unread is False
    answer = _post(client, f"/inbox/{threads['Lea']}/unread", {}, HX)
    assert answer.status_code == 200 and "Marked as unread" in _text(answer)
    db.session.expire_all()
    assert db.session.get(Thread, threads["Lea"]).unread is True


def test_reply_by_email_lands_in_the_thread_and_answers_it(client, login_as, db, redis):
    """A reply is written to the outbox in the customer's thread; the thread is answered then."""
    _, _, threads = _conversations(db)
    login_as(Role.STAFF)
    fields = {"channel": "email", "subject": "Morgen", "body": "Ja, um 18 Uhr\nist frei."}
    response = _post(client, f"/inbox/{threads['Lea']}/reply", fields, HX)
    assert response.status_code == 200 and "Your reply is on its way." in _text(response)
    message = db.session.scalar(
        select(Message).where(Message.thread_id == threads["Lea"], Message.direction == "outbound")
    )
    assert message.content.subject == "Morgen"
    assert message.content.body_html == "<p>Ja, um 18 Uhr<br>ist frei.</p>"
    assert [d.status for d in message.deliveries] == [DeliveryStatus.PENDING]
    assert "Lea Vogel" not in _text(client.get("/inbox?unanswered=1"))


def test_reply_on_a_channel_the_customer_cannot_receive_says_why_and_sends_nothing(
    client, login_as, db
):
    """Lea has no mobile: the composer says so before sending, and an SMS reply is refused (422)."""
    _, _, threads = _conversations(db)
    login_as(Role.STAFF)
    page = _text(client.get(f"/inbox/{threads['Lea']}"))
    assert re.search(
        r"<option value=\"sms\"[^>]*disabled>SMS – not possible: no mobile number", page
    )
    before = db.session.scalar(select(func.count()).select_from(Message))
    refused = _post(
        client, f"/inbox/{threads['Lea']}/reply", {"channel": "sms", "compose-sms_text": "Hi"}, HX
    )
    assert refused.status_code == 422 and "no mobile number" in _text(refused)
    empty = _post(client, f"/inbox/{threads['Lea']}/reply", {"channel": "email", "body": "x"}, HX)
    assert empty.status_code == 422 and "needs a subject" in _text(empty)
    assert _post(client, f"/inbox/{threads['Lea']}/reply", {"channel": "fax"}).status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Message)) == before


def _segment_of_three(db):
    """Three customers tagged "Kurs"; Cem unsubscribed from marketing email."""
    kurs = factories.tag("Kurs")
    people = [
        factories.customer(first_name=name, last_name="Kurs", marketing_email_opt_out=name == "Cem")
        for name in ("Ada", "Bo", "Cem")
    ]
    for person in people:
        person.tags.append(kurs)
    segment = segments.create_segment(
        "Kurs", {"conditions": [{"type": "tag", "op": "has", "tag_ids": [kurs.id]}]}, None
    )
    db.session.commit()
    return segment, people


def test_contact_customers_reviews_then_sends_a_separate_thread_to_each(
    client, login_as, db, redis
):
    """The preflight names who gets it and who is skipped; the send makes one thread each."""
    segment, people = _segment_of_three(db)
    login_as(Role.STAFF)
    page = _text(client.get(f"/inbox/contact?segment={segment.id}"))
    assert 'data-count="3"' in page and 'id="compose-subject"' in page
    fields = {"segment": segment.id, "channel": "email", "subject": "Kursstart", "body": "Bis bald"}
    review = _text(_post(client, "/inbox/send", {**fields, "action": "review"}, HX))
    assert 'data-will-receive="2"' in review
    assert "1 × unsubscribed from marketing email" in review
    fingerprint = re.search(r'name="fingerprint" value="(\w+)"', review).group(1)
    sent = _post(
        client, "/inbox/send", {**fields, "action": "send", "fingerprint": fingerprint}, HX
    )
    assert sent.status_code == 200 and "send-progress" in _text(sent)
    batch = db.session.scalar(select(SendBatch))
    assert batch.segment_id == segment.id and batch.recipient_count == 3
    threads = db.session.scalars(select(Thread.customer_id)).all()
    assert sorted(threads) == sorted(p.id for p in people)
    statuses = dict(db.session.execute(select(Delivery.customer_id, Delivery.status)).all())
    assert statuses[people[2].id] == DeliveryStatus.SKIPPED
    progress = client.get(f"/inbox/batches/{batch.id}", headers=HX)
    assert progress.status_code == 200 and "2 waiting" in _text(progress)
    db.session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.SENT)
    )
    db.session.commit()
    done = client.get(f"/inbox/batches/{batch.id}", headers=HX)
    assert done.status_code == 286 and "2 sent · 1 not sent" in _text(done)


def test_send_refuses_when_recipients_changed_after_the_review(client, login_as, db, redis):
    """A new member after the preflight: 409 with a fresh review, and nothing is sent."""
    segment, people = _segment_of_three(db)
    login_as(Role.STAFF)
    fields = {"segment": segment.id, "channel": "email", "subject": "Kursstart", "body": "Bis bald"}
    review = _text(_post(client, "/inbox/send", {**fields, "action": "review"}, HX))
    fingerprint = re.search(r'name="fingerprint" value="(\w+)"', review).group(1)
    late = factories.customer(first_name="Dan", last_name="Kurs")
    late.tags.append(people[0].tags[0])
    db.session.commit()
    answer = _post(client, "/inbox/send", {**fields, "action": "send", "fingerprint": fingerprint})
    assert answer.status_code == 409 and "review it again" in _text(answer)
    assert 'data-will-receive="3"' in _text(answer)
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_empty_segment_cannot_be_contacted(client, login_as, db):
    """A segment nobody matches says so, and its send is refused."""
    segment = segments.create_segment(
        "Niemand",
        {
            "conditions": [
                {"type": "created", "days": 1},
                {"type": "contact", "field": "email", "op": "has_not"},
            ]
        },
        None,
    )
    factories.customer()
    db.session.commit()
    login_as(Role.STAFF)
    page = _text(client.get(f"/inbox/contact?segment={segment.id}"))
    assert "No customers match this segment" in page
    assert re.search(r'value="review" disabled', page)
    fields = {"segment": segment.id, "channel": "email", "subject": "Hallo", "body": "Text"}
    refused = _post(client, "/inbox/send", {**fields, "action": "send", "fingerprint": "x"}, HX)
    assert refused.status_code == 422 and "Choose at least one recipient" in _text(refused)
    assert client.get("/inbox/contact?segment=999999").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Segment)) == 1


def test_new_message_to_chosen_customers_and_not_to_another_locations(client, login_as, db, redis):
    """Chosen customers are picked by search; one of another location answers 404."""
    berlin, people, _ = _conversations(db)
    login_as(Role.STAFF, location=berlin)
    picker = _text(client.get("/inbox/recipients?q=graf", headers=HX))
    assert "Tom Graf" in picker and f"add={people['tom'].id}" in picker
    chosen = _text(client.get(f"/inbox/recipients?add={people['tom'].id}", headers=HX))
    assert f'name="customer_id" value="{people["tom"].id}"' in chosen
    assert client.get(f"/inbox/new?customer_id={people['zoe'].id}").status_code == 404
    fields = {
        "customer_id": people["tom"].id,
        "channel": "in_app",
        "body": "Dein Platz ist frei",
        "action": "review",
    }
    review = _text(_post(client, "/inbox/send", fields, HX))
    assert "1 customer is skipped" in review and "no access to the customer portal" in review
    assert re.search(r'value="send" disabled', review)
    other = {**fields, "customer_id": people["zoe"].id}
    assert _post(client, "/inbox/send", other, HX).status_code == 404


def test_sent_messages_page_lists_outgoing_messages_for_admins(client, login_as, db):
    """Settings > Sent messages shows outgoing messages with their status and filters them."""
    _, people, _ = _conversations(db)
    factories.message(
        people["lea"],
        "outbound",
        text="Deine Buchung",
        category="transactional",
        origin="transactional:booking_confirmation",
        subject="Buchungsbestätigung",
        status="skipped",
    )
    db.session.commit()
    login_as(Role.ADMIN)
    page = _text(client.get("/settings/messages"))
    assert "Sent messages" in page and "Buchungsbestätigung" in page and "Gern geschehen" in page
    assert 'value="transactional:booking_confirmation"' in page
    manual = _text(client.get("/settings/messages?kind=manual", headers=HX))
    assert "Buchungsbestätigung" not in manual and "Gern geschehen" in manual
    assert "not sent" in _text(client.get("/settings/messages?status=skipped"))
    odd = client.get("/settings/messages?from=yesterday&status=lost&channel=" + "x" * 5000)
    assert odd.status_code == 200


def test_composer_offers_notification_templates_that_fill_its_fields(client, login_as, db):
    """A saved notification template can be picked in the composer; its text fills the composer fields."""
    from commsapp.models import NotificationTemplate, Role

    template = NotificationTemplate(
        name="Ferien",
        subject="Ferienpause",
        body_html="<p>Wir machen Pause.</p>",
        sms_text="Pause!",
    )
    db.session.add(template)
    db.session.commit()
    login_as(Role.STAFF)
    composer = client.get("/inbox/new").get_data(as_text=True)
    assert "/templates/notifications/picker" in composer
    picker = client.get("/templates/notifications/picker", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "Ferien" in picker
    filled = client.get(
        f"/templates/notifications/{template.id}/content", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert 'data-fill-field="compose-subject"' in filled and "Ferienpause" in filled
