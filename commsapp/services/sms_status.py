"""What the SMS provider reports after sending (delivered, undelivered, failed) recorded on the delivery."""

import re
from dataclasses import dataclass

from sqlalchemy import select, update

from commsapp.extensions import db
from commsapp.models import BusinessSettings, Channel, Delivery, DeliveryStatus
from commsapp.models.base import utcnow
from commsapp.services import sms_usage

# Twilio's message statuses; the last group is final and never followed by an earlier one.
PROGRESS = ("accepted", "scheduled", "queued", "sending", "sent")
FINAL = ("delivered", "undelivered", "failed", "read", "canceled", "partially_delivered")
KNOWN_STATUSES = frozenset(PROGRESS + FINAL + ("receiving", "received"))
NOT_DELIVERED = frozenset({"undelivered", "failed", "canceled"})

# Twilio's texts for the errors a carrier reports most, for callbacks that carry only the code.
ERROR_TEXTS = {
    "30001": "queue overflow",
    "30002": "account suspended",
    "30003": "unreachable destination handset",
    "30004": "message blocked by the recipient or carrier",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "filtered by the carrier as spam",
    "30008": "unknown error",
    "30009": "missing segment",
    "30010": "message price exceeds the maximum price",
    "30034": "sender number not registered for A2P 10DLC",
    "21610": "the recipient replied STOP to this sender",
    "21614": "the number is not a mobile number",
}


class InvalidStatusReport(ValueError):
    """The callback lacks what a status report needs, or names a status that does not exist."""


class UnknownMessage(LookupError):
    """No SMS delivery carries this provider message id."""


@dataclass(frozen=True)
class StatusOutcome:
    delivery_id: int
    status: str
    applied: bool  # False when a late report arrived after a final one


def record_status(
    provider_id: str, status: str, error_code: str = "", error_message: str = ""
) -> StatusOutcome:
    """Store the provider's status on the SMS delivery with that id; commits.

    :raise InvalidStatusReport: missing message id or an unknown status.
    :raise UnknownMessage: no delivery was sent with that id.
    """
    provider_id = (provider_id or "").strip()
    status = (status or "").strip().lower()
    if not provider_id:
        raise InvalidStatusReport("MessageSid is missing.")
    if status not in KNOWN_STATUSES:
        raise InvalidStatusReport(f"MessageStatus {status[:40]!r} is not a known status.")
    delivery = db.session.scalar(
        select(Delivery).where(
            Delivery.provider_id == provider_id[:120], Delivery.channel == Channel.SMS
        )
    )
    if delivery is None:
        raise UnknownMessage(f"No SMS was sent with the id {provider_id[:64]!r}.")
    if delivery.provider_status in FINAL and status not in FINAL:
        # Callbacks can overtake each other: "sent" arriving after "delivered" changes nothing.
        return StatusOutcome(delivery.id, delivery.provider_status, applied=False)
    code = re.sub(r"\D", "", error_code or "")[:12]
    values: dict = {
        "provider_status": status,
        "provider_error_code": code or None,
        "provider_status_at": utcnow(),
    }
    if status in NOT_DELIVERED:
        text = " ".join((error_message or "").split())[:300] or ERROR_TEXTS.get(code, "")
        detail = f"error {code}: {text}" if code else (text or "no reason given")
        values["status"] = DeliveryStatus.FAILED
        values["reason"] = f"{status} (provider {detail})"[:500]
        if status in ("failed", "canceled"):
            # The provider never sent it and does not bill it: the segments come back.
            sms_usage.release_unbilled(delivery, BusinessSettings.get().time_zone)
    elif status in ("delivered", "read") and delivery.provider_status in NOT_DELIVERED:
        # A carrier's late receipt overrules its earlier guess: the customer did get it.
        values["status"] = DeliveryStatus.SENT
        values["reason"] = ""
    db.session.execute(update(Delivery).where(Delivery.id == delivery.id).values(**values))
    db.session.commit()
    return StatusOutcome(delivery.id, status, applied=True)
