"""The emails the outbox builds, read back by Python's own parser as a mail client would."""

import email
import email.policy
import smtplib
import socket
from email.header import decode_header, make_header

import pytest
from aiosmtpd.controller import Controller

from commsapp.channels import PermanentSendError
from commsapp.channels.email_smtp import SmtpSession, SmtpSettings
from commsapp.services.consent import Audience
from commsapp.services.email_compose import EmailLayout, EmailRecipient, Sender, compose_email

SENDER = Sender(
    business_name="Tanzschule Übermut",
    business_address="Königstraße 5\n70173 Stuttgart",
    from_address="studio@tanz.example.com",
    reply_to="hallo@tanz.example.com",
    public_base_url="https://tanz.example.com",
    secret_key="test-secret",
)


def _parsed(outgoing):
    return email.message_from_bytes(outgoing.data, policy=email.policy.default)


def _compose(
    app,
    recipient: EmailRecipient,
    *,
    subject: str = "Hallo",
    body_html: str = "<p>Hallo</p>",
    audience: Audience = Audience.TRANSACTIONAL,
):
    with app.app_context():
        return compose_email(
            delivery_id=recipient.customer_id + 1000,
            sender=SENDER,
            recipient=recipient,
            subject=subject,
            body_html=body_html,
            audience=audience,
        )


def _block_emails(app, blocks: list[dict], recipients: list[EmailRecipient]) -> list:
    """A transactional block email laid out once and composed for each recipient, parsed."""
    with app.app_context():
        layout = EmailLayout(
            sender=SENDER,
            subject="Neu",
            body_html="",
            audience=Audience.TRANSACTIONAL,
            blocks=blocks,
        )
        return [
            _parsed(layout.compose(number, recipient))
            for number, recipient in enumerate(recipients, start=1)
        ]


def test_non_ascii_names_subject_and_body_arrive_intact(app):
    outgoing = _compose(
        app,
        EmailRecipient(3, "Jörg", "Grüßmann", "joerg@example.org"),
        subject="Grüße, {{first_name}}! Neue Kurse bei {{business_name}}",
        body_html="<p>Liebe/r {{first_name}} {{last_name}}, schön, dass du da bist.</p>",
        audience=Audience.MARKETING,
    )
    parsed = _parsed(outgoing)
    assert parsed["Subject"] == "Grüße, Jörg! Neue Kurse bei Tanzschule Übermut"
    assert parsed["To"].addresses[0].display_name == "Jörg Grüßmann"
    assert parsed["To"].addresses[0].addr_spec == "joerg@example.org"
    assert parsed["From"].addresses[0].display_name == "Tanzschule Übermut"
    assert parsed["Reply-To"] == "hallo@tanz.example.com"
    assert parsed["Message-ID"] == outgoing.message_id
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert "Liebe/r Jörg Grüßmann, schön, dass du da bist." in text
    assert "Liebe/r Jörg Grüßmann, schön, dass du da bist." in html
    assert "Königstraße 5" in text and "Königstraße 5" in html
    assert parsed.defects == [] and all(part.defects == [] for part in parsed.walk())


def test_wire_format_has_crlf_lines_within_the_length_limit(app):
    """SMTP wants CRLF line ends and lines of at most 998 characters, whatever the content."""
    outgoing = _compose(
        app,
        EmailRecipient(3, "Kim", "Muster", "kim@example.org"),
        subject="Ein sehr langer Betreff " * 20,
        body_html="<p>" + "x" * 5000 + "</p><p>line\nbreak</p>",
    )
    assert b"\n" not in outgoing.data.replace(b"\r\n", b"")
    assert max(len(line) for line in outgoing.data.split(b"\r\n")) <= 998
    parsed = _parsed(outgoing)
    assert parsed["Subject"] == " ".join(("Ein sehr langer Betreff " * 20).split())
    assert "x" * 5000 in parsed.get_body(("plain",)).get_content()


def test_one_layout_gives_each_recipient_their_own_name_and_unsubscribe_link(app):
    with app.app_context():
        layout = EmailLayout(
            sender=SENDER,
            subject="Hallo {{first_name}}",
            body_html="<p>Hallo {{first_name}}</p>",
            audience=Audience.MARKETING,
            group=(4, "Salsa"),
        )
        anna = _parsed(layout.compose(1, EmailRecipient(11, "Anna", "A", "anna@example.org")))
        ben = _parsed(layout.compose(2, EmailRecipient(12, "Ben", "B", "ben@example.org")))
    assert anna["Subject"] == "Hallo Anna" and ben["Subject"] == "Hallo Ben"
    anna_text = anna.get_body(("plain",)).get_content()
    ben_text = ben.get_body(("plain",)).get_content()
    assert "Leave the group Salsa" in anna_text
    anna_links = {line for line in anna_text.splitlines() if "/unsubscribe/" in line}
    ben_links = {line for line in ben_text.splitlines() if "/unsubscribe/" in line}
    assert len(anna_links) == 2 and not anna_links & ben_links
    assert anna["List-Unsubscribe"] != ben["List-Unsubscribe"]
    assert anna["Message-ID"] != ben["Message-ID"]


def test_names_in_block_attributes_are_filled_too(app):
    """Variables inside links and alt texts survive MJML and are filled per recipient."""
    blocks = [
        {
            "id": "t",
            "type": "text",
            "html": '<p><a href="https://studio.example/book?name={{first_name}}">Buchen</a></p>',
        },
        {
            "id": "i",
            "type": "image",
            "url": "https://studio.example/welcome.png",
            "alt": "Willkommen {{first_name}}",
        },
    ]
    [anna] = _block_emails(app, blocks, [EmailRecipient(11, "Anna", "A", "a@example.org")])
    html = anna.get_body(("html",)).get_content()
    assert 'href="https://studio.example/book?name=Anna"' in html
    assert 'alt="Willkommen Anna"' in html


def test_long_non_ascii_names_are_folded_into_short_encoded_words(app):
    name = "Ŝtéfānïa-Œlžbieta " * 6
    outgoing = _compose(app, EmailRecipient(3, name.strip(), "Ünal", "s@example.org"))
    headers = outgoing.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert max(len(line) for line in headers.split("\r\n")) <= 78
    assert all(len(word) <= 75 for word in headers.split() if word.startswith("=?"))
    # RFC 2047's decoding (Python's address parser puts spaces between the encoded words).
    raw_to = email.message_from_bytes(outgoing.data)["To"]
    assert str(make_header(decode_header(raw_to))) == (
        " ".join(name.split()) + " Ünal <s@example.org>"
    )


def test_block_email_fills_names_and_has_its_footer_once(app):
    blocks = [
        {"id": "h", "type": "heading", "text": "Hallo {{first_name}} {{last_name}}"},
        {"id": "t", "type": "text", "html": "<p>Bis bald, {{first_name}}!</p>"},
    ]
    first, second = _block_emails(
        app,
        blocks,
        [
            EmailRecipient(11, "Anna", "<b>A</b>", "a@example.org"),
            EmailRecipient(12, "Ben", "B", "b@example.org"),
        ],
    )
    html = first.get_body(("html",)).get_content()
    text = first.get_body(("plain",)).get_content()
    assert "Hallo Anna &lt;b&gt;A&lt;/b&gt;" in html and "<b>A</b>" not in html
    assert "Bis bald, Anna!" in text and "Hallo Ben B" in second.get_body(("html",)).get_content()
    assert text.count("Unsubscribe from transactional emails") == 1
    assert html.count("Unsubscribe from transactional emails") == 1


def _non_ascii_address_email(app):
    return _compose(app, EmailRecipient(3, "Jörg", "M", "jörg@example.org"))


def test_non_ascii_address_goes_out_over_smtputf8(app, smtp):
    outgoing = _non_ascii_address_email(app)
    assert outgoing.needs_smtputf8
    session = SmtpSession(SmtpSettings("127.0.0.1", smtp.port, "none"))
    try:
        assert session.send(outgoing) == outgoing.message_id
    finally:
        session.close()
    [(_, recipients, _message)] = smtp.messages
    assert recipients == ["jörg@example.org"]
    # RFC 6532: the header carries the address as UTF-8, not encoded.
    assert '\r\nTo: "Jörg M" <jörg@example.org>\r\n'.encode() in smtp.raw[0]


def test_non_ascii_address_fails_clearly_on_a_server_without_smtputf8(app):
    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    port = _free_port()
    server = Controller(Handler(), hostname="127.0.0.1", port=port, enable_SMTPUTF8=False)
    server.start()
    session = SmtpSession(SmtpSettings("127.0.0.1", port, "none"))
    try:
        with pytest.raises(PermanentSendError, match="SMTPUTF8"):
            session.send(_non_ascii_address_email(app))
    finally:
        session.close()
        server.stop()
    assert received == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_plain_address_goes_out_without_smtputf8(app, smtp):
    outgoing = _compose(app, EmailRecipient(3, "Kim", "M", "kim@example.org"))
    assert not outgoing.needs_smtputf8
    with smtplib.SMTP("127.0.0.1", smtp.port) as client:
        client.sendmail(outgoing.envelope_from, [outgoing.envelope_to], outgoing.data)
    [(mail_from, recipients, message)] = smtp.messages
    assert mail_from == "studio@tanz.example.com" and recipients == ["kim@example.org"]
    assert message["Message-ID"] == outgoing.message_id
