"""The Twilio adapter against a local HTTP server speaking Twilio's API, through the twilio package's own client."""

import base64
import socket

import pytest

from commsapp.channels import ChannelUnavailable, PermanentSendError
from commsapp.channels.sms_local import OutgoingSms
from commsapp.channels.sms_twilio import TwilioSettings, TwilioSmsSession
from tests.twilio_server import TwilioApiServer

ACCOUNT = "AC" + "1" * 32


@pytest.fixture
def twilio_api():
    server = TwilioApiServer()
    server.start()
    yield server
    server.stop()


def _session(server: TwilioApiServer, **fields) -> TwilioSmsSession:
    fields.setdefault("messaging_service_sid", "MG" + "2" * 32)
    fields.setdefault("status_callback_url", "https://studio.example/webhooks/twilio/status")
    return TwilioSmsSession(
        TwilioSettings(
            account_sid=ACCOUNT, auth_token="secret-token", api_base_url=server.base_url, **fields
        )
    )


def test_sms_goes_through_the_messaging_service_with_a_status_callback(twilio_api):
    """The request is Twilio's Messages API: the account's path, basic auth, To/Body/service/callback."""
    session = _session(twilio_api)
    sid = session.send(OutgoingSms(to="+4915112345678", body="Kurs fällt aus 🙁", sender="+49301"))
    session.close()
    [request] = twilio_api.requests
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    credentials = base64.b64decode(request.headers["Authorization"].split()[1]).decode()
    assert credentials == f"{ACCOUNT}:secret-token"
    assert request.form == {
        "To": "+4915112345678",
        "Body": "Kurs fällt aus 🙁",
        "MessagingServiceSid": "MG" + "2" * 32,
        "StatusCallback": "https://studio.example/webhooks/twilio/status",
    }
    assert sid.startswith("SM")


def test_sender_number_is_used_when_there_is_no_messaging_service(twilio_api):
    """Without a messaging service the studio's sender number (or TWILIO_FROM_NUMBER) is the From."""
    _session(twilio_api, messaging_service_sid="", from_number="+4930999").send(
        OutgoingSms(to="+4915112345678", body="Hallo", sender="+4930111")
    )
    _session(twilio_api, messaging_service_sid="", from_number="+4930999").send(
        OutgoingSms(to="+4915112345678", body="Hallo")
    )
    assert [r.form["From"] for r in twilio_api.requests] == ["+4930111", "+4930999"]
    assert all("MessagingServiceSid" not in r.form for r in twilio_api.requests)


def test_refused_number_fails_for_good_with_twilios_code_and_text(twilio_api):
    """An invalid 'To' is Twilio error 21211: the SMS fails permanently, the reason in Twilio's words."""
    twilio_api.reply(
        400,
        {
            "code": 21211,
            "message": "The 'To' number +49123 is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400,
        },
    )
    with pytest.raises(PermanentSendError) as refused:
        _session(twilio_api).send(OutgoingSms(to="+49123", body="Hallo"))
    assert str(refused.value) == (
        "Twilio error 21211: The 'To' number +49123 is not a valid phone number."
    )


@pytest.mark.parametrize(
    ("status", "payload", "expected"),
    [
        (401, {"code": 20003, "message": "Authenticate", "status": 401}, "account SID or auth"),
        (429, {"code": 20429, "message": "Too Many Requests", "status": 429}, "rate limiting"),
        (503, {"message": "Service Unavailable", "status": 503}, "503"),
        (
            400,
            {"code": 21606, "message": "The From phone number is not valid", "status": 400},
            "sender number cannot send",
        ),
    ],
)
def test_account_problems_and_outages_hold_the_whole_batch(twilio_api, status, payload, expected):
    """Wrong credentials, rate limits, Twilio outages and a bad sender make the batch wait, not fail."""
    twilio_api.reply(status, payload)
    with pytest.raises(ChannelUnavailable, match=expected):
        _session(twilio_api).send(OutgoingSms(to="+4915112345678", body="Hallo"))


def test_unreachable_twilio_holds_the_batch():
    """Nothing listening on the port: the SMS waits for the next attempt."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    session = TwilioSmsSession(
        TwilioSettings(ACCOUNT, "secret-token", "MG1", api_base_url=f"http://127.0.0.1:{port}")
    )
    with pytest.raises(ChannelUnavailable, match="cannot be reached"):
        session.send(OutgoingSms(to="+4915112345678", body="Hallo"))


def test_unreadable_answer_is_not_sent_again(twilio_api):
    """Twilio may have accepted it: a garbled answer fails the SMS rather than risking a double."""
    twilio_api.reply(201, "<html>proxy error</html>")
    with pytest.raises(PermanentSendError, match="may or may not have been sent"):
        _session(twilio_api).send(OutgoingSms(to="+4915112345678", body="Hallo"))


def test_missing_credentials_or_sender_say_what_to_set(twilio_api):
    """Without SID/token or any sender, the batch waits with the setting to fix in the reason."""
    with pytest.raises(ChannelUnavailable, match="TWILIO_ACCOUNT_SID"):
        TwilioSmsSession(TwilioSettings("", "", "MG1"))
    with pytest.raises(ChannelUnavailable, match="TWILIO_MESSAGING_SERVICE_SID"):
        _session(twilio_api, messaging_service_sid="").send(
            OutgoingSms(to="+4915112345678", body="Hallo")
        )
    assert twilio_api.requests == []


def test_settings_come_from_the_configuration():
    """The status callback is the public URL of the webhook, not this process's address."""
    settings = TwilioSettings.from_config(
        {
            "PUBLIC_BASE_URL": "https://studio.example/",
            "TWILIO_ACCOUNT_SID": ACCOUNT,
            "TWILIO_AUTH_TOKEN": "t",
            "TWILIO_MESSAGING_SERVICE_SID": "MG9",
            "TWILIO_FROM_NUMBER": "",
            "TWILIO_API_BASE_URL": "https://api.twilio.com",
            "TWILIO_TIMEOUT": 7,
        }
    )
    assert settings.status_callback_url == "https://studio.example/webhooks/twilio/status"
    assert (settings.messaging_service_sid, settings.timeout) == ("MG9", 7.0)
