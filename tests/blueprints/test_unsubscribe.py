"""Footer links and one-click unsubscribe: the right flag changes, the event is logged, forgeries change nothing."""

from sqlalchemy import func, select

from commsapp.extensions import db as _db
from commsapp.models import (
    ConsentEvent,
    ConsentKind,
    ConsentSource,
    Customer,
    CustomerGroup,
    GroupMembership,
    MembershipStatus,
    Role,
)
from commsapp.services.consent import unsubscribe_token
from tests import factories
from tests.conftest import csrf_token


def _fresh(customer_id: int) -> Customer:
    _db.session.expire_all()
    return _db.session.get(Customer, customer_id)


def _events(customer_id: int) -> list[ConsentEvent]:
    _db.session.expire_all()
    return list(
        _db.session.scalars(select(ConsentEvent).where(ConsentEvent.customer_id == customer_id))
    )


def test_footer_link_shows_the_choice_and_the_button_unsubscribes(client, db):
    """Opening the link changes nothing (mail scanners open links); the button does, and is logged."""
    customer = factories.customer()
    db.session.commit()
    url = f"/unsubscribe/{unsubscribe_token(customer.id, ConsentKind.MARKETING_EMAIL)}"
    page = client.get(url)
    assert page.status_code == 200 and b"marketing emails" in page.data
    assert _fresh(customer.id).marketing_email_opt_out is False
    done = client.post(url, data={"action": "unsubscribe", "csrf_token": csrf_token(client, url)})
    assert done.status_code == 200 and b"You are unsubscribed." in done.data
    customer = _fresh(customer.id)
    assert (
        customer.marketing_email_opt_out is True and customer.transactional_email_opt_out is False
    )
    [event] = _events(customer.id)
    assert (event.kind, event.subscribed, event.source) == (
        ConsentKind.MARKETING_EMAIL,
        False,
        ConsentSource.FOOTER_LINK,
    )


def test_transactional_link_changes_only_transactional_consent(client, db):
    """Each footer link is single-purpose."""
    customer = factories.customer()
    db.session.commit()
    url = f"/unsubscribe/{unsubscribe_token(customer.id, ConsentKind.TRANSACTIONAL_EMAIL)}"
    client.post(url, data={"action": "unsubscribe", "csrf_token": csrf_token(client, url)})
    customer = _fresh(customer.id)
    assert (
        customer.transactional_email_opt_out is True and customer.marketing_email_opt_out is False
    )


def test_group_link_leaves_only_that_group(client, db):
    """A marketing email from a group links to leaving that group."""
    customer = factories.customer()
    group = CustomerGroup(name="Eltern-Newsletter")
    db.session.add(group)
    db.session.flush()
    db.session.add(GroupMembership(customer_id=customer.id, group_id=group.id))
    db.session.commit()
    url = f"/unsubscribe/{unsubscribe_token(customer.id, ConsentKind.GROUP, group.id)}"
    assert b"Eltern-Newsletter" in client.get(url).data
    client.post(url, data={"action": "unsubscribe", "csrf_token": csrf_token(client, url)})
    _db.session.expire_all()
    assert (
        _db.session.get(GroupMembership, (customer.id, group.id)).status
        == MembershipStatus.UNSUBSCRIBED
    )
    assert _fresh(customer.id).marketing_email_opt_out is False


def test_one_click_post_works_without_cookies_or_csrf_and_is_idempotent(app, db):
    """RFC 8058: a bare POST unsubscribes with 200, never redirects; a second POST logs nothing new."""
    customer = factories.customer()
    db.session.commit()
    url = f"/unsubscribe/{unsubscribe_token(customer.id, ConsentKind.MARKETING_EMAIL)}/one-click"
    bare = app.test_client(use_cookies=False)
    for _ in range(2):
        response = bare.post(
            url, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 200 and "Location" not in response.headers
    assert _fresh(customer.id).marketing_email_opt_out is True
    [event] = _events(customer.id)
    assert event.source == ConsentSource.ONE_CLICK


def test_forged_or_altered_links_get_a_clear_page_and_change_nothing(app, client, db):
    """A token altered by one character, or signed with another key, is refused with 400."""
    customer = factories.customer()
    db.session.commit()
    token = unsubscribe_token(customer.id, ConsentKind.MARKETING_EMAIL)
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    from itsdangerous import URLSafeTimedSerializer

    foreign = URLSafeTimedSerializer("another-studios-key", salt="commsapp.unsubscribe.v1").dumps(
        [customer.id, "marketing_email", None]
    )
    for bad in (altered, foreign, "not-a-token"):
        page = client.get(f"/unsubscribe/{bad}")
        assert page.status_code == 400 and b"This unsubscribe link is not valid." in page.data
        one_click = app.test_client(use_cookies=False).post(f"/unsubscribe/{bad}/one-click")
        assert one_click.status_code == 400
    assert _fresh(customer.id).marketing_email_opt_out is False
    assert _events(customer.id) == []


def test_replayed_link_after_resubscribing_changes_only_what_the_customer_chose(client, db):
    """Undo on the same page resubscribes; using the link again then offers to unsubscribe again."""
    customer = factories.customer()
    db.session.commit()
    url = f"/unsubscribe/{unsubscribe_token(customer.id, ConsentKind.MARKETING_EMAIL)}"
    client.post(url, data={"action": "unsubscribe", "csrf_token": csrf_token(client, url)})
    again = client.post(url, data={"action": "unsubscribe", "csrf_token": csrf_token(client, url)})
    assert again.status_code == 200
    assert len(_events(customer.id)) == 1
    back = client.post(url, data={"action": "resubscribe", "csrf_token": csrf_token(client, url)})
    assert b"Welcome back." in back.data
    assert _fresh(customer.id).marketing_email_opt_out is False
    assert len(_events(customer.id)) == 2


def test_link_of_a_deleted_customer_says_so(client, db):
    """A genuine link whose customer was deleted answers 404 with a sentence."""
    customer = factories.customer()
    db.session.commit()
    token = unsubscribe_token(customer.id, ConsentKind.MARKETING_EMAIL)
    db.session.delete(customer)
    db.session.commit()
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 404 and b"could not find the subscription" in page.data


def test_staff_toggle_consent_on_the_profile_with_undo(client, login_as, db):
    """The 'x' unsubscribes marketing SMS only; the arrow undoes it; both are in the history with the staff name."""
    customer = factories.customer(mobile="+4915112345678")
    db.session.commit()
    staff = login_as(Role.STAFF, name="Mara")
    url = f"/customers/{customer.id}/consent"
    token = csrf_token(client, f"/customers/{customer.id}")
    off = client.post(
        url,
        data={"kind": "marketing_sms", "subscribed": "0", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert off.status_code == 200 and b"<html" not in off.data and b"unsubscribed" in off.data
    customer_now = _fresh(customer.id)
    assert customer_now.marketing_sms_opt_out is True and customer_now.sms_stopped is False
    client.post(url, data={"kind": "marketing_sms", "subscribed": "1", "csrf_token": token})
    assert _fresh(customer.id).marketing_sms_opt_out is False
    events = _events(customer.id)
    assert [(e.subscribed, e.source, e.actor_staff_id) for e in events] == [
        (False, ConsentSource.STAFF, staff.id),
        (True, ConsentSource.STAFF, staff.id),
    ]
    assert "Mara" in client.get(f"/customers/{customer.id}").get_data(as_text=True)


def test_staff_consent_change_refuses_unknown_kinds_and_other_locations(client, login_as, db):
    """A tampered kind is a 400; a customer of another location is a 404; nothing changes."""
    berlin, zurich = factories.location("Berlin"), factories.location("Zürich")
    elsewhere = factories.customer(zurich)
    here = factories.customer(berlin)
    db.session.commit()
    login_as(Role.STAFF, location=berlin)
    token = csrf_token(client, "/customers")
    assert (
        client.post(
            f"/customers/{here.id}/consent",
            data={"kind": "group", "subscribed": "0", "csrf_token": token},
        ).status_code
        == 400
    )
    assert (
        client.post(
            f"/customers/{elsewhere.id}/consent",
            data={"kind": "marketing_email", "subscribed": "0", "csrf_token": token},
        ).status_code
        == 404
    )
    _db.session.expire_all()
    assert _db.session.scalar(select(func.count()).select_from(ConsentEvent)) == 0
