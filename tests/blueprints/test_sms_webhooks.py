"""Twilio's webhooks: the signature check, replies in threads, STOP/START on every SMS category, status callbacks."""

import itertools
from urllib.parse import parse_qs

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from commsapp.models import (
    Category,
    Channel,
    ConsentEvent,
    ConsentKind,
    ConsentSource,
    Customer,
    Delivery,
    DeliveryStatus,
    Direction,
    Message,
    MessageContent,
    SmsUsageMonth,
    Thread,
)
from commsapp.models.base import utcnow
from commsapp.services import outbox, sms_inbound
from commsapp.services.outbox import MessageSpec
from commsapp.services.sms_usage import month_of
from tests import factories

TOKEN = "twilio-test-auth-token"
PUBLIC = "https://studio.example"
INBOUND = "/webhooks/twilio/sms"
STATUS = "/webhooks/twilio/status"
MOBILE = "+4915112345678"


@pytest.fixture
def twilio_app(app, tmp_path):
    """The app as deployed behind a proxy: public https address, Twilio's auth token set."""
    keys = ("TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL", "SMS_OUTBOX_FILE")
    saved = {k: app.config[k] for k in keys}
    app.config.update(
        TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=PUBLIC, SMS_OUTBOX_FILE=str(tmp_path / "sms.jsonl")
    )
    yield app
    app.config.update(saved)


def _signed(client, path: str, params: dict, *, url: str | None = None, token: str = TOKEN):
    signature = RequestValidator(token).compute_signature(url or PUBLIC + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def _sms(body: str, sender: str = MOBILE, sid: str = "SM0001") -> dict:
    return {"From": sender, "To": "+4930555", "Body": body, "MessageSid": sid, "NumMedia": "0"}


_sids = itertools.count(1)


def _reply(client, body: str, sender: str = MOBILE, sid: str | None = None):
    return _signed(client, INBOUND, _sms(body, sender, sid or f"SMreply{next(_sids)}"))


# --- The signature --------------------------------------------------------------------------


@pytest.mark.parametrize("path", [INBOUND, STATUS])
def test_signed_request_is_accepted_and_unsigned_or_forged_get_403(twilio_app, client, db, path):
    """Valid signature: handled. Missing, forged, or signed with another token: 403, nothing recorded."""
    factories.customer(mobile=MOBILE)
    db.session.commit()
    params = _sms("Hallo") if path == INBOUND else {"MessageSid": "SMx", "MessageStatus": "sent"}
    missing = client.post(path, data=params)
    forged = client.post(path, data=params, headers={"X-Twilio-Signature": "Zm9yZ2VkIQ=="})
    other_token = _signed(client, path, params, token="someone-elses-token")
    assert [missing.status_code, forged.status_code, other_token.status_code] == [403, 403, 403]
    assert b"X-Twilio-Signature" in missing.data and b"does not match" in forged.data
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0
    valid = _signed(client, path, params)
    assert valid.status_code == (200 if path == INBOUND else 404)


def test_signature_is_checked_against_the_public_url_not_the_proxied_one(twilio_app, client, db):
    """Behind a proxy Flask sees http://localhost; Twilio signed https://studio.example, which counts."""
    params = _sms("Hallo")
    assert _signed(client, INBOUND, params, url="http://localhost" + INBOUND).status_code == 403
    assert _signed(client, INBOUND, params).status_code == 200


def test_altered_body_breaks_the_signature(twilio_app, client, db):
    """A signature for one body does not cover another (someone changing the text to STOP)."""
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + INBOUND, _sms("Hallo"))
    response = client.post(INBOUND, data=_sms("STOP"), headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_without_an_auth_token_every_webhook_is_refused(twilio_app, client, db):
    """An installation without TWILIO_AUTH_TOKEN cannot check signatures, so it accepts none."""
    twilio_app.config["TWILIO_AUTH_TOKEN"] = ""
    response = _signed(client, INBOUND, _sms("Hallo"))
    assert response.status_code == 403 and b"not configured" in response.data


# --- Replies and leads ------------------------------------------------------------------------


def test_reply_lands_unread_in_the_customers_thread_matched_by_e164(twilio_app, client, db):
    """The reply is an inbound SMS in the customer's thread; Twilio gets an empty TwiML answer."""
    customer = factories.customer(mobile=MOBILE, first_name="Lena")
    db.session.commit()
    response = _reply(client, "Ich komme 10 Minuten später.")
    assert response.status_code == 200 and response.mimetype == "text/xml"
    assert b"<Response" in response.data
    db.session.expire_all()
    thread = db.session.scalar(select(Thread).where(Thread.customer_id == customer.id))
    [message] = db.session.scalars(select(Message).where(Message.thread_id == thread.id)).all()
    assert (message.direction, message.channel) == (Direction.INBOUND, Channel.SMS)
    assert message.content.body_text == "Ich komme 10 Minuten später."
    assert thread.unread
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 1


def test_unknown_number_becomes_a_lead_with_its_own_thread(twilio_app, client, db):
    """An SMS from a number nobody has creates a lead customer named by the number."""
    response = _reply(client, "Habt ihr noch Plätze im Anfängerkurs?", sender="+41791234567")
    assert response.status_code == 200
    lead = db.session.scalar(select(Customer))
    assert lead.is_lead and lead.mobile == "+41791234567" and lead.email is None
    assert lead.first_name == "+41 79 123 45 67"
    thread = db.session.scalar(select(Thread).where(Thread.customer_id == lead.id))
    assert thread.unread


def test_shared_number_reply_goes_to_the_customer_written_to_last(twilio_app, client, db):
    """Parent and child on one phone: the reply joins the thread of whoever got the last message."""
    parent = factories.customer(mobile=MOBILE, first_name="Eltern")
    child = factories.customer(mobile=MOBILE, first_name="Kind")
    db.session.commit()
    outbox.send(
        MessageSpec(category=Category.MANUAL, channel=Channel.SMS, sms_text="Hallo Kind"),
        [child.id],
    )
    _reply(client, "Danke!")
    inbound = db.session.scalar(select(Message).where(Message.direction == Direction.INBOUND))
    assert inbound.thread.customer_id == child.id != parent.id


def test_twilio_retrying_a_webhook_records_the_reply_once(twilio_app, client, db, redis):
    """The same MessageSid twice (Twilio retries on timeouts) is one message in the thread."""
    factories.customer(mobile=MOBILE)
    db.session.commit()
    for _ in range(2):
        assert _reply(client, "Bis morgen", sid="SMsame").status_code == 200
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1


# --- STOP and START ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", ["STOP", "stop", "  Stop  ", "STOPALL", "unsubscribe", "Cancel", "END", "quit\n"]
)
def test_stop_keywords_turn_off_all_sms_with_a_consent_event(twilio_app, client, db, body):
    """Every carrier STOP keyword, in any case and with spaces around, sets STOP and logs it."""
    customer = factories.customer(mobile=MOBILE)
    db.session.commit()
    assert _reply(client, body).status_code == 200
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).sms_stopped
    [event] = db.session.scalars(select(ConsentEvent)).all()
    assert (event.kind, event.subscribed, event.source) == (
        ConsentKind.ALL_SMS,
        False,
        ConsentSource.STOP,
    )


@pytest.mark.parametrize("body", ["Stop please", "nonstop", "STOP!", "Bitte nicht mehr", ""])
def test_other_replies_change_no_consent(twilio_app, client, db, body):
    """Only the keyword alone counts; a sentence containing it is an ordinary reply."""
    customer = factories.customer(mobile=MOBILE)
    db.session.commit()
    assert _reply(client, body).status_code == 200
    db.session.expire_all()
    assert not db.session.get(Customer, customer.id).sms_stopped
    assert db.session.scalar(select(func.count()).select_from(ConsentEvent)) == 0


@pytest.mark.parametrize("body", ["START", " unstop "])
def test_start_and_unstop_turn_sms_back_on(twilio_app, client, db, body):
    """START/UNSTOP clear STOP, logged with source START; STOP on a shared phone stops everyone on it."""
    first = factories.customer(mobile=MOBILE)
    second = factories.customer(mobile=MOBILE)
    db.session.commit()
    _reply(client, "STOP")
    db.session.expire_all()
    assert db.session.get(Customer, first.id).sms_stopped
    assert db.session.get(Customer, second.id).sms_stopped
    _reply(client, body)
    db.session.expire_all()
    assert not db.session.get(Customer, first.id).sms_stopped
    assert not db.session.get(Customer, second.id).sms_stopped
    sources = db.session.scalars(
        select(ConsentEvent.source)
        .where(ConsentEvent.customer_id == first.id)
        .order_by(ConsentEvent.id)
    ).all()
    assert sources == [ConsentSource.STOP, ConsentSource.START]


CATEGORIES = {
    "transactional": dict(category=Category.TRANSACTIONAL),
    "manual one-to-one": dict(category=Category.MANUAL),
    "marketing": dict(category=Category.MARKETING),
    "group send": dict(category=Category.MANUAL, group=True),
    "operational notification": dict(category=Category.NOTIFICATION),
    "marketing notification": dict(category=Category.NOTIFICATION, is_marketing=True),
}


def _send_each_category(db, customer, other) -> dict[str, dict[int, Delivery]]:
    """Send one SMS of every category (group sends also to `other`); the deliveries by customer."""
    sent = {}
    for name, kind in CATEGORIES.items():
        ids = [customer.id, other.id] if kind.get("group") else [customer.id]
        result = outbox.send(
            MessageSpec(
                category=kind["category"],
                channel=Channel.SMS,
                sms_text=f"SMS: {name}",
                is_marketing=kind.get("is_marketing", False),
            ),
            ids,
        )
        sent[name] = result.message_ids
    pending = [
        d.id
        for d in db.session.scalars(
            select(Delivery).where(Delivery.status == DeliveryStatus.PENDING)
        )
    ]
    outbox.process(pending)
    db.session.expire_all()
    return {
        name: {
            d.customer_id: d
            for d in db.session.scalars(
                select(Delivery).where(Delivery.message_id.in_(message_ids))
            )
        }
        for name, message_ids in sent.items()
    }


def test_stop_blocks_every_sms_category_and_start_restores_them(twilio_app, client, db):
    """After STOP no SMS of any category reaches the customer; after START all of them do again."""
    customer = factories.customer(mobile=MOBILE)
    other = factories.customer(mobile="+4915112345679")
    db.session.commit()
    _reply(client, "STOP")
    stopped = _send_each_category(db, customer, other)
    for name, deliveries in stopped.items():
        assert deliveries[customer.id].status == DeliveryStatus.SKIPPED, name
        assert deliveries[customer.id].reason == "replied STOP: all SMS are off", name
    assert stopped["group send"][other.id].status == DeliveryStatus.SENT

    _reply(client, "START")
    restored = _send_each_category(db, customer, other)
    for name, deliveries in restored.items():
        assert deliveries[customer.id].status == DeliveryStatus.SENT, name


def test_start_keeps_a_separate_marketing_sms_opt_out(twilio_app, client, db):
    """START undoes STOP only: a customer who left marketing SMS before still gets no marketing."""
    customer = factories.customer(mobile=MOBILE, marketing_sms_opt_out=True)
    other = factories.customer(mobile="+4915112345679")
    db.session.commit()
    _reply(client, "STOP")
    _reply(client, "START")
    deliveries = _send_each_category(db, customer, other)
    for name in ("transactional", "manual one-to-one", "operational notification"):
        assert deliveries[name][customer.id].status == DeliveryStatus.SENT, name
    for name in ("marketing", "group send", "marketing notification"):
        assert deliveries[name][customer.id].status == DeliveryStatus.SKIPPED, name
        assert deliveries[name][customer.id].reason == "unsubscribed from marketing SMS"


def test_stop_arriving_after_queueing_is_honoured_at_send_time(twilio_app, client, db):
    """A reminder queued before the STOP reply is skipped when the worker gets to it."""
    customer = factories.customer(mobile=MOBILE)
    db.session.commit()
    outbox.send(
        MessageSpec(category=Category.TRANSACTIONAL, channel=Channel.SMS, sms_text="Morgen 18 Uhr"),
        [customer.id],
    )
    _reply(client, "stop")
    delivery = db.session.scalar(select(Delivery))
    outbox.process([delivery.id])
    db.session.expire_all()
    delivery = db.session.get(Delivery, delivery.id)
    assert (delivery.status, delivery.reason) == (
        DeliveryStatus.SKIPPED,
        "replied STOP: all SMS are off",
    )


# --- Bad input ------------------------------------------------------------------------------


def test_signed_request_without_a_sender_is_a_400_not_a_500(twilio_app, client, db):
    """Missing or unusable From: a clear 400, nothing stored."""
    empty = _signed(client, INBOUND, {})
    no_from = _signed(client, INBOUND, {"Body": "Hallo", "MessageSid": "SM1"})
    bad_from = _signed(client, INBOUND, _sms("Hallo", sender="Studio<script>"))
    assert [empty.status_code, no_from.status_code, bad_from.status_code] == [400, 400, 400]
    assert b"no From" in empty.data and b"not a valid phone number" in bad_from.data
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 0


def test_malformed_bodies_are_refused_cleanly(twilio_app, client, db):
    """JSON, binary junk or an oversized body: 403 or 400/413 with a sentence, never a 500."""
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + INBOUND, {})
    json_body = client.post(
        INBOUND,
        data='{"From": "+4915112345678", "Body": "STOP"}',
        content_type="application/json",
        headers={"X-Twilio-Signature": signature},
    )
    junk = client.post(
        INBOUND,
        data=b"\xff\xfe\x00%%=&&==",
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )
    huge = _signed(client, INBOUND, _sms("x" * 70_000))
    assert json_body.status_code == 400 and b"no From" in json_body.data
    assert junk.status_code in (400, 403)
    assert huge.status_code == 413
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_control_characters_and_lone_surrogates_are_stored_cleanly(twilio_app, client, db):
    """NUL and bell in the webhook, a lone surrogate handed to the service: dropped, the rest kept."""
    customer = factories.customer(mobile=MOBILE)
    db.session.commit()
    raw = "From=%2B4915112345678&MessageSid=SMctl&Body=Hallo%00%07+Welt%0Aneu"
    params = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + INBOUND, params)
    response = client.post(
        INBOUND,
        data=raw,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 200
    sms_inbound.receive_sms(MOBILE, "Tsch\ud800\u0085ss\ufeff", "SMsurrogate")
    texts = db.session.scalars(
        select(MessageContent.body_text).join(Message).order_by(Message.id)
    ).all()
    assert texts == ["Hallo Welt\nneu", "Tsch\u0085ss\ufeff"]
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 1
    assert customer.id


# --- Status callbacks -------------------------------------------------------------------------


def _sent_sms(db, provider_id: str = "SMabc", segments: int = 2) -> Delivery:
    customer = factories.customer(mobile=MOBILE)
    db.session.commit()
    outbox.send(
        MessageSpec(category=Category.TRANSACTIONAL, channel=Channel.SMS, sms_text="Hallo"),
        [customer.id],
    )
    delivery = db.session.scalar(select(Delivery))
    outbox.process([delivery.id])
    db.session.expire_all()
    delivery = db.session.get(Delivery, delivery.id)
    delivery.provider_id = provider_id
    delivery.segments = segments
    db.session.commit()
    return delivery


def test_delivered_callback_is_recorded_on_the_delivery(twilio_app, client, db):
    """delivered: the delivery stays sent and carries the provider's status."""
    delivery = _sent_sms(db)
    response = _signed(client, STATUS, {"MessageSid": "SMabc", "MessageStatus": "delivered"})
    assert response.status_code == 200
    db.session.expire_all()
    delivery = db.session.get(Delivery, delivery.id)
    assert (delivery.status, delivery.provider_status) == (DeliveryStatus.SENT, "delivered")
    assert delivery.provider_status_at is not None


def test_undelivered_callback_fails_the_delivery_with_the_carriers_reason(twilio_app, client, db):
    """undelivered with error 30003: failed, the code and Twilio's text in the reason."""
    delivery = _sent_sms(db)
    _signed(
        client,
        STATUS,
        {"MessageSid": "SMabc", "MessageStatus": "undelivered", "ErrorCode": "30003"},
    )
    db.session.expire_all()
    delivery = db.session.get(Delivery, delivery.id)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.provider_error_code == "30003"
    assert delivery.reason == "undelivered (provider error 30003: unreachable destination handset)"
    assert delivery.segments == 2  # undelivered SMS are billed


def test_failed_callback_gives_the_unbilled_segments_back(twilio_app, client, db):
    """failed: Twilio never sent it and does not bill it, so this month's usage drops again."""
    delivery = _sent_sms(db)
    month = month_of(utcnow(), "Europe/Berlin")
    db.session.merge(SmsUsageMonth(month=month, allowance=500, used=7))
    db.session.commit()
    for _ in range(2):  # a repeated report gives nothing back twice
        _signed(
            client,
            STATUS,
            {
                "MessageSid": "SMabc",
                "MessageStatus": "failed",
                "ErrorCode": "30001",
                "ErrorMessage": "Queue overflow",
            },
        )
    db.session.expire_all()
    delivery = db.session.get(Delivery, delivery.id)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.reason == "failed (provider error 30001: Queue overflow)"
    assert delivery.segments is None
    assert db.session.get(SmsUsageMonth, month).used == 5


def test_late_intermediate_status_does_not_undo_a_final_one(twilio_app, client, db):
    """Callbacks overtaking each other: "sent" after "delivered" is acknowledged and ignored."""
    delivery = _sent_sms(db)
    _signed(client, STATUS, {"MessageSid": "SMabc", "MessageStatus": "delivered"})
    late = _signed(client, STATUS, {"MessageSid": "SMabc", "MessageStatus": "sent"})
    assert late.status_code == 200 and b"Ignored" in late.data
    db.session.expire_all()
    assert db.session.get(Delivery, delivery.id).provider_status == "delivered"


def test_status_callback_for_an_unknown_message_or_status_is_a_clear_4xx(twilio_app, client, db):
    """Unknown MessageSid: 404; missing id or a made-up status: 400; nothing changes."""
    delivery = _sent_sms(db)
    unknown = _signed(client, STATUS, {"MessageSid": "SMnobody", "MessageStatus": "delivered"})
    no_sid = _signed(client, STATUS, {"MessageStatus": "delivered"})
    bogus = _signed(client, STATUS, {"MessageSid": "SMabc", "MessageStatus": "exploded"})
    assert (unknown.status_code, no_sid.status_code, bogus.status_code) == (404, 400, 400)
    assert b"No SMS was sent with the id" in unknown.data
    assert b"not a known status" in bogus.data
    db.session.expire_all()
    assert db.session.get(Delivery, delivery.id).provider_status is None
