"""Opting out from a link in an email: the footer page and RFC 8058 one-click."""

from dataclasses import dataclass

from commsapp.extensions import db
from commsapp.models import ConsentKind, ConsentSource, Customer, CustomerGroup
from commsapp.services import consent

WHAT = {
    ConsentKind.MARKETING_EMAIL: "marketing emails (news, offers, newsletters)",
    ConsentKind.TRANSACTIONAL_EMAIL: "transactional emails (booking confirmations, cancellations, receipts, reminders)",
}


@dataclass(frozen=True)
class LinkState:
    customer: Customer
    target: consent.UnsubscribeTarget
    description: str
    subscribed: bool


class UnknownRecipient(LookupError):
    """The link is genuine but its customer no longer exists."""


def resolve(token: str) -> LinkState:
    """:raise consent.InvalidToken: forged, altered or expired; :raise UnknownRecipient: customer deleted."""
    target = consent.read_unsubscribe_token(token)
    customer = db.session.get(Customer, target.customer_id)
    if customer is None:
        raise UnknownRecipient(target.customer_id)
    if target.kind == ConsentKind.GROUP:
        group = db.session.get(CustomerGroup, target.group_id)
        description = f"messages to the group {group.name}" if group else "messages to this group"
    else:
        description = WHAT[target.kind]
    return LinkState(
        customer, target, description, consent.is_subscribed(customer, target.kind, target.group_id)
    )


def apply(state: LinkState, subscribed: bool, source: ConsentSource, ip_address: str) -> bool:
    """Idempotent: the same link used twice changes nothing the second time and logs no second event."""
    changed = consent.set_consent(
        state.customer,
        state.target.kind,
        subscribed,
        source,
        ip_address=ip_address,
        group_id=state.target.group_id,
    )
    db.session.commit()
    return changed
