"""Consent per message type: who may receive what, how customers opt out, and the evidence of each change.

The rules (a blocked recipient becomes a skipped delivery with the reason in words):
- a one-to-one manual email needs only an address: unsubscribes do not block it;
- transactional (and operational notification) email: blocked by the transactional opt-out;
- marketing email, marketing notifications and any message to several customers at once:
  blocked by the marketing opt-out, or by leaving the customer group it came from;
- transactional and one-to-one SMS: blocked by STOP or a number that cannot receive SMS;
- marketing SMS (and SMS to several customers at once): also blocked by the marketing SMS opt-out.
"""

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import DOT_ATOM_TEXT, EMAIL_MAX_LENGTH
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from commsapp.extensions import db
from commsapp.models import (
    Category,
    Channel,
    ConsentEvent,
    ConsentKind,
    ConsentSource,
    Customer,
    GroupMembership,
    MembershipStatus,
)
from commsapp.models.base import utcnow
from commsapp.services.id_sets import id_conditions
from commsapp.services.phone import parse_mobile

# Unsubscribe links sit in old emails for months; they must outlive any campaign.
TOKEN_MAX_AGE_SECONDS = 3 * 365 * 24 * 3600


class Audience(StrEnum):
    ONE_TO_ONE = "one_to_one"
    TRANSACTIONAL = "transactional"
    MARKETING = "marketing"


def audience_for(category: Category, is_marketing: bool, audience_size: int) -> Audience:
    """Which consent rule a message falls under."""
    if category == Category.MARKETING or (category == Category.NOTIFICATION and is_marketing):
        return Audience.MARKETING
    if category == Category.MANUAL:
        # A manual message to many customers is a group send: unsubscribes apply.
        return Audience.ONE_TO_ONE if audience_size <= 1 else Audience.MARKETING
    return Audience.TRANSACTIONAL


@dataclass(frozen=True)
class Recipient:
    """The columns of a customer that consent depends on."""

    id: int
    email: str | None
    mobile: str | None
    portal_access: bool
    marketing_email_opt_out: bool
    transactional_email_opt_out: bool
    marketing_sms_opt_out: bool
    sms_stopped: bool
    left_group: bool = False


REASONS = {
    "no_email": "no email address",
    "transactional_email_opt_out": "unsubscribed from transactional email",
    "marketing_email_opt_out": "unsubscribed from marketing email",
    "left_group": "unsubscribed from this customer group",
    "sms_stopped": "replied STOP: all SMS are off",
    "no_mobile": "no mobile number",
    "invalid_mobile": "the number cannot receive SMS",
    "marketing_sms_opt_out": "unsubscribed from marketing SMS",
    "no_portal": "no access to the customer portal",
}


def blocked_reason(
    recipient: Recipient, channel: Channel, audience: Audience, region: str
) -> str | None:
    """Why this recipient must not get this message on this channel, or None if they may."""
    if channel == Channel.EMAIL:
        if not recipient.email:
            return REASONS["no_email"]
        if audience == Audience.TRANSACTIONAL and recipient.transactional_email_opt_out:
            return REASONS["transactional_email_opt_out"]
        if audience == Audience.MARKETING:
            if recipient.marketing_email_opt_out:
                return REASONS["marketing_email_opt_out"]
            if recipient.left_group:
                return REASONS["left_group"]
        return None
    if channel == Channel.SMS:
        if recipient.sms_stopped:
            return REASONS["sms_stopped"]
        if not recipient.mobile:
            return REASONS["no_mobile"]
        if parse_mobile(recipient.mobile, region) is None:
            return REASONS["invalid_mobile"]
        if audience == Audience.MARKETING and recipient.marketing_sms_opt_out:
            return REASONS["marketing_sms_opt_out"]
        return None
    if not recipient.portal_access:
        return REASONS["no_portal"]
    return None


def load_recipients(customer_ids: list[int], group_id: int | None = None) -> dict[int, Recipient]:
    """The consent columns of these customers."""
    left = set()
    if group_id is not None:
        for chosen in id_conditions(GroupMembership.customer_id, customer_ids):
            left.update(
                db.session.scalars(
                    db.select(GroupMembership.customer_id).where(
                        GroupMembership.group_id == group_id,
                        chosen,
                        GroupMembership.status == MembershipStatus.UNSUBSCRIBED,
                    )
                )
            )
    result: dict[int, Recipient] = {}
    for chosen in id_conditions(Customer.id, customer_ids):
        rows = db.session.execute(
            db.select(
                Customer.id,
                Customer.email,
                Customer.mobile,
                Customer.portal_access,
                Customer.marketing_email_opt_out,
                Customer.transactional_email_opt_out,
                Customer.marketing_sms_opt_out,
                Customer.sms_stopped,
            ).where(chosen)
        ).all()
        for row in rows:
            result[row.id] = Recipient(*row, left_group=row.id in left)
    return result


def email_problem(address: str) -> str | None:
    """Why this is not a usable email address, or None.

    email_validator spends most of its time on the domain, which most customers share: a plain
    # ASCII address is checked as its local part (the library's own pattern) plus its domain, once
    # per domain. Anything else takes the full check, so the verdict is always the library's.
    """
    local, _, domain = address.partition("@")
    if (
        address.isascii()
        and len(address) <= EMAIL_MAX_LENGTH
        and DOT_ATOM_TEXT.match(local)
        and _domain_accepted(domain)
    ):
        return None
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return f"{address!r} is not a valid email address"
    return None


@lru_cache(maxsize=4096)
def _domain_accepted(domain: str) -> bool:
    try:
        validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


_FLAGS = {
    ConsentKind.MARKETING_EMAIL: "marketing_email_opt_out",
    ConsentKind.TRANSACTIONAL_EMAIL: "transactional_email_opt_out",
    ConsentKind.MARKETING_SMS: "marketing_sms_opt_out",
    ConsentKind.ALL_SMS: "sms_stopped",
}


def is_subscribed(customer: Customer, kind: ConsentKind, group_id: int | None = None) -> bool:
    if kind == ConsentKind.GROUP:
        membership = db.session.get(GroupMembership, (customer.id, group_id))
        return membership is not None and membership.status == MembershipStatus.SUBSCRIBED
    return not getattr(customer, _FLAGS[kind])


def set_consent(
    customer: Customer,
    kind: ConsentKind,
    subscribed: bool,
    source: ConsentSource,
    *,
    actor_staff_id: int | None = None,
    ip_address: str = "",
    group_id: int | None = None,
    detail: str = "",
) -> bool:
    """Change one consent and log it; returns False (and logs nothing) when it already was so."""
    if kind == ConsentKind.GROUP:
        membership = db.session.get(GroupMembership, (customer.id, group_id))
        target = MembershipStatus.SUBSCRIBED if subscribed else MembershipStatus.UNSUBSCRIBED
        if membership is None:
            if not subscribed:
                return False
            membership = GroupMembership(customer_id=customer.id, group_id=group_id, status=target)
            db.session.add(membership)
        elif membership.status == target:
            return False
        membership.status = target
        membership.unsubscribed_at = None if subscribed else utcnow()
    else:
        flag = _FLAGS[kind]
        if getattr(customer, flag) == (not subscribed):
            return False
        setattr(customer, flag, not subscribed)
    db.session.add(
        ConsentEvent(
            customer_id=customer.id,
            kind=kind,
            group_id=group_id,
            subscribed=subscribed,
            source=source,
            actor_staff_id=actor_staff_id,
            ip_address=(ip_address or "")[:45],
            detail=detail[:300],
        )
    )
    return True


def consent_history(customer_id: int, limit: int = 100) -> list[ConsentEvent]:
    return list(
        db.session.scalars(
            db.select(ConsentEvent)
            .where(ConsentEvent.customer_id == customer_id)
            .order_by(ConsentEvent.created_at.desc(), ConsentEvent.id.desc())
            .limit(limit)
        )
    )


# --- Signed unsubscribe links -------------------------------------------------------------


@dataclass(frozen=True)
class UnsubscribeTarget:
    customer_id: int
    kind: ConsentKind
    group_id: int | None


class InvalidToken(ValueError):
    """The link was altered, made for another purpose, or is older than links live."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="commsapp.unsubscribe.v1")


def unsubscribe_token(customer_id: int, kind: ConsentKind, group_id: int | None = None) -> str:
    return _serializer().dumps([customer_id, kind.value, group_id])


def read_unsubscribe_token(token: str) -> UnsubscribeTarget:
    try:
        customer_id, kind, group_id = _serializer().loads(token, max_age=TOKEN_MAX_AGE_SECONDS)
        target = UnsubscribeTarget(
            int(customer_id), ConsentKind(kind), int(group_id) if group_id is not None else None
        )
    except SignatureExpired as exc:
        raise InvalidToken("This unsubscribe link has expired.") from exc
    except (BadSignature, ValueError, TypeError) as exc:
        raise InvalidToken("This unsubscribe link is not valid.") from exc
    if target.kind not in (
        ConsentKind.MARKETING_EMAIL,
        ConsentKind.TRANSACTIONAL_EMAIL,
        ConsentKind.GROUP,
    ):
        raise InvalidToken("This unsubscribe link is not valid.")
    if target.kind == ConsentKind.GROUP and target.group_id is None:
        raise InvalidToken("This unsubscribe link is not valid.")
    return target
