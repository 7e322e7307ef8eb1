"""The inbox's thread list: unread, unanswered, kinds, channels, segments, search, order, keyset pages."""

from datetime import timedelta

import pytest
from sqlalchemy import select, true

from commsapp.models import Channel, Customer, DeliveryStatus
from commsapp.models.base import utcnow
from commsapp.services import inbox, segments
from commsapp.services.inbox import InboxFilters, MessageKind, RecipientKind, SentFilters
from tests import factories


@pytest.fixture
def threads(db):
    """Four conversations with known states, newest first: Dora, Cem, Ben, Anna.

    Anna  wrote 4 h ago, was answered 3 h ago (answered, read)
    Ben   got a booking confirmation 3 h ago, then wrote by SMS 2 h ago (unanswered, unread)
    Cem   got a sequence email 90 min ago (only outbound)
    Dora  (Zürich, VIP) wrote 1 h ago, was read but not answered (unanswered, read)
    """
    now = utcnow()
    zurich = factories.location("Zürich")
    vip = factories.tag("VIP")
    anna = factories.customer(first_name="Anna", last_name="Alt", mobile="+41791234567")
    ben = factories.customer(first_name="Ben", last_name="Berg")
    cem = factories.customer(first_name="Cem", last_name="Cay")
    dora = factories.customer(zurich, first_name="Dora", last_name="Dorn")
    dora.tags.append(vip)
    factories.message(anna, "inbound", now - timedelta(hours=4), "Gibt es noch Plätze?")
    factories.message(anna, "outbound", now - timedelta(hours=3), "Ja, zwei.", category="manual")
    anna_thread = inbox.thread_of_customer(anna.id)
    factories.message(
        ben,
        "outbound",
        now - timedelta(hours=3),
        "Deine Buchung ist bestätigt",
        category="transactional",
        origin="transactional:booking_confirmation",
        subject="Buchungsbestätigung",
    )
    factories.message(ben, "inbound", now - timedelta(hours=2), "Kann ich umbuchen?", channel="sms")
    factories.message(
        cem,
        "outbound",
        now - timedelta(minutes=90),
        "Wir vermissen dich",
        category="marketing",
        origin="sequence:winback",
        subject="Komm zurück",
    )
    factories.message(dora, "inbound", now - timedelta(hours=1), "Danke für die Stunde!")
    for customer in (anna, dora):
        thread = inbox.get_thread(inbox.thread_of_customer(customer.id), true())
        thread.unread = False
    db.session.commit()
    assert anna_thread
    return {"zurich": zurich.id, "vip": vip.id}


def names(filters: InboxFilters, scope=None, page_size: int = 50) -> list[str]:
    page = inbox.list_threads(scope if scope is not None else true(), filters, None, page_size)
    return [row.name.split()[0] for row in page.rows]


def test_threads_are_listed_newest_first_with_the_last_message(threads):
    """One row per customer, with the latest message, its channel and direction."""
    page = inbox.list_threads(true(), InboxFilters(), None, 50)
    assert [r.name for r in page.rows] == ["Dora Dorn", "Cem Cay", "Ben Berg", "Anna Alt"]
    ben = page.rows[2]
    assert (ben.preview, ben.channel, ben.unread, ben.awaiting_reply) == (
        "Kann ich umbuchen?",
        Channel.SMS,
        True,
        True,
    )
    assert page.rows[3].preview == "Ja, zwei." and not page.rows[3].awaiting_reply


def test_unread_and_unanswered_filters(threads):
    """Unread is the flag; unanswered means the customer wrote last, whether read or not."""
    assert names(InboxFilters(unread=True)) == ["Ben"]
    assert names(InboxFilters(unanswered=True)) == ["Dora", "Ben"]
    assert names(InboxFilters(unread=True, unanswered=True)) == ["Ben"]


def test_kind_and_channel_filters(threads):
    """Kinds describe what the studio sent; a sequence is marketing from a sequence."""
    assert names(InboxFilters(kind=MessageKind.TRANSACTIONAL)) == ["Ben"]
    assert names(InboxFilters(kind=MessageKind.SEQUENCE)) == ["Cem"]
    assert names(InboxFilters(kind=MessageKind.MARKETING)) == []
    assert names(InboxFilters(kind=MessageKind.MANUAL)) == ["Anna"]
    assert names(InboxFilters(channel=Channel.SMS)) == ["Ben"]
    page = inbox.list_threads(true(), InboxFilters(kind=MessageKind.TRANSACTIONAL), None, 50)
    assert page.rows[0].subject == "Buchungsbestätigung"  # the preview is of the filtered kind


def test_segment_tab_search_order_and_location_scope(threads, db):
    """A segment tab, a search and the oldest-first order narrow and sort the same list."""
    vip = segments.create_segment(
        "VIP", {"conditions": [{"type": "tag", "op": "has", "tag_ids": [threads["vip"]]}]}, None
    )
    assert names(InboxFilters(segment=vip)) == ["Dora"]
    assert names(InboxFilters(query="berg")) == ["Ben"]
    assert names(InboxFilters(query="x" * 10_000)) == []
    assert names(InboxFilters(oldest_first=True)) == ["Anna", "Ben", "Cem", "Dora"]
    zurich_only = Customer.home_location_id == threads["zurich"]
    assert names(InboxFilters(), scope=zurich_only) == ["Dora"]


@pytest.mark.parametrize("oldest_first", [False, True])
def test_keyset_pages_continue_without_gaps_or_repeats(threads, oldest_first):
    """Loading more continues after the last row, also when two threads share a timestamp."""
    filters = InboxFilters(oldest_first=oldest_first)
    seen, after = [], None
    while True:
        page = inbox.list_threads(true(), filters, after, 1)
        seen += [r.name for r in page.rows]
        if page.next_after is None:
            break
        after = page.next_after
    expected = ["Dora Dorn", "Cem Cay", "Ben Berg", "Anna Alt"]
    assert seen == (expected[::-1] if oldest_first else expected)


def test_sent_messages_filter_by_kind_recipients_origin_channel_status_and_date(threads, db, redis):
    """Settings > Sent messages lists outgoing deliveries and narrows them by every filter."""
    staff = factories.staff_user(name="Tina Team")
    from commsapp.models import Category
    from commsapp.services import outbox

    outbox.send_to_staff(
        outbox.MessageSpec(
            category=Category.NOTIFICATION, channel=Channel.EMAIL, subject="Neue Buchung"
        ),
        [staff.id],
    )

    def subjects(**filters) -> list[str]:
        return [r.subject for r in inbox.sent_messages(SentFilters(**filters), None, 50).rows]

    assert subjects() == ["Neue Buchung", "Komm zurück", "Buchungsbestätigung", "Ja, zwei."]
    assert subjects(recipients=RecipientKind.STAFF) == ["Neue Buchung"]
    assert subjects(kind=MessageKind.SEQUENCE) == ["Komm zurück"]
    assert subjects(origin="transactional:booking_confirmation") == ["Buchungsbestätigung"]
    assert subjects(channel=Channel.SMS) == []
    assert subjects(status=DeliveryStatus.PENDING) == ["Neue Buchung"]
    assert subjects(until=utcnow() - timedelta(hours=2)) == ["Buchungsbestätigung", "Ja, zwei."]
    assert "sequence:winback" in inbox.sent_origins()


def test_search_follows_changes_to_the_customers_name_email_and_mobile(threads, db):
    """Searching finds a customer by name, email or mobile, also after they were changed."""
    ben = db.session.scalar(select(Customer).where(Customer.first_name == "Ben"))
    assert names(InboxFilters(query="BERG ben")) == ["Ben"]
    ben.last_name, ben.email, ben.mobile = "Brunner", "b.brunner@example.org", "+41791112233"
    db.session.commit()
    assert names(InboxFilters(query="brunner")) == ["Ben"]
    assert names(InboxFilters(query="b.brunner@")) == ["Ben"]
    assert names(InboxFilters(query="791112")) == ["Ben"]
    assert names(InboxFilters(query="berg")) == []
    assert names(InboxFilters(query="100%_")) == []
