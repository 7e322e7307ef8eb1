"""SMS from customers: replies land in their thread, STOP/START change consent, unknown numbers become leads."""

import contextlib
import logging
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import select

from commsapp.extensions import db
from commsapp.models import BusinessSettings, Channel, ConsentKind, ConsentSource, Customer, Thread
from commsapp.services.consent import set_consent
from commsapp.services.html_sanitize import strip_invalid_characters
from commsapp.services.phone import parse_phone
from commsapp.services.threads import record_inbound_message

log = logging.getLogger(__name__)

# The carrier keywords (as Twilio and US carriers honour them): the whole reply, in any case.
STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_KEYWORDS = frozenset({"START", "UNSTOP"})
# Twilio joins a long SMS into one body of at most 1,600 characters; anything longer is not an SMS.
MAX_INBOUND_CHARACTERS = 5000
DUPLICATE_WINDOW_SECONDS = 24 * 3600


class InboundRejected(ValueError):
    """The webhook's content cannot be an SMS from a phone: the message says what is wrong."""


@dataclass(frozen=True)
class InboundResult:
    message_id: int
    customer_ids: list[int]
    keyword: str | None  # "stop", "start" or None
    created_lead: bool


def keyword_of(body: str) -> str | None:
    """ "stop" or "start" when the whole reply is one of the carrier keywords, else None."""
    word = body.strip().upper()
    if word in STOP_KEYWORDS:
        return "stop"
    if word in START_KEYWORDS:
        return "start"
    return None


def clean_body(body: str) -> str:
    """The text as it can be stored and shown: no control characters or lone surrogates."""
    return strip_invalid_characters(body)[:MAX_INBOUND_CHARACTERS]


def _duplicate_key(provider_id: str) -> str:
    return f"commsapp:sms-inbound:{provider_id[:64]}"


def already_received(provider_id: str) -> bool:
    """True when this provider message id was recorded in the last day (the provider retried).

    Without Redis nothing counts as received: a duplicate reply is better than a lost one.
    """
    if not provider_id:
        return False
    from redis.exceptions import RedisError

    from commsapp.queue import get_redis

    try:
        return bool(get_redis().exists(_duplicate_key(provider_id)))
    except (RedisError, OSError):
        log.warning("Redis unavailable: inbound SMS %s not checked for duplicates", provider_id)
        return False


def _remember(provider_id: str) -> None:
    from redis.exceptions import RedisError

    from commsapp.queue import get_redis

    with contextlib.suppress(RedisError, OSError):
        get_redis().set(_duplicate_key(provider_id), 1, ex=DUPLICATE_WINDOW_SECONDS)


def receive_sms(from_number: str, body: str, provider_id: str = "") -> InboundResult:
    """Record an SMS from `from_number` in the customer's thread and apply STOP/START; commits.

    :raise InboundRejected: the sender is not a phone number.
    """
    settings = BusinessSettings.get()
    e164 = parse_phone(from_number or "", settings.default_region)
    if e164 is None:
        raise InboundRejected("The sender (From) is not a valid phone number.")
    text = clean_body(body or "")
    customers = list(
        db.session.scalars(select(Customer).where(Customer.mobile == e164).order_by(Customer.id))
    )
    created_lead = not customers
    if created_lead:
        lead = Customer(
            first_name=_display_number(e164),
            last_name="",
            mobile=e164,
            language=settings.default_language,
            is_lead=True,
        )
        db.session.add(lead)
        db.session.flush()
        customers = [lead]
    message = record_inbound_message(
        _most_recently_written(customers),
        Channel.SMS,
        text,
        origin=f"sms:{provider_id}"[:120] if provider_id else "sms",
    )
    keyword = keyword_of(text)
    if keyword is not None:
        # The phone said it, so it holds for everyone reached on that number (a family's phone).
        for customer in customers:
            set_consent(
                customer,
                ConsentKind.ALL_SMS,
                keyword == "start",
                ConsentSource.START if keyword == "start" else ConsentSource.STOP,
                detail=f"SMS reply {text.strip()[:20]!r} from {e164}",
            )
    db.session.commit()
    if provider_id:
        _remember(provider_id)
    return InboundResult(message.id, [c.id for c in customers], keyword, created_lead)


def _most_recently_written(customers: list[Customer]) -> Customer:
    """Of the customers sharing a number, the one the studio wrote to last (the reply is likely theirs)."""
    if len(customers) == 1:
        return customers[0]
    latest = db.session.scalar(
        select(Thread.customer_id)
        .where(
            Thread.customer_id.in_([c.id for c in customers]),
            Thread.last_outbound_at.is_not(None),
        )
        .order_by(Thread.last_outbound_at.desc(), Thread.id.desc())
        .limit(1)
    )
    return next((c for c in customers if c.id == latest), customers[0])


def _display_number(e164: str) -> str:
    return phonenumbers.format_number(
        phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )[:80]
