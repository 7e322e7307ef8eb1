"""The transactional catalogue: defaults, email-safe rendering, send-time variables and sending."""

import json
import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from commsapp.models import (
    BookingStatus,
    BusinessSettings,
    Channel,
    Delivery,
    DeliveryStatus,
    MessageContent,
    PaymentMethod,
    ProductKind,
    TransactionalTemplate,
)
from commsapp.services import outbox, template_catalogue
from commsapp.services.email_blocks import render_email
from commsapp.services.template_catalogue import (
    EVENTS,
    LANGUAGES,
    refund_notice,
    send_transactional,
    send_values,
)
from commsapp.services.template_editor import fill_blocks, validate_template_blocks
from commsapp.services.templating import check_variables, variables_in
from tests import factories


@pytest.fixture
def smtp_app(app, smtp):
    """The app pointed at the test's SMTP server."""
    saved = {k: app.config[k] for k in ("SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, SMTP_SECURITY="none")
    yield app
    app.config.update(saved)


def _deliver(db) -> None:
    pending = db.session.scalars(
        select(Delivery.id).where(Delivery.status == DeliveryStatus.PENDING)
    ).all()
    outbox.process(list(pending))


class _EmailHtmlCheck(HTMLParser):
    """Collects what an email client would choke on or run."""

    def __init__(self) -> None:
        super().__init__()
        self.tables = 0
        self.styled = 0
        self.scripts = 0
        self.handlers: list[str] = []
        self.bad_links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tables += tag == "table"
        self.styled += "style" in attributes
        self.scripts += tag == "script"
        self.handlers += [name for name in attributes if name.startswith("on")]
        for name in ("href", "src"):
            value = (attributes.get(name) or "").strip().lower()
            if value and not value.startswith(("http://", "https://", "mailto:", "#")):
                self.bad_links.append(value)


def test_every_event_has_english_and_german_defaults_using_only_its_variables(app, db):
    """Ten events; each default subject, body and SMS uses only variables listed for that event."""
    assert len(EVENTS) == 10
    for event in EVENTS.values():
        for language in LANGUAGES:
            default = event.defaults[language]
            validate_template_blocks(default.blocks, event.link_variables)
            text = json.dumps(default.blocks) + default.subject + default.sms_text
            assert check_variables(text, event.variables) == [], (event.key, language)
            for required in event.required:
                assert required in variables_in(json.dumps(default.blocks)), event.key


def test_every_default_template_renders_to_email_safe_html(app, db):
    """Tables, inline styles, no scripts or handlers, only web links, under 100 KB, nothing left unfilled."""
    for event in EVENTS.values():
        for language in LANGUAGES:
            default = event.defaults[language]
            values = template_catalogue.sample_values(event.key, language)
            rendered = render_email(
                fill_blocks(default.blocks, values),
                header_html="Studio Sonnenschein",
                footer_html='<a href="https://studio.example/unsubscribe/x">Unsubscribe</a>',
                business_name="Studio Sonnenschein",
            )
            check = _EmailHtmlCheck()
            check.feed(rendered.html)
            where = (event.key, language)
            assert check.tables >= 3 and check.styled >= 10, where
            assert check.scripts == 0 and check.handlers == [] and check.bad_links == [], where
            assert len(rendered.html.encode()) < 100_000, where
            assert "{{" not in rendered.html and "{{" not in rendered.text, where
            assert rendered.text.strip(), where


@pytest.mark.parametrize(
    ("paid_with", "language", "expected"),
    [
        (PaymentMethod.PACKAGE, "en", "It has been added back to your package automatically."),
        (PaymentMethod.CREDIT, "en", 'You have received a credit of "€12.00".'),
        (PaymentMethod.CASH, "en", "credited to your Studio Sonnenschein account automatically"),
        (PaymentMethod.PACKAGE, "de", "wieder zu Ihrem Paket hinzugefügt"),
        (PaymentMethod.CREDIT, "de", 'Ihnen wurden "€12.00" gutgeschrieben.'),
        (PaymentMethod.CASH, "de", "Ihrem Studio Sonnenschein-Konto automatisch gutgeschrieben"),
    ],
)
def test_refund_notice_wording_depends_on_what_paid_for_the_booking(
    app, db, paid_with, language, expected
):
    """Package, credit and cash each get the reference's sentence, in the customer's language."""
    BusinessSettings.get().name = "Studio Sonnenschein"
    customer = factories.customer(language=language)
    session = factories.session(factories.course())
    booking = factories.booking(
        customer, session, status=BookingStatus.CANCELLED, paid_with=paid_with
    )
    values = send_values(
        "booking_cancelled",
        customer,
        language,
        {"booking_id": booking.id, "refund_amount": "€12.00"},
    )
    assert expected in values["refundNotice"]


def test_refund_notice_is_empty_when_a_membership_paid_or_nothing_was_refunded(app, db):
    """A membership covers the class anyway; a late cancellation without refund says nothing either."""
    assert refund_notice(PaymentMethod.MEMBERSHIP, "en", "Studio") == ""
    assert refund_notice(PaymentMethod.SUBSCRIPTION, "de", "Studio") == ""
    customer = factories.customer()
    booking = factories.booking(
        customer, factories.session(factories.course()), paid_with=PaymentMethod.PACKAGE
    )
    values = send_values(
        "booking_cancelled", customer, "en", {"booking_id": booking.id, "refunded": False}
    )
    assert values["refundNotice"] == ""


def test_welcome_message_comes_from_the_session_else_its_class_template(app, db):
    """The session's own message wins; without one, the class template's is used."""
    template = factories.class_template(welcome_message="Bring a towel.")
    course = factories.course(class_template_id=template.id)
    plain = factories.session(course)
    special = factories.session(course, welcome_message="Today we meet in the garden.")
    customer = factories.customer()
    first = factories.booking(customer, plain)
    second = factories.booking(customer, special)
    assert (
        send_values("booking_confirmation", customer, "en", {"booking_id": first.id})[
            "welcomeMessage"
        ]
        == "Bring a towel."
    )
    assert (
        send_values("booking_confirmation", customer, "en", {"booking_id": second.id})[
            "welcomeMessage"
        ]
        == "Today we meet in the garden."
    )
    bare = factories.session(factories.course())
    third = factories.booking(customer, bare)
    assert (
        send_values("booking_confirmation", customer, "en", {"booking_id": third.id})[
            "welcomeMessage"
        ]
        == ""
    )


def test_students_lists_every_participant_of_the_customers_bookings_once(app, db):
    """A parent who booked two children (in two bookings, one of them twice) reads both names once."""
    parent = factories.customer(first_name="Sandra", last_name="Keller")
    mia = factories.participant(parent, "Mia", last_name="Keller")
    leo = factories.participant(parent, "Leo", last_name="Keller")
    session = factories.session(factories.course(name="Seepferdchen"))
    factories.booking(parent, session, participants=[mia])
    factories.booking(parent, session, participants=[leo, mia])
    other = factories.customer()
    factories.booking(other, session, participants=[factories.participant(other, "Ben")])
    db.session.commit()
    english = send_values("session_cancelled", parent, "en", {"session_id": session.id})
    assert english["students"] == "Mia Keller and Leo Keller"
    assert english["students_first_names"] == "Mia and Leo"
    german = send_values("session_cancelled", parent, "de", {"session_id": session.id})
    assert german["students_first_names"] == "Mia und Leo"


def test_students_is_the_customer_when_they_booked_for_themselves(app, db):
    """A booking without participants is the customer's own place."""
    customer = factories.customer(first_name="Jonas", last_name="Weber")
    booking = factories.booking(customer, factories.session(factories.course()))
    values = send_values("booking_confirmation", customer, "en", {"booking_id": booking.id})
    assert values["students"] == "Jonas Weber" and values["students_first_names"] == "Jonas"


def test_session_note_and_waitlist_minutes_are_filled_from_the_session_and_settings(app, db):
    """{{noteToCustomers}} is the note typed when cancelling; {{numberOfMinutesToRespond}} the waitlist setting."""
    BusinessSettings.get().waitlist_minutes_to_respond = 45
    course = factories.course(name="Ballett für Erwachsene")
    session = factories.session(course, cancelled=True, cancellation_note="Die Lehrerin ist krank.")
    customer = factories.customer()
    factories.booking(customer, session, status=BookingStatus.CANCELLED)
    cancelled = send_values("session_cancelled", customer, "de", {"session_id": session.id})
    assert cancelled["noteToCustomers"] == "Die Lehrerin ist krank."
    assert cancelled["class_name"] == "Ballett für Erwachsene"
    offer = send_values(
        "waitlist_offer", customer, "en", {"session_id": session.id, "url": "https://x.example/a"}
    )
    assert offer["numberOfMinutesToRespond"] == "45" and offer["url"] == "https://x.example/a"
    assert "noteToCustomers" not in offer


def test_transactional_email_reaches_the_customer_in_their_language_with_values_filled(
    smtp_app, db, smtp
):
    """A German customer's booking confirmation is German, filled in, with the transactional unsubscribe footer."""
    BusinessSettings.get().name = "Tanzschule Takt"
    customer = factories.customer(first_name="Lena", language="de", email="lena@example.org")
    session = factories.session(factories.course(name="Salsa"), welcome_message="Bequeme Schuhe!")
    booking = factories.booking(customer, session)
    db.session.commit()
    [result] = send_transactional(
        "booking_confirmation", customer.id, booking_id=booking.id, url="https://takt.example/b"
    )
    assert result.queued == 1
    _deliver(db)
    [email] = smtp.to("lena@example.org")
    assert email["Subject"].startswith("Buchung bestätigt: Salsa am ")
    html = email.get_body(("html",)).get_content()
    assert "Bis bald, Lena!" in html and "Bequeme Schuhe!" in html
    assert "https://takt.example/b" in html and "Unsubscribe from transactional emails" in html
    assert "{{" not in html


def test_variables_not_listed_for_the_event_are_sent_as_written(smtp_app, db, smtp):
    """A misspelled or unlisted variable, or a Jinja expression, is never filled or executed."""
    customer = factories.customer(first_name="Ada", language="en", email="ada@example.org")
    db.session.commit()
    template = template_catalogue.template_for("welcome", "en")
    template.subject = "Hi {{firstname}} {{ config }} {{first_name}}"
    blocks = template.blocks
    blocks[1]["html"] = "<p>{{noteToCustomers}} {{ ''.__class__ }} {% for x in y %}</p>"
    template.blocks_json = json.dumps(blocks)
    db.session.commit()
    send_transactional("welcome", customer.id)
    _deliver(db)
    [email] = smtp.to("ada@example.org")
    assert email["Subject"] == "Hi {{firstname}} {{ config }} Ada"
    text = email.get_body(("plain",)).get_content()
    assert "{{noteToCustomers}} {{ ''.__class__ }} {% for x in y %}" in text


def test_waiver_request_cannot_be_sent_without_its_link(app, db):
    """The waiver email without {{url}} would be useless: sending refuses, nothing is written."""
    customer = factories.customer()
    db.session.commit()
    with pytest.raises(outbox.SendRefused, match="url"):
        send_transactional("waiver_update", customer.id)
    assert db.session.scalar(select(Delivery.id)) is None
    [result] = send_transactional("waiver_update", customer.id, url="https://studio.example/w/1")
    assert result.queued == 1
    content = db.session.scalar(select(MessageContent))
    assert "https://studio.example/w/1" in content.blocks_json


def test_transactional_sms_goes_out_too_when_sms_is_switched_on(app, db):
    """The template's SMS text is sent as well when the studio uses SMS and the customer has a mobile."""
    BusinessSettings.get().sms_enabled = True
    customer = factories.customer(mobile="+4915112345678", language="en")
    product = factories.product(ProductKind.MEMBERSHIP, name="Gold")
    owned = factories.customer_product(customer, product)
    db.session.commit()
    results = send_transactional(
        "renewal_failed", customer.id, customer_product_id=owned.id, url="https://s.example/pay"
    )
    assert len(results) == 2
    sms = db.session.scalar(select(Delivery).where(Delivery.channel == Channel.SMS))
    assert sms.address == "+4915112345678"
    assert "the renewal of your Gold was unsuccessful" in sms.message.content.sms_text


def test_catalogue_search_finds_templates_by_name_or_word(app, db):
    """Searching "unsuccessful" finds the renewal template, as in the reference; German words work too."""
    found = template_catalogue.catalogue("unsuccessful")
    assert [entry.event.key for entry in found] == ["renewal_failed"]
    assert [e.event.key for e in template_catalogue.catalogue("Verlängerung")] == ["renewal_failed"]
    assert {e.event.key for e in template_catalogue.catalogue("waitlist")} == {"waitlist_offer"}
    assert template_catalogue.catalogue("no such words here") == []
    assert len(template_catalogue.catalogue("")) == 10


def test_catalogue_creates_each_template_once(app, db):
    """Opening the catalogue twice makes one template per event and language, with fresh block ids."""
    template_catalogue.catalogue()
    template_catalogue.catalogue()
    templates = db.session.scalars(select(TransactionalTemplate)).all()
    assert len(templates) == 20
    ids = [block["id"] for t in templates for block in t.blocks]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"b[0-9a-f]{12}", block_id) for block_id in ids)
