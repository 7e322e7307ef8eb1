"""SMS tiers against a real database, real Redis and real SMTP: segments counted, never overspent, email fallback."""

import threading
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from commsapp.models import (
    BusinessSettings,
    Category,
    Channel,
    Delivery,
    DeliveryStatus,
    Role,
    SmsUsageMonth,
)
from commsapp.models.base import utcnow
from commsapp.services import outbox, sms_usage
from commsapp.services.outbox import MessageSpec, SendRefused
from commsapp.services.sms_usage import month_of
from tests import factories
from tests.twilio_server import TwilioApiServer

TWO_SEGMENTS = "Der Kurs heute entfällt. " * 7  # 175 GSM characters: 2 segments


@pytest.fixture
def sms_app(app, smtp, tmp_path):
    """SMTP to the test's sink, the local SMS adapter in a fresh file, a Redis-backed SMS rate."""
    keys = (
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_SECURITY",
        "SMS_OUTBOX_FILE",
        "SMS_RATE_PER_SECOND",
        "SEND_RETRY_BASE_SECONDS",
    )
    saved = {k: app.config[k] for k in keys}
    app.config.update(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp.port,
        SMTP_SECURITY="none",
        SMS_OUTBOX_FILE=str(tmp_path / "sms.jsonl"),
        SMS_RATE_PER_SECOND=10_000,
        SEND_RETRY_BASE_SECONDS=0,
    )
    yield app
    app.config.update(saved)


def _this_month() -> date:
    return month_of(utcnow(), "Europe/Berlin")


def _set_tier(db, segments: int, used: int | None = None) -> None:
    BusinessSettings.get().sms_tier_segments = segments
    if used is not None:
        db.session.merge(SmsUsageMonth(month=_this_month(), allowance=segments, used=used))
    db.session.commit()


def _pending(db, channel: Channel | None = None) -> list[int]:
    query = select(Delivery.id).where(Delivery.status == DeliveryStatus.PENDING)
    if channel is not None:
        query = query.where(Delivery.channel == channel)
    return list(db.session.scalars(query.order_by(Delivery.id)))


def _sms(text: str = "Hallo", category: Category = Category.TRANSACTIONAL) -> MessageSpec:
    return MessageSpec(category=category, channel=Channel.SMS, sms_text=text)


def _sms_deliveries(db) -> list[Delivery]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Delivery).where(Delivery.channel == Channel.SMS).order_by(Delivery.id)
        )
    )


def test_usage_counts_the_segments_of_each_sms_actually_sent(sms_app, db, smtp):
    """A one- and a two-segment SMS make 3 segments; a skipped SMS counts nothing."""
    texter = factories.customer(mobile="+4915112345678")
    stopped = factories.customer(mobile="+4915112345679", sms_stopped=True)
    db.session.commit()
    outbox.send(_sms("Bis morgen!"), [texter.id])
    outbox.send(_sms(TWO_SEGMENTS), [texter.id])
    outbox.send(_sms("Bis morgen!"), [stopped.id])
    outbox.process(_pending(db))
    deliveries = _sms_deliveries(db)
    assert [(d.status, d.segments) for d in deliveries] == [
        (DeliveryStatus.SENT, 1),
        (DeliveryStatus.SENT, 2),
        (DeliveryStatus.SKIPPED, None),
    ]
    assert db.session.get(SmsUsageMonth, _this_month()).used == 3


def test_two_workers_racing_never_overspend_and_every_excess_sms_falls_back_or_is_skipped(
    sms_app, db, redis, smtp
):
    """Two threads process halves of a group SMS against 21 segments: exactly 10 two-segment SMS leave.

    Every other SMS went by email (customer with an address who allows marketing email) or was
    skipped with the reason; the admin got exactly one notice linking to the tier page.
    """
    _set_tier(db, 21)
    admin = factories.staff_user(role=Role.ADMIN, email="chefin@studio.example")
    factories.staff_user(role=Role.STAFF, email="kollege@studio.example")
    customers = []
    for i in range(24):
        fields = {"mobile": f"+4915112{i:06d}", "first_name": f"K{i}"}
        if i % 4 == 0:
            fields["email"] = None
        elif i % 4 == 1:
            fields["marketing_email_opt_out"] = True
        customers.append(factories.customer(**fields))
    db.session.commit()
    by_id = {c.id: c for c in customers}
    outbox.send(_sms(TWO_SEGMENTS, Category.MANUAL), list(by_id))  # a group send
    ids = _pending(db)
    assert len(ids) == 24

    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(share: list[int]) -> None:
        with sms_app.app_context():
            try:
                barrier.wait()
                for delivery_id in share:  # one job per SMS: the most interleaving
                    outbox.process([delivery_id])
            except BaseException as exc:  # noqa: BLE001  reported by the assertion below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(ids[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []

    deliveries = _sms_deliveries(db)
    sent = [d for d in deliveries if d.status == DeliveryStatus.SENT]
    usage = db.session.get(SmsUsageMonth, _this_month())
    assert usage.used == sum(d.segments for d in sent) == 20 <= 21
    assert len(sent) == 10
    sms_file = sms_app.config["SMS_OUTBOX_FILE"]
    assert len(Path(sms_file).read_text(encoding="utf-8").splitlines()) == 10

    used_up = f"the SMS allowance (21 segments for {_this_month():%Y-%m}) is used up; "
    emailed = []
    for delivery in deliveries:
        if delivery.status == DeliveryStatus.SENT:
            continue
        customer = by_id[delivery.customer_id]
        assert delivery.status == DeliveryStatus.SKIPPED and delivery.segments is None
        if customer.email is None:
            assert delivery.reason == used_up + "not sent by email either: no email address"
        elif customer.marketing_email_opt_out:
            assert delivery.reason == (
                used_up + "not sent by email either: unsubscribed from marketing email"
            )
        else:
            assert delivery.reason == used_up + "sent by email instead"
            emailed.append(customer)
    assert len(deliveries) - len(sent) == 14

    outbox.process(_pending(db, Channel.EMAIL))
    for customer in emailed:
        [email] = smtp.to(customer.email)
        assert "Der Kurs heute entfällt." in email.get_body(("plain",)).get_content()
        assert email["Subject"] == "My Studio"
    [notice] = smtp.to("chefin@studio.example")
    assert notice["Subject"] == "SMS are paused: this month's SMS allowance is used up"
    assert "http://localhost/settings/sms" in notice.get_body(("html",)).get_content()
    assert smtp.to("kollege@studio.example") == []
    assert admin.id


def test_fallback_email_follows_consent_for_the_same_audience(sms_app, db, smtp):
    """Used up: transactional SMS go by email unless transactional email is refused; one-to-one always may."""
    _set_tier(db, 250, used=250)
    plain = factories.customer(mobile="+4915112345601", email="plain@example.org")
    no_transactional = factories.customer(
        mobile="+4915112345602", email="nein@example.org", transactional_email_opt_out=True
    )
    no_email_at_all = factories.customer(
        mobile="+4915112345603",
        email="alles-aus@example.org",
        transactional_email_opt_out=True,
        marketing_email_opt_out=True,
    )
    db.session.commit()
    outbox.send(_sms("Kurs <b>fällt</b> aus & morgen"), [plain.id])
    outbox.send(_sms("Kurs fällt aus"), [no_transactional.id])
    outbox.send(_sms("Kannst du mich zurückrufen?", Category.MANUAL), [no_email_at_all.id])
    outbox.process(_pending(db))
    reasons = [d.reason.split("; ")[1] for d in _sms_deliveries(db)]
    assert reasons == [
        "sent by email instead",
        "not sent by email either: unsubscribed from transactional email",
        "sent by email instead",
    ]
    outbox.process(_pending(db, Channel.EMAIL))
    [email] = smtp.to("plain@example.org")
    html = email.get_body(("html",)).get_content()
    assert "Kurs &lt;b&gt;fällt&lt;/b&gt; aus &amp; morgen" in html  # the SMS text, not markup
    assert "Unsubscribe from transactional emails" in email.get_body(("plain",)).get_content()
    assert smtp.to("nein@example.org") == []
    assert len(smtp.to("alles-aus@example.org")) == 1
    assert db.session.get(SmsUsageMonth, _this_month()).used == 250


def test_admins_get_one_notice_a_month_and_again_after_an_upgrade_runs_out(sms_app, db, smtp):
    """Three SMS over the limit: one notice. Upgrade, use that up too: a second notice."""
    factories.staff_user(role=Role.ADMIN, email="chefin@studio.example")
    customer = factories.customer(mobile="+4915112345678", email=None)
    _set_tier(db, 250, used=250)
    for _ in range(3):
        outbox.send(_sms(), [customer.id])
    outbox.process(_pending(db))
    outbox.process(_pending(db))
    assert len(smtp.to("chefin@studio.example")) == 1

    sms_usage.change_tier(500)
    db.session.merge(SmsUsageMonth(month=_this_month(), allowance=500, used=500))
    db.session.commit()
    outbox.send(_sms(), [customer.id])
    outbox.process(_pending(db))
    outbox.process(_pending(db))
    assert len(smtp.to("chefin@studio.example")) == 2


def test_a_downgrade_below_this_months_usage_pauses_sms_at_once(sms_app, db, smtp):
    """The tier applies to the current month: after downgrading below the usage no SMS leaves."""
    customer = factories.customer(mobile="+4915112345678", email=None)
    _set_tier(db, 500, used=300)
    assert sms_usage.change_tier(250).direction == "downgrade"
    outbox.send(_sms(), [customer.id])
    outbox.process(_pending(db))
    [delivery] = _sms_deliveries(db)
    assert delivery.status == DeliveryStatus.SKIPPED
    assert "(250 segments for" in delivery.reason


def test_bad_numbers_are_skipped_and_cost_nothing(sms_app, db, smtp):
    """Invalid and landline numbers are skipped with the reason; a foreign format is sent as E.164."""
    invalid = factories.customer(mobile="12345")
    landline = factories.customer(mobile="+49 30 1234567")
    foreign_format = factories.customer(mobile="0041 79 123 45 67")
    db.session.commit()
    outbox.send(_sms("Hallo", Category.MANUAL), [invalid.id, landline.id, foreign_format.id])
    outbox.process(_pending(db))
    outcome = {d.customer_id: (d.status, d.reason) for d in _sms_deliveries(db)}
    assert outcome[invalid.id] == (DeliveryStatus.SKIPPED, "the number cannot receive SMS")
    assert outcome[landline.id] == (DeliveryStatus.SKIPPED, "the number cannot receive SMS")
    assert outcome[foreign_format.id] == (DeliveryStatus.SENT, "")
    assert '"to": "+41791234567"' in Path(sms_app.config["SMS_OUTBOX_FILE"]).read_text()
    assert db.session.get(SmsUsageMonth, _this_month()).used == 1


def test_unsendable_sms_texts_are_refused_before_anything_is_written(sms_app, db):
    """2,000 characters, a lone surrogate or control characters: refused with the reason, nothing counted."""
    customer = factories.customer(mobile="+4915112345678")
    db.session.commit()
    for text, reason in (
        ("x" * 2000, "1,600"),
        ("Hallo \ud83d Welt", "cannot be sent"),
        ("Hallo\x00\x1b Welt", "cannot be sent"),
    ):
        with pytest.raises(SendRefused, match=reason):
            outbox.send(_sms(text), [customer.id])
    assert _sms_deliveries(db) == []
    assert db.session.get(SmsUsageMonth, _this_month()) is None


@pytest.fixture
def twilio_api():
    server = TwilioApiServer()
    server.start()
    yield server
    server.stop()


def test_sms_through_twilio_counts_only_what_twilio_accepted(sms_app, db, twilio_api):
    """SMS_PROVIDER=twilio: accepted SMS keep their segments; a refused one fails and gives them back."""
    saved = {
        k: sms_app.config[k]
        for k in (
            "SMS_PROVIDER",
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_MESSAGING_SERVICE_SID",
            "TWILIO_API_BASE_URL",
        )
    }
    sms_app.config.update(
        SMS_PROVIDER="twilio",
        TWILIO_ACCOUNT_SID="AC" + "3" * 32,
        TWILIO_AUTH_TOKEN="token",
        TWILIO_MESSAGING_SERVICE_SID="MG" + "4" * 32,
        TWILIO_API_BASE_URL=twilio_api.base_url,
    )
    try:
        accepted = factories.customer(mobile="+4915112345678")
        refused = factories.customer(mobile="+4915112345679")
        busy = factories.customer(mobile="+4915112345670")
        db.session.commit()
        for customer in (accepted, refused, busy):
            outbox.send(_sms(TWO_SEGMENTS), [customer.id])
        twilio_api.reply(201, {"sid": "SMaccepted", "status": "queued"})
        twilio_api.reply(
            400,
            {"code": 21614, "message": "'To' number is not a valid mobile number", "status": 400},
        )
        twilio_api.reply(503, {"message": "Service Unavailable", "status": 503})
        for delivery_id in _pending(db):
            outbox.process([delivery_id])
    finally:
        sms_app.config.update(saved)
    outcome = {d.customer_id: d for d in _sms_deliveries(db)}
    assert (outcome[accepted.id].status, outcome[accepted.id].provider_id) == (
        DeliveryStatus.SENT,
        "SMaccepted",
    )
    assert outcome[accepted.id].segments == 2
    assert outcome[refused.id].status == DeliveryStatus.FAILED
    assert outcome[refused.id].reason == (
        "Twilio error 21614: 'To' number is not a valid mobile number"
    )
    assert outcome[busy.id].status == DeliveryStatus.PENDING  # retried later
    assert outcome[refused.id].segments is None and outcome[busy.id].segments is None
    assert db.session.get(SmsUsageMonth, _this_month()).used == 2
    assert [r.form["To"] for r in twilio_api.requests] == [
        "+4915112345678",
        "+4915112345679",
        "+4915112345670",
    ]


@pytest.mark.parametrize(
    ("moment", "zone", "month"),
    [
        (datetime(2026, 1, 31, 22, 59), "Europe/Berlin", date(2026, 1, 1)),
        (datetime(2026, 1, 31, 23, 0), "Europe/Berlin", date(2026, 2, 1)),
        (datetime(2026, 3, 1, 4, 59), "America/New_York", date(2026, 2, 1)),
        (datetime(2026, 3, 1, 5, 0), "America/New_York", date(2026, 3, 1)),
        (datetime(2026, 3, 1, 0, 0), "Not/AZone", date(2026, 3, 1)),
    ],
)
def test_the_calendar_month_is_the_studios(moment, zone, month):
    """Usage resets at midnight on the 1st where the studio is, not in UTC."""
    assert month_of(moment, zone) == month


def test_overview_covers_the_last_twelve_months_oldest_first(sms_app, db):
    """The chart's months end with this one; months without SMS are zero."""
    _set_tier(db, 500)
    db.session.add(SmsUsageMonth(month=date(2025, 12, 1), allowance=250, used=240))
    db.session.commit()
    overview = sms_usage.usage_overview(BusinessSettings.get(), now=datetime(2026, 5, 10, 12))
    assert [m.month for m in overview.history][:2] == [date(2025, 6, 1), date(2025, 7, 1)]
    assert overview.history[-1] == sms_usage.MonthUsage(date(2026, 5, 1), 0, 500)
    assert overview.history[6] == sms_usage.MonthUsage(date(2025, 12, 1), 240, 250)
    bars = sms_usage.chart_bars(overview.history)
    assert len(bars) == 12 and max(b.height for b in bars) == sms_usage.CHART_HEIGHT * 240 / 500
