"""Twilio's webhooks: public and without CSRF tokens, so every request must carry Twilio's signature.

The signature covers the URL Twilio called, so it is checked against PUBLIC_BASE_URL plus the
path, never against the URL this process sees (behind a proxy that is http://127.0.0.1:...).
"""

import logging

from flask import Blueprint, Response, current_app, make_response, request
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from twilio.twiml.messaging_response import MessagingResponse

from commsapp.access import public
from commsapp.channels.sms_twilio import INBOUND_PATH, STATUS_CALLBACK_PATH
from commsapp.extensions import csrf
from commsapp.services import sms_inbound, sms_status

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)

# Twilio's webhook bodies are a few hundred bytes; anything far larger is not from Twilio.
MAX_BODY_BYTES = 64 * 1024


def _text(message: str, status: int) -> Response:
    response = make_response(message + "\n", status)
    response.mimetype = "text/plain"
    return response


def _refusal() -> Response | None:
    """A response refusing the request unless it is signed by Twilio with our auth token."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return _text("The request body is too large for a Twilio webhook.", 413)
    token = current_app.config.get("TWILIO_AUTH_TOKEN", "")
    if not token:
        return _text("Twilio webhooks are not configured here (no TWILIO_AUTH_TOKEN).", 403)
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        return _text(f"The {SIGNATURE_HEADER} header is missing.", 403)
    url = current_app.config["PUBLIC_BASE_URL"] + request.path
    if request.query_string:
        url += "?" + request.query_string.decode("utf-8", "replace")
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    if not RequestValidator(token).validate(url, request.form, signature, algorithm):
        log.warning("refused a webhook with a wrong signature from %s", request.remote_addr)
        return _text(f"The {SIGNATURE_HEADER} header does not match this request.", 403)
    return None


@bp.route(INBOUND_PATH, methods=["POST"])
@public
@csrf.exempt
def twilio_inbound():
    """An SMS to the studio's number: into the customer's thread; STOP/START change consent.

    :raise 403: unsigned or forged. :raise 400: no usable sender number.
    """
    refusal = _refusal()
    if refusal:
        return refusal
    form = request.form
    if "From" not in form:
        return _text("The request has no From: it is not an SMS.", 400)
    provider_id = form.get("MessageSid", "") or form.get("SmsSid", "")
    if not sms_inbound.already_received(provider_id):
        try:
            sms_inbound.receive_sms(form["From"], form.get("Body", ""), provider_id)
        except sms_inbound.InboundRejected as exc:
            return _text(str(exc), 400)
    # An empty TwiML answer: no automatic reply (Twilio confirms STOP/START itself).
    response = make_response(str(MessagingResponse()), 200)
    response.mimetype = "text/xml"
    return response


@bp.route(STATUS_CALLBACK_PATH, methods=["POST"])
@public
@csrf.exempt
def twilio_status():
    """What became of an SMS we sent: delivered, undelivered or failed with the carrier's reason.

    :raise 403: unsigned or forged. :raise 400: not a status report. :raise 404: unknown message.
    """
    refusal = _refusal()
    if refusal:
        return refusal
    form = request.form
    try:
        outcome = sms_status.record_status(
            form.get("MessageSid", "") or form.get("SmsSid", ""),
            form.get("MessageStatus", "") or form.get("SmsStatus", ""),
            form.get("ErrorCode", ""),
            form.get("ErrorMessage", ""),
        )
    except sms_status.InvalidStatusReport as exc:
        return _text(str(exc), 400)
    except sms_status.UnknownMessage as exc:
        return _text(str(exc), 404)
    if not outcome.applied:
        return _text(f"Ignored: the message is already {outcome.status}.", 200)
    return _text(f"Recorded: {outcome.status}.", 200)
