"""The sending core against a real SMTP server and real Redis: consent, retries, nothing lost or doubled."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from commsapp.models import (
    BusinessSettings,
    Category,
    Channel,
    ConsentKind,
    ConsentSource,
    CustomerGroup,
    Delivery,
    DeliveryStatus,
    Message,
    Thread,
)
from commsapp.models.base import utcnow
from commsapp.services import consent, outbox
from commsapp.services.outbox import MessageSpec, SendRefused
from tests import factories


@pytest.fixture
def smtp_app(app, smtp):
    """The app pointed at the test's SMTP server, with fast retries."""
    saved = {
        k: app.config[k]
        for k in ("SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SEND_RETRY_BASE_SECONDS")
    }
    app.config.update(
        SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, SMTP_SECURITY="none", SEND_RETRY_BASE_SECONDS=0
    )
    yield app
    app.config.update(saved)


def _pending_ids(db) -> list[int]:
    return list(
        db.session.scalars(
            select(Delivery.id)
            .where(Delivery.status == DeliveryStatus.PENDING)
            .order_by(Delivery.id)
        )
    )


def _statuses(db) -> dict[int, tuple[DeliveryStatus, str]]:
    db.session.expire_all()
    return {d.customer_id: (d.status, d.reason) for d in db.session.scalars(select(Delivery))}


def _email(
    subject="Neue Kurse", body="<p>Hallo {{first_name}}, schön dass du da bist!</p>", **fields
) -> MessageSpec:
    return MessageSpec(
        category=fields.pop("category", Category.MANUAL),
        channel=Channel.EMAIL,
        subject=subject,
        body_html=body,
        **fields,
    )


def test_one_message_to_many_makes_one_thread_per_customer(smtp_app, db, smtp):
    """Like bcc: every customer gets their own thread and their own copy, addressed to them alone."""
    customers = [factories.customer(first_name=n) for n in ("Anna", "Ben", "Cem")]
    db.session.commit()
    result = outbox.send(_email(), [c.id for c in customers])
    assert result.queued == 3
    outbox.process(_pending_ids(db))
    assert db.session.scalar(select(func.count()).select_from(Thread)) == 3
    for customer in customers:
        [received] = smtp.to(customer.email)
        assert received["To"].endswith(f"<{customer.email}>")
        assert f"Hallo {customer.first_name}," in received.get_body(("plain",)).get_content()
    assert len(smtp.messages) == 3


def test_a_second_send_continues_each_customers_thread(smtp_app, db):
    """New customers get a thread, known ones keep theirs; each message lands in its customer's."""
    known, new = factories.customer(first_name="Anna"), factories.customer(first_name="Ben")
    unreachable = factories.customer(first_name="Cem", email="")
    db.session.commit()
    outbox.send(_email(), [known.id])
    [known_thread] = db.session.scalars(select(Thread.id)).all()

    result = outbox.send(_email(subject="Zweite"), [new.id, known.id, unreachable.id])

    threads = dict(db.session.execute(select(Thread.customer_id, Thread.id)).all())
    assert threads[known.id] == known_thread and len(threads) == 3
    messages = db.session.scalars(select(Message).where(Message.id.in_(result.message_ids))).all()
    by_id = {m.id: m for m in messages}
    assert [by_id[i].thread_id for i in result.message_ids] == [
        threads[new.id],
        threads[known.id],
        threads[unreachable.id],
    ]
    statuses = {
        d.customer_id: (d.status, d.address, d.message_id)
        for d in db.session.scalars(select(Delivery).where(Delivery.message_id.in_(by_id)))
    }
    assert statuses[new.id][:2] == (DeliveryStatus.PENDING, new.email)
    assert statuses[known.id][:2] == (DeliveryStatus.PENDING, known.email)
    assert statuses[unreachable.id][0] == DeliveryStatus.SKIPPED
    assert {message_id for *_, message_id in statuses.values()} == set(result.message_ids)
    assert result.queued == 2


def test_sent_email_is_multipart_with_business_footer_and_a_message_id_from_the_delivery(
    smtp_app, db, smtp
):
    """HTML and text alternatives, the studio's name and address, Message-ID derived from the delivery id."""
    settings = BusinessSettings.get()
    settings.name, settings.address = "Studio Lotus", "Torstraße 1, Berlin"
    customer = factories.customer()
    db.session.commit()
    outbox.send(_email(category=Category.TRANSACTIONAL), [customer.id])
    [delivery_id] = _pending_ids(db)
    outbox.process([delivery_id])
    [email] = smtp.to(customer.email)
    assert email.get_content_type() == "multipart/alternative"
    assert "Torstraße 1, Berlin" in email.get_body(("html",)).get_content()
    assert email["Message-ID"].startswith(f"<commsapp.{delivery_id}.")
    db.session.expire_all()
    assert db.session.get(Delivery, delivery_id).provider_id == email["Message-ID"]


def test_processing_a_delivery_twice_sends_it_once(smtp_app, db, smtp):
    """The atomic claim: a second job for the same delivery finds nothing to do."""
    customer = factories.customer()
    db.session.commit()
    outbox.send(_email(), [customer.id])
    ids = _pending_ids(db)
    first, second = outbox.process(ids), outbox.process(ids)
    assert first["sent"] == 1 and second == {"sent": 0, "failed": 0, "skipped": 0, "retry": 0}
    assert len(smtp.messages) == 1


def test_header_injection_in_the_subject_is_neutralised(smtp_app, db, smtp):
    """A subject with line breaks stays one header: no Bcc or other header can be smuggled in."""
    customer = factories.customer()
    db.session.commit()
    outbox.send(_email(subject="Hallo\r\nBcc: victim@example.org\nX-Evil: 1"), [customer.id])
    outbox.process(_pending_ids(db))
    [(_, recipients, email)] = smtp.messages
    assert recipients == [customer.email]
    assert email["Bcc"] is None and email["X-Evil"] is None
    assert email["Subject"] == "Hallo Bcc: victim@example.org X-Evil: 1"


def test_scripts_and_event_handlers_are_stripped_from_bodies(smtp_app, db, smtp):
    """User HTML goes through nh3 before it is stored, so nothing executable reaches the email."""
    customer = factories.customer()
    db.session.commit()
    outbox.send(
        _email(
            body='<p onclick="x()">Hi</p><script>alert(1)</script><img src=x onerror=alert(1)><a href="javascript:alert(1)">x</a>'
        ),
        [customer.id],
    )
    outbox.process(_pending_ids(db))
    html = smtp.to(customer.email)[0].get_body(("html",)).get_content()
    for payload in ("<script", "onclick", "onerror", "javascript:", "<img"):
        assert payload not in html


def test_invalid_address_and_missing_customer_become_clear_statuses(smtp_app, db, smtp):
    """A malformed address is skipped with the reason; a customer deleted before the send is skipped too."""
    bad = factories.customer(email="not-an-email")
    leaving = factories.customer()
    db.session.commit()
    outbox.send(_email(category=Category.TRANSACTIONAL), [bad.id])
    outbox.send(_email(category=Category.TRANSACTIONAL), [leaving.id])
    db.session.delete(leaving)
    db.session.commit()
    outbox.process(_pending_ids(db))
    db.session.expire_all()
    reasons = sorted(d.reason for d in db.session.scalars(select(Delivery)))
    assert reasons == [
        "'not-an-email' is not a valid email address",
        "the customer was deleted before the message was sent",
    ]
    assert smtp.messages == []


def test_refused_recipient_fails_permanently_and_busy_server_is_retried(smtp_app, db, smtp):
    """5xx ends as failed with the server's words; 4xx goes back to pending with a later attempt."""
    gone = factories.customer(email="gone@example.org")
    busy = factories.customer(email="busy@example.org")
    db.session.commit()
    smtp.refuse["gone@example.org"] = "550 5.1.1 mailbox unavailable"
    smtp.refuse["busy@example.org"] = "451 4.7.1 try again later"
    outbox.send(_email(category=Category.TRANSACTIONAL), [gone.id])
    outbox.send(_email(category=Category.TRANSACTIONAL), [busy.id])
    outbox.process(_pending_ids(db))
    statuses = _statuses(db)
    assert statuses[gone.id][0] == DeliveryStatus.FAILED and "550" in statuses[gone.id][1]
    assert statuses[busy.id][0] == DeliveryStatus.PENDING and "451" in statuses[busy.id][1]
    del smtp.refuse["busy@example.org"]
    outbox.process(_pending_ids(db))
    assert _statuses(db)[busy.id][0] == DeliveryStatus.SENT
    assert len(smtp.to("busy@example.org")) == 1


def test_unreachable_server_keeps_the_whole_batch_for_later(smtp_app, db, smtp):
    """Connection refused: every delivery stays pending with the reason, none is lost, none failed."""
    customers = [factories.customer() for _ in range(3)]
    db.session.commit()
    outbox.send(_email(), [c.id for c in customers])
    smtp.stop()
    outbox.process(_pending_ids(db))
    statuses = _statuses(db)
    assert {s for s, _ in statuses.values()} == {DeliveryStatus.PENDING}
    assert all("could not connect" in reason for _, reason in statuses.values())


def test_giving_up_after_the_maximum_attempts(smtp_app, db, smtp):
    """A recipient that is always busy ends as failed, with the number of attempts in the reason."""
    smtp_app.config["SEND_MAX_ATTEMPTS"] = 2
    try:
        customer = factories.customer(email="busy@example.org")
        db.session.commit()
        smtp.refuse["busy@example.org"] = "421 4.3.2 service not available"
        outbox.send(_email(category=Category.TRANSACTIONAL), [customer.id])
        outbox.process(_pending_ids(db))
        outbox.process(_pending_ids(db))
        status, reason = _statuses(db)[customer.id]
        assert status == DeliveryStatus.FAILED and reason.startswith("gave up after 2 attempts")
    finally:
        smtp_app.config["SEND_MAX_ATTEMPTS"] = 8


def test_sweep_requeues_vanished_jobs_and_rescues_stuck_claims(smtp_app, db, redis, smtp):
    """After Redis lost the jobs, and after a worker died mid-send, the sweep gets everything sent."""
    customers = [factories.customer() for _ in range(4)]
    db.session.commit()
    outbox.send(_email(), [c.id for c in customers])
    redis.flushdb()  # the queued job is gone
    ids = _pending_ids(db)
    long_ago = utcnow() - timedelta(hours=1)
    db.session.execute(
        Delivery.__table__.update()
        .where(Delivery.id == ids[0])
        .values(status=DeliveryStatus.SENDING, claimed_at=long_ago)
    )
    db.session.execute(
        Delivery.__table__.update().where(Delivery.id.in_(ids[1:])).values(enqueued_at=long_ago)
    )
    db.session.commit()
    found = outbox.sweep()
    assert found["rescued"] == 1 and found["queued"] == 4
    queued_ids = [i for job in _queued_jobs(smtp_app) for i in job.args[0]]
    assert sorted(queued_ids) == ids
    outbox.process(queued_ids)
    assert len(smtp.messages) == 4


@pytest.fixture
def short_sending_timeout(smtp_app):
    """Claims time out after 0.6 s, so they are renewed before each message after 0.2 s."""
    saved = smtp_app.config["SENDING_TIMEOUT_SECONDS"]
    smtp_app.config["SENDING_TIMEOUT_SECONDS"] = 0.6
    yield
    smtp_app.config["SENDING_TIMEOUT_SECONDS"] = saved


def _process_in_background(app, ids: list[int]) -> tuple[threading.Thread, list[BaseException]]:
    """A second worker: `outbox.process(ids)` in a thread of its own, its errors collected."""
    from commsapp.extensions import db

    errors: list[BaseException] = []

    def work() -> None:
        with app.app_context():
            try:
                outbox.process(ids)
            except BaseException as exc:  # noqa: BLE001  reported by the caller's assertion
                errors.append(exc)
            finally:
                db.session.remove()

    thread = threading.Thread(target=work)
    thread.start()
    return thread, errors


def test_a_batch_slower_than_the_sending_timeout_keeps_its_claims(
    smtp_app, db, redis, smtp, short_sending_timeout
):
    """Sweeps during a slow batch rescue nothing from it, so no other worker sends it again."""
    customers = [factories.customer() for _ in range(6)]
    db.session.commit()
    outbox.send(_email(), [c.id for c in customers])
    smtp.delay = 0.25  # six messages take 1.5 s, the claims time out after 0.6 s
    sending, errors = _process_in_background(smtp_app, _pending_ids(db))
    rescued = 0
    while sending.is_alive():
        time.sleep(0.1)
        rescued += outbox.sweep()["rescued"]
    sending.join()
    assert errors == [] and rescued == 0
    assert {status for status, _ in _statuses(db).values()} == {DeliveryStatus.SENT}
    message_ids = [message["Message-ID"] for _, _, message in smtp.messages]
    assert len(message_ids) == len(set(message_ids)) == 6


def test_a_stalled_worker_leaves_deliveries_another_worker_took_over(
    smtp_app, db, redis, smtp, short_sending_timeout
):
    """Claims another worker holds are neither sent, renewed nor released by the first one."""
    customers = [factories.customer() for _ in range(4)]
    db.session.commit()
    outbox.send(_email(), [c.id for c in customers])
    ids = _pending_ids(db)
    smtp.delay = 0.3
    sending, errors = _process_in_background(smtp_app, ids)
    deadline = time.monotonic() + 10
    while _statuses(db)[customers[0].id][0] != DeliveryStatus.SENDING:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # As if the sweep had rescued the last two and a second worker had claimed them.
    others_claim = utcnow() - timedelta(seconds=1)
    db.session.execute(
        Delivery.__table__.update()
        .where(Delivery.id.in_(ids[2:]))
        .values(status=DeliveryStatus.SENDING, claimed_at=others_claim)
    )
    db.session.commit()
    sending.join(timeout=30)
    assert errors == []
    assert sorted(to for _, [to], _ in smtp.messages) == sorted(c.email for c in customers[:2])
    db.session.expire_all()
    taken = db.session.scalars(select(Delivery).where(Delivery.id.in_(ids[2:]))).all()
    assert {(d.status, d.claimed_at) for d in taken} == {(DeliveryStatus.SENDING, others_claim)}


def _queued_jobs(app):
    from commsapp.queue import get_queue

    return get_queue().get_jobs()


def test_scheduled_message_waits_until_due(smtp_app, db, redis, smtp):
    """A message for later is not queued now; the sweep queues it once it is due."""
    customer = factories.customer()
    db.session.commit()
    outbox.send(_email(scheduled_at=utcnow() + timedelta(hours=2)), [customer.id])
    assert _queued_jobs(smtp_app) == []
    assert outbox.sweep()["queued"] == 0
    db.session.execute(
        Delivery.__table__.update().values(next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    assert outbox.sweep()["queued"] == 1


def test_plan_gate_refuses_75_email_recipients_without_the_marketing_suite(smtp_app, db):
    """The refusal says why and where to enable the suite; nothing is written."""
    customers = [factories.customer() for _ in range(75)]
    db.session.commit()
    with pytest.raises(SendRefused, match="75 or more recipients.*Settings > Plan"):
        outbox.send(_email(), [c.id for c in customers])
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0
    assert outbox.send(_email(), [c.id for c in customers[:74]]).queued == 74
    BusinessSettings.get().marketing_suite_enabled = True
    db.session.commit()
    assert outbox.send(_email(), [c.id for c in customers]).queued == 75


def test_abuse_guard_locks_group_sends_but_not_one_to_one_replies(smtp_app, db):
    """Far more messages than customers and bookings lock group sending until `flask messaging unlock`."""
    settings = BusinessSettings.get()
    settings.abuse_min_messages, settings.abuse_messages_per_contact = 5, 1
    customers = [factories.customer() for _ in range(4)]
    db.session.commit()
    ids = [c.id for c in customers]
    outbox.send(_email(), ids)  # 4 of at most max(5, 1 x 4 customers)
    with pytest.raises(SendRefused, match="primarily message-based"):
        outbox.send(_email(), ids)
    assert outbox.send(_email(), [ids[0]]).queued == 1  # one-to-one still works
    result = smtp_app.test_cli_runner().invoke(args=["messaging", "unlock"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert outbox.send(_email(), ids).queued == 4


def test_group_send_skips_unsubscribed_but_one_to_one_reaches_them(smtp_app, db, smtp):
    """Unsubscribes never block a message to that customer alone (the reference FAQ), only group sends."""
    unsubscribed = factories.customer(
        marketing_email_opt_out=True, transactional_email_opt_out=True
    )
    other = factories.customer()
    db.session.commit()
    result = outbox.send(_email(), [unsubscribed.id, other.id])
    assert result.skipped == {"unsubscribed from marketing email": 1}
    outbox.send(_email(), [unsubscribed.id])
    outbox.process(_pending_ids(db))
    assert len(smtp.to(unsubscribed.email)) == 1 and len(smtp.to(other.email)) == 1


def test_preflight_counts_receivers_and_skips_by_reason_without_writing(smtp_app, db):
    """The sender sees who will receive it and why the others will not, before anything is sent."""
    a = factories.customer()
    b = factories.customer(email=None)
    c = factories.customer(marketing_email_opt_out=True)
    db.session.commit()
    check = outbox.preflight(_email(category=Category.MARKETING), [a.id, b.id, c.id])
    assert (check.will_receive, check.skipped, check.refused) == (
        1,
        {"no email address": 1, "unsubscribed from marketing email": 1},
        None,
    )
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_unsubscribe_after_queueing_is_honoured_at_send_time(smtp_app, db, smtp):
    """Consent is checked again when the worker sends, not only when the message was written."""
    customer = factories.customer()
    other = factories.customer()
    db.session.commit()
    outbox.send(_email(category=Category.MARKETING), [customer.id, other.id])
    consent.set_consent(customer, ConsentKind.MARKETING_EMAIL, False, ConsentSource.FOOTER_LINK)
    db.session.commit()
    outbox.process(_pending_ids(db))
    assert smtp.to(customer.email) == []
    assert _statuses(db)[customer.id] == (
        DeliveryStatus.SKIPPED,
        "unsubscribed from marketing email",
    )


def test_marketing_email_carries_one_click_unsubscribe_headers(smtp_app, db, smtp):
    """RFC 8058: an https one-click URL, a mailto, and List-Unsubscribe-Post."""
    customer = factories.customer()
    group = CustomerGroup(name="Newsletter")
    db.session.add(group)
    db.session.commit()
    outbox.send(_email(category=Category.MARKETING, group_id=group.id), [customer.id])
    outbox.process(_pending_ids(db))
    [email] = smtp.to(customer.email)
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [raw] = smtp.raw
    assert b"List-Unsubscribe: <http://localhost/unsubscribe/" in raw  # not RFC 2047-encoded
    https, mailto = [part.strip(" <>") for part in email["List-Unsubscribe"].split(",")]
    assert https.startswith("http://localhost/unsubscribe/") and https.endswith("/one-click")
    assert mailto.startswith("mailto:")
    text = email.get_body(("plain",)).get_content()
    assert "Unsubscribe from marketing emails" in text and "Leave the group Newsletter" in text


def test_transactional_email_links_only_to_its_own_opt_out(smtp_app, db, smtp):
    """A transactional footer offers the transactional opt-out and no List-Unsubscribe header."""
    customer = factories.customer()
    db.session.commit()
    outbox.send(_email(category=Category.TRANSACTIONAL), [customer.id])
    outbox.process(_pending_ids(db))
    [email] = smtp.to(customer.email)
    assert email["List-Unsubscribe"] is None
    assert "Unsubscribe from transactional emails" in email.get_body(("plain",)).get_content()


def test_sms_and_in_app_go_through_the_same_outbox(smtp_app, db, tmp_path):
    """The local SMS adapter and the in-app channel record their deliveries like email."""
    smtp_app.config["SMS_OUTBOX_FILE"] = str(tmp_path / "sms.jsonl")
    texter = factories.customer(mobile="+4915112345678", portal_access=True)
    stopped = factories.customer(mobile="+4915112345679", sms_stopped=True)
    db.session.commit()
    outbox.send(
        MessageSpec(
            category=Category.TRANSACTIONAL, channel=Channel.SMS, sms_text="Kurs fällt aus"
        ),
        [texter.id],
    )
    outbox.send(
        MessageSpec(
            category=Category.TRANSACTIONAL, channel=Channel.SMS, sms_text="Kurs fällt aus"
        ),
        [stopped.id],
    )
    outbox.send(
        MessageSpec(
            category=Category.MANUAL, channel=Channel.IN_APP, subject="Hallo", body_html="<p>Hi</p>"
        ),
        [texter.id],
    )
    outbox.process(_pending_ids(db))
    lines = (tmp_path / "sms.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and "+4915112345678" in lines[0] and "Kurs fällt aus" in lines[0]
    db.session.expire_all()
    by_channel = {
        (d.channel, d.customer_id): d.status for d in db.session.scalars(select(Delivery))
    }
    assert by_channel[(Channel.SMS, texter.id)] == DeliveryStatus.SENT
    assert by_channel[(Channel.SMS, stopped.id)] == DeliveryStatus.SKIPPED
    assert by_channel[(Channel.IN_APP, texter.id)] == DeliveryStatus.SENT


def test_sms_over_the_provider_limit_is_refused_with_the_reason(smtp_app, db):
    """A 2,000-character SMS is refused before anything is written."""
    customer = factories.customer(mobile="+4915112345678")
    db.session.commit()
    with pytest.raises(SendRefused, match="1,600"):
        outbox.send(
            MessageSpec(category=Category.MANUAL, channel=Channel.SMS, sms_text="x" * 2000),
            [customer.id],
        )


def test_staff_test_email_and_block_designed_email(smtp_app, db, smtp):
    """A staff member gets a test email rendered from editor blocks, without unsubscribe links."""
    staff = factories.staff_user(email="mara@studio.de", name="Mara Vogel")
    db.session.commit()
    blocks = [
        {"id": "h1", "type": "heading", "text": "Hallo {{first_name}}"},
        {"id": "b1", "type": "button", "label": "Buchen", "url": "https://studio.example/book"},
    ]
    spec = MessageSpec(
        category=Category.TRANSACTIONAL, channel=Channel.EMAIL, subject="Test", blocks=blocks
    )
    outbox.send_to_staff(spec, [staff.id])
    outbox.process(_pending_ids(db))
    [email] = smtp.to("mara@studio.de")
    html = email.get_body(("html",)).get_content()
    assert "Hallo Mara" in html and "https://studio.example/book" in html and "<table" in html
    assert "/unsubscribe/" not in html
    with pytest.raises(SendRefused, match="url"):
        outbox.send_to_staff(
            MessageSpec(
                category=Category.TRANSACTIONAL,
                channel=Channel.EMAIL,
                subject="x",
                blocks=[{"id": "b", "type": "button", "label": "x", "url": "javascript:alert(1)"}],
            ),
            [staff.id],
        )
