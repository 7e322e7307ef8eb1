"""Turns a stored message into the email one customer receives: variables, header, footer, unsubscribe links."""

import email.policy
import hashlib
import hmac
from dataclasses import dataclass
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from html import escape
from urllib.parse import quote

from commsapp.models import ConsentKind
from commsapp.services.consent import Audience, unsubscribe_token
from commsapp.services.email_blocks import render_email
from commsapp.services.html_sanitize import html_to_text
from commsapp.services.templating import fill_variables


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


class _UnencodedListHeader(UnstructuredHeader):
    """List-Unsubscribe as RFC 2369 wants it: one URI per line, never RFC 2047-encoded.

    The default folding turns a long ASCII value into encoded-words, which mail providers
    do not decode in this header, so one-click unsubscribe would silently stop working.
    """

    def fold(self, *, policy) -> str:
        uris = [part.strip() for part in str(self).split(",")]
        return f"{self.name}: " + f",{policy.linesep} ".join(uris) + policy.linesep


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("list-unsubscribe", _UnencodedListHeader)
EMAIL_POLICY = email.policy.default.clone(header_factory=_HEADERS)


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
    sender: Sender, audience: Audience, customer_id: int, group: tuple[int, str] | None
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
) -> EmailMessage:
    """`body_html` is already sanitised; values filled into it are escaped.

    With `blocks` (from the block editor) the body is rendered from them through MJML instead.
    """
    values = {
        "first_name": recipient.first_name,
        "last_name": recipient.last_name,
        "business_name": sender.business_name,
        "business_address": sender.business_address,
    }
    subject_line = single_line(fill_variables(subject, values)) or sender.business_name
    body = fill_variables(body_html, values, html=True)
    links = unsubscribe_links(sender, audience, recipient.customer_id, group)

    footer_html = escape(sender.business_name)
    footer_text = sender.business_name
    if sender.business_address:
        footer_html += "<br>" + escape(sender.business_address).replace("\n", "<br>")
        footer_text += "\n" + sender.business_address
    for label, url in links:
        footer_html += f'<br><a href="{escape(url)}" style="color:#6b7280;">{escape(label)}</a>'
        footer_text += f"\n{label}: {url}"

    if blocks is not None:
        rendered = render_email(
            blocks,
            variables=values,
            header_html=escape(sender.business_name),
            footer_html=footer_html,
            business_name=sender.business_name,
        )
        html, text = rendered.html, f"{rendered.text}\n\n-- \n{footer_text}\n"
    else:
        html = _FRAME.format(
            title=escape(subject_line),
            header=escape(sender.business_name),
            body=body,
            footer=footer_html,
        )
        text = f"{html_to_text(body)}\n\n-- \n{footer_text}\n"

    email = EmailMessage(policy=EMAIL_POLICY)
    email["Subject"] = subject_line
    email["From"] = formataddr((single_line(sender.business_name), sender.from_address))
    email["To"] = str(
        Address(
            single_line(f"{recipient.first_name} {recipient.last_name}"), addr_spec=recipient.email
        )
    )
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = message_id_for(delivery_id, sender)
    if sender.reply_to:
        email["Reply-To"] = sender.reply_to
    if audience == Audience.MARKETING and links:
        one_click = links[-1][1] + "/one-click"
        mailto = f"mailto:{sender.reply_to or sender.from_address}?subject={quote('unsubscribe ' + links[-1][1].rsplit('/', 1)[1])}"
        email["List-Unsubscribe"] = f"<{one_click}>, <{mailto}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    return email
