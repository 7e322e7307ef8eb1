"""Property: over random customers, consents and sends, nobody gets what they forbade and everybody else gets exactly one."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from commsapp.extensions import db as _db
from commsapp.models import (
    Category,
    Channel,
    CustomerGroup,
    Delivery,
    DeliveryStatus,
    GroupMembership,
    MembershipStatus,
)
from commsapp.services import outbox
from commsapp.services.outbox import MessageSpec
from tests import factories
from tests.conftest import empty_tables

customer_strategy = st.fixed_dictionaries(
    {
        "email": st.sampled_from([None, "ok"]),
        "mobile": st.sampled_from(
            [None, "mobile", "+493012345678", "12"]
        ),  # none, a mobile, a landline, junk
        "marketing_email_opt_out": st.booleans(),
        "transactional_email_opt_out": st.booleans(),
        "marketing_sms_opt_out": st.booleans(),
        "sms_stopped": st.booleans(),
        "left_group": st.booleans(),
    }
)
send_strategy = st.fixed_dictionaries(
    {
        "category": st.sampled_from(list(Category)),
        "is_marketing": st.booleans(),
        "channel": st.sampled_from([Channel.EMAIL, Channel.SMS]),
        "from_group": st.booleans(),
    }
)


def allowed(customer: dict, send: dict, audience_size: int) -> bool:
    """The issue's consent table, written out independently of the implementation."""
    category = send["category"]
    marketing = category == Category.MARKETING or (
        category == Category.NOTIFICATION and send["is_marketing"]
    )
    group_send = category == Category.MANUAL and audience_size > 1
    if send["channel"] == Channel.EMAIL:
        if customer["email"] is None:
            return False
        if category == Category.MANUAL and audience_size == 1:
            return True
        if marketing or group_send:
            left = send["from_group"] and customer["left_group"]
            return not customer["marketing_email_opt_out"] and not left
        return not customer["transactional_email_opt_out"]
    if customer["sms_stopped"] or customer["mobile"] != "mobile":
        return False
    if marketing or group_send:
        return not customer["marketing_sms_opt_out"]
    return True


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    customers=st.lists(customer_strategy, min_size=1, max_size=5),
    send=send_strategy,
    data=st.data(),
)
def test_no_blocked_customer_receives_and_every_allowed_one_receives_once(
    app, smtp, tmp_path, customers, send, data
):
    """Random populations and sends through the real outbox, real SMTP server and local SMS adapter."""
    sms_file = tmp_path / "sms.jsonl"
    app.config.update(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp.port,
        SMTP_SECURITY="none",
        SMS_OUTBOX_FILE=str(sms_file),
    )
    with app.app_context():
        empty_tables()
        smtp.messages.clear()
        sms_file.unlink(missing_ok=True)
        group = CustomerGroup(name="Newsletter")
        _db.session.add(group)
        _db.session.flush()
        rows = []
        for index, fields in enumerate(customers):
            customer = factories.customer(
                email=f"c{index}@example.org" if fields["email"] else None,
                mobile=f"+49151123456{index:02d}"
                if fields["mobile"] == "mobile"
                else fields["mobile"],
                marketing_email_opt_out=fields["marketing_email_opt_out"],
                transactional_email_opt_out=fields["transactional_email_opt_out"],
                marketing_sms_opt_out=fields["marketing_sms_opt_out"],
                sms_stopped=fields["sms_stopped"],
            )
            status = (
                MembershipStatus.UNSUBSCRIBED
                if fields["left_group"]
                else MembershipStatus.SUBSCRIBED
            )
            _db.session.add(
                GroupMembership(customer_id=customer.id, group_id=group.id, status=status)
            )
            rows.append((customer, fields))
        _db.session.commit()
        chosen = data.draw(st.lists(st.sampled_from(range(len(rows))), min_size=1, unique=True))
        spec = MessageSpec(
            category=send["category"],
            channel=send["channel"],
            subject="Hallo",
            body_html="<p>Hallo {{first_name}}</p>",
            sms_text="Hallo",
            is_marketing=send["is_marketing"],
            group_id=group.id if send["from_group"] else None,
        )
        outbox.send(spec, [rows[i][0].id for i in chosen])
        outbox.process(
            list(
                _db.session.scalars(
                    select(Delivery.id).where(Delivery.status == DeliveryStatus.PENDING)
                )
            )
        )

        sms_lines = (
            [json.loads(line) for line in sms_file.read_text().splitlines()]
            if sms_file.exists()
            else []
        )
        for i in chosen:
            customer, fields = rows[i]
            expected = 1 if allowed(fields, send, len(chosen)) else 0
            if send["channel"] == Channel.EMAIL:
                received = len(smtp.to(customer.email)) if customer.email else 0
            else:
                received = sum(1 for line in sms_lines if line["to"] == customer.mobile)
            assert received == expected, (fields, send, len(chosen))
        unchosen_emails = {rows[i][0].email for i in range(len(rows)) if i not in chosen}
        assert not any(set(rcpts) & unchosen_emails for _, rcpts, _ in smtp.messages)
