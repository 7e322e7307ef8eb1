"""SMS through Twilio's REST API (the `twilio` package): one client per batch, errors mapped to ours."""

import json
from collections.abc import Mapping
from dataclasses import dataclass

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from commsapp.channels import ChannelUnavailable, PermanentSendError, TransientSendError
from commsapp.channels.sms_local import OutgoingSms

# Where Twilio reports what became of each SMS; the webhooks blueprint serves it.
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
INBOUND_PATH = "/webhooks/twilio/sms"

# Errors that concern the account or its configuration, not the one message: every other SMS
# of the batch would fail the same way, so they all wait and are retried later.
_ACCOUNT_ERRORS = {
    20003: "Twilio refused the account SID or auth token",
    20404: "Twilio does not know the account or messaging service",
    20429: "Twilio is rate limiting this account",
    21212: "the sender number is not valid",
    21606: "the sender number cannot send SMS",
    21659: "the sender number does not belong to this Twilio account",
    21701: "the messaging service does not exist",
    21703: "the messaging service has no sender numbers",
    21704: "the messaging service has no sender numbers",
    21705: "the messaging service is not valid",
}


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    auth_token: str
    messaging_service_sid: str = ""
    from_number: str = ""
    status_callback_url: str = ""
    api_base_url: str = "https://api.twilio.com"
    timeout: float = 20.0

    @classmethod
    def from_config(cls, config: Mapping) -> "TwilioSettings":
        public = config.get("PUBLIC_BASE_URL", "").rstrip("/")
        return cls(
            account_sid=config.get("TWILIO_ACCOUNT_SID", ""),
            auth_token=config.get("TWILIO_AUTH_TOKEN", ""),
            messaging_service_sid=config.get("TWILIO_MESSAGING_SERVICE_SID", ""),
            from_number=config.get("TWILIO_FROM_NUMBER", ""),
            status_callback_url=f"{public}{STATUS_CALLBACK_PATH}" if public else "",
            api_base_url=config.get("TWILIO_API_BASE_URL", "https://api.twilio.com"),
            timeout=float(config.get("TWILIO_TIMEOUT", 20)),
        )


class TwilioSmsSession:
    """Sends through a messaging service when one is set, otherwise from the sender number."""

    def __init__(self, settings: TwilioSettings) -> None:
        if not settings.account_sid or not settings.auth_token:
            raise ChannelUnavailable(
                "Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
            )
        self.settings = settings
        self._http = TwilioHttpClient(timeout=settings.timeout)
        self.client = Client(settings.account_sid, settings.auth_token, http_client=self._http)
        # The REST domain's address: Twilio's by default, a local server in the tests.
        self.client.api.base_url = settings.api_base_url

    def send(self, sms: OutgoingSms) -> str:
        params: dict[str, str] = {"to": sms.to, "body": sms.body}
        if self.settings.messaging_service_sid:
            params["messaging_service_sid"] = self.settings.messaging_service_sid
        elif sms.sender or self.settings.from_number:
            params["from_"] = sms.sender or self.settings.from_number
        else:
            raise ChannelUnavailable(
                "Twilio has no sender: set TWILIO_MESSAGING_SERVICE_SID, or the SMS sender "
                "number under Settings"
            )
        if self.settings.status_callback_url:
            params["status_callback"] = self.settings.status_callback_url
        try:
            message = self.client.messages.create(**params)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _mapped(exc) from exc
        except requests.RequestException as exc:
            raise ChannelUnavailable(f"Twilio cannot be reached ({type(exc).__name__})") from exc
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            # Twilio may have accepted it: sending again could deliver it twice.
            raise PermanentSendError(
                "Twilio answered with something unreadable; the SMS may or may not have been sent"
            ) from exc
        if not message.sid:
            raise PermanentSendError(
                "Twilio answered without a message id; the SMS may or may not have been sent"
            )
        return message.sid

    def close(self) -> None:
        if self._http.session is not None:
            self._http.session.close()


def _mapped(exc: TwilioRestException | TwilioServiceException) -> Exception:
    """Our error for Twilio's: the batch waits, this SMS is retried, or it failed for good."""
    status = int(exc.status or 0)
    code = _int_or_none(exc.code)
    if isinstance(exc, TwilioServiceException):
        text = exc.detail or exc.title or ""
    else:
        text = str(exc.msg or "").removeprefix("Unable to create record: ")
    described = f"Twilio error {code}: {text}" if code else f"Twilio answered {status}: {text}"
    described = described.strip().rstrip(":")
    if code in _ACCOUNT_ERRORS:
        return ChannelUnavailable(f"{_ACCOUNT_ERRORS[code]} ({described})")
    if status in (401, 403, 429) or status >= 500:
        return ChannelUnavailable(described)
    if status == 408:
        return TransientSendError(described)
    return PermanentSendError(described)


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
