"""Turns a stored message into the email one customer receives: variables, header, footer, unsubscribe links.

A send to many customers differs per recipient only in names, address, ids and unsubscribe
links, so the message is laid out once (`EmailLayout`) and each email is assembled from that
layout as bytes. Building every email through `email.message.EmailMessage` cost ten times the
SMTP conversation that sends it.
"""

import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate
from html import escape
from urllib.parse import quote

from commsapp.models import ConsentKind
from commsapp.services.consent import Audience, unsubscribe_token
from commsapp.services.email_blocks import render_email
from commsapp.services.html_sanitize import html_to_text
from commsapp.services.templating import fill_variables

CRLF = "\r\n"
# Header lines longer than this are folded (RFC 5322 recommends 78 characters).
HEADER_LINE_LENGTH = 78
# The standard library folds encoded words to 76 characters with the leading space; RFC 2047
# allows 75 for the word alone, and so do the stricter spam filters.
ENCODED_LINE_LENGTH = 75


@dataclass(frozen=True)
class Sender:
    """Who the emails come from, read once per batch."""

    business_name: str
    business_address: str
    from_address: str
    reply_to: str
    public_base_url: str
    secret_key: str


@dataclass(frozen=True)
class EmailRecipient:
    customer_id: int | None  # None for staff, who get no unsubscribe links
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class OutgoingEmail:
    """One email ready for the wire: the envelope and the RFC 5322 message with CRLF line ends."""

    message_id: str
    envelope_from: str
    envelope_to: str
    data: bytes
    html: str  # the HTML part, for previews
    # An address with non-ASCII characters needs a server that speaks SMTPUTF8 (RFC 6531).
    needs_smtputf8: bool = False


def message_id_for(delivery_id: int, sender: Sender) -> str:
    """Derived from the delivery id, so a duplicate send is always recognisable."""
    tag = hmac.new(
        sender.secret_key.encode(), str(delivery_id).encode(), hashlib.sha256
    ).hexdigest()[:12]
    domain = sender.from_address.rpartition("@")[2] or "localhost"
    return f"<commsapp.{delivery_id}.{tag}@{domain}>"


def single_line(text: str) -> str:
    """Header values never carry line breaks, so nobody can smuggle in extra headers."""
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())


_FRAME = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body style="margin:0;padding:0;background:#f4f5f7;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f4f5f7;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style="max-width:600px;width:100%;background:#ffffff;border-radius:8px;">
<tr><td style="padding:20px 28px 0 28px;font-family:Arial,Helvetica,sans-serif;font-size:18px;font-weight:bold;color:#1f2430;">{header}</td></tr>
<tr><td style="padding:16px 28px 24px 28px;font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;color:#1f2430;">{body}</td></tr>
<tr><td style="padding:16px 28px 24px 28px;border-top:1px solid #e4e7ec;font-family:Arial,Helvetica,sans-serif;font-size:12px;line-height:1.5;color:#6b7280;">{footer}</td></tr>
</table></td></tr></table></body></html>"""


def unsubscribe_links(
    sender: Sender, audience: Audience, customer_id: int | None, group: tuple[int, str] | None
) -> list[tuple[str, str]]:
    """(label, url) pairs for the footer: each category links to its own opt-out."""
    base = f"{sender.public_base_url}/unsubscribe/"
    if customer_id is None:
        return []
    if audience == Audience.TRANSACTIONAL:
        return [
            (
                "Unsubscribe from transactional emails",
                base + unsubscribe_token(customer_id, ConsentKind.TRANSACTIONAL_EMAIL),
            )
        ]
    if audience == Audience.MARKETING:
        links = [
            (
                "Unsubscribe from marketing emails",
                base + unsubscribe_token(customer_id, ConsentKind.MARKETING_EMAIL),
            )
        ]
        if group is not None:
            links.append(
                (
                    f"Leave the group {group[1]}",
                    base + unsubscribe_token(customer_id, ConsentKind.GROUP, group[0]),
                )
            )
        return links
    return []


class _Slots:
    """Where a recipient's own text goes in a laid-out message.

    Marked by a random token drawn per layout: no text a user wrote can pose as a slot, and
    letters and digits pass MJML unchanged, in text and in attribute values alike (mrml
    rewrites private-use characters in attributes as escape sequences).
    """

    def __init__(self) -> None:
        self.token = f"slot{secrets.token_hex(8)}"
        self._pattern = re.compile(f"{self.token}([a-z_]+){self.token}")

    def mark(self, name: str) -> str:
        return f"{self.token}{name}{self.token}"

    def pattern(self, text: str) -> "_Pattern":
        pieces = self._pattern.split(text)
        return _Pattern(parts=pieces[0::2], slots=pieces[1::2])


@dataclass(frozen=True)
class _Pattern:
    """A text split at its slots once, so that filling it is one join."""

    parts: list[str]
    slots: list[str]

    def fill(self, values: dict[str, str]) -> str:
        out = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:], strict=True):
            out.append(values[slot])
            out.append(part)
        return "".join(out)


class EmailLayout:
    """One message laid out for many recipients of the same audience and group."""

    def __init__(
        self,
        *,
        sender: Sender,
        subject: str,
        body_html: str,
        audience: Audience,
        group: tuple[int, str] | None = None,
        blocks: list[dict] | None = None,
    ) -> None:
        """`body_html` is already sanitised; values filled into it are escaped.

        With `blocks` (from the block editor) the body is rendered from them through MJML instead.
        """
        self.sender = sender
        self.audience = audience
        self.group = group
        slots = _Slots()
        values = {
            "first_name": slots.mark("first_name"),
            "last_name": slots.mark("last_name"),
            "business_name": sender.business_name,
            "business_address": sender.business_address,
        }
        subject_line = fill_variables(subject, values)
        self._subject = slots.pattern(subject_line)

        footer_html = escape(values["business_name"])
        footer_text = values["business_name"]
        if values["business_address"]:
            footer_html += "<br>" + escape(values["business_address"]).replace("\n", "<br>")
            footer_text += "\n" + values["business_address"]
        footer_html += slots.mark("footer_links")

        if blocks is not None:
            rendered = render_email(
                blocks,
                variables=values,
                header_html=escape(values["business_name"]),
                footer_html=footer_html,
                business_name=values["business_name"],
            )
            html, text = rendered.html, rendered.text + "\n"
        else:
            body = fill_variables(body_html, values, html=True)
            html = _FRAME.format(
                title=escape(single_line(subject_line)),
                header=escape(values["business_name"]),
                body=body,
                footer=footer_html,
            )
            text = f"{html_to_text(body)}\n\n-- \n{footer_text}{slots.mark('footer_links')}\n"
        self._html = slots.pattern(html.replace("\r\n", "\n").replace("\n", CRLF))
        self._text = slots.pattern(text.replace("\r\n", "\n").replace("\n", CRLF))
        self._fixed_headers = self._headers_for_every_recipient()

    def _headers_for_every_recipient(self) -> str:
        sender = self.sender
        lines = [
            _address_header("From", single_line(sender.business_name), sender.from_address),
        ]
        if sender.reply_to:
            lines.append(_header("Reply-To", sender.reply_to))
        lines.append("MIME-Version: 1.0")
        return CRLF.join(lines)

    def compose(self, delivery_id: int, recipient: EmailRecipient) -> OutgoingEmail:
        sender = self.sender
        names = {
            "first_name": single_line(recipient.first_name),
            "last_name": single_line(recipient.last_name),
        }
        escaped = {name: escape(value) for name, value in names.items()}
        links = unsubscribe_links(sender, self.audience, recipient.customer_id, self.group)
        escaped["footer_links"] = "".join(
            f'<br><a href="{escape(url)}" style="color:#6b7280;">{escape(label)}</a>'
            for label, url in links
        )
        names["footer_links"] = "".join(f"\n{label}: {url}" for label, url in links).replace(
            "\n", CRLF
        )
        subject = single_line(self._subject.fill(names)) or single_line(sender.business_name)
        html = self._html.fill(escaped)
        text = self._text.fill(names)

        message_id = message_id_for(delivery_id, sender)
        boundary = f"=_{secrets.token_hex(16)}"
        display_name = f"{names['first_name']} {names['last_name']}".strip()
        smtputf8 = not recipient.email.isascii()
        headers = [
            _header("Subject", subject),
            self._fixed_headers,
            _address_header("To", display_name, recipient.email),
            f"Date: {formatdate(localtime=False)}",
            f"Message-ID: {message_id}",
        ]
        if self.audience == Audience.MARKETING and links:
            one_click = links[-1][1] + "/one-click"
            token = links[-1][1].rsplit("/", 1)[1]
            mailto = f"mailto:{sender.reply_to or sender.from_address}?subject={quote('unsubscribe ' + token)}"
            # One URI per line and never RFC 2047-encoded (RFC 2369): mail providers do not
            # decode encoded-words here, so one-click unsubscribe would stop working.
            headers.append(f"List-Unsubscribe: <{one_click}>,{CRLF} <{mailto}>")
            headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        headers.append(f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"')
        data = b"".join(
            (
                CRLF.join(headers).encode("utf-8" if smtputf8 else "ascii"),
                f"{CRLF}{CRLF}--{boundary}{CRLF}".encode(),
                _part("text/plain", text),
                f"{CRLF}--{boundary}{CRLF}".encode(),
                _part("text/html", html),
                f"{CRLF}--{boundary}--{CRLF}".encode(),
            )
        )
        return OutgoingEmail(
            message_id=message_id,
            envelope_from=sender.from_address,
            envelope_to=recipient.email,
            data=data,
            html=html,
            needs_smtputf8=smtputf8,
        )


def _header(name: str, value: str) -> str:
    """`Name: value`, RFC 2047-encoded when not ASCII and folded when long."""
    if value.isascii() and len(name) + len(value) + 2 <= HEADER_LINE_LENGTH:
        return f"{name}: {value}"
    charset = "us-ascii" if value.isascii() else "utf-8"
    encoded = Header(value, charset, header_name=name).encode(
        linesep=CRLF, maxlinelen=ENCODED_LINE_LENGTH
    )
    return f"{name}: {encoded}"


def _address_header(field: str, name: str, address: str) -> str:
    """`From:` or `To:` with a display name: quoted when ASCII, RFC 2047 words folded when not."""
    if not name:
        return f"{field}: {address}"
    if not address.isascii():
        # With SMTPUTF8 (RFC 6532) headers travel as UTF-8: the name is quoted, not encoded.
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'{field}: "{quoted}" <{address}>'
    if name.isascii():
        return f"{field}: {formataddr((name, address))}"
    line = f"{field}: " + Header(name, "utf-8", header_name=field).encode(
        linesep=CRLF, maxlinelen=ENCODED_LINE_LENGTH
    )
    last_line = line.rsplit(CRLF, 1)[-1]
    gap = " " if len(last_line) + len(address) + 3 <= HEADER_LINE_LENGTH else f"{CRLF} "
    return f"{line}{gap}<{address}>"


def _part(content_type: str, text: str) -> bytes:
    head = (
        f'Content-Type: {content_type}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
    )
    return head.encode() + binascii.b2a_qp(text.encode("utf-8"), istext=True)


def compose_email(
    *,
    delivery_id: int,
    sender: Sender,
    recipient: EmailRecipient,
    subject: str,
    body_html: str,
    audience: Audience,
    group: tuple[int, str] | None = None,
    blocks: list[dict] | None = None,
) -> OutgoingEmail:
    """One email on its own (a preview, a test email); batches lay the message out once."""
    layout = EmailLayout(
        sender=sender,
        subject=subject,
        body_html=body_html,
        audience=audience,
        group=group,
        blocks=blocks,
    )
    return layout.compose(delivery_id, recipient)
