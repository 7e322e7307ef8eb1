"""Pages and htmx fragments: one URL serves both, lists paginate, forms answer 422 on bad input."""

import re

from commsapp.extensions import db as _db
from commsapp.models import Role, StaffUser
from tests import factories
from tests.conftest import csrf_token


def test_htmx_request_gets_a_fragment_and_a_normal_request_a_page(client, login_as, db):
    """The customer list answers htmx with rows only, a browser with the whole page."""
    factories.customer(first_name="Lea", last_name="Berger")
    db.session.commit()
    login_as(Role.ADMIN)
    page = client.get("/customers?q=berger")
    fragment = client.get("/customers?q=berger", headers={"HX-Request": "true"})
    assert b"<html" in page.data and b"<html" not in fragment.data
    assert b"Berger, Lea" in page.data and b"Berger, Lea" in fragment.data
    assert "HX-Request" in fragment.headers["Vary"]


def test_customer_search_matches_name_email_and_phone(client, login_as, db):
    """Every word of the search must match the name, email or mobile."""
    factories.customer(
        first_name="Lea", last_name="Berger", email="lea@example.org", mobile="+4915112345678"
    )
    factories.customer(first_name="Tom", last_name="Berger", email="tom@example.org")
    db.session.commit()
    login_as(Role.ADMIN)
    assert client.get("/customers?q=lea+berger").data.count(b"Berger, ") == 1
    assert b"Berger, Lea" in client.get("/customers?q=4915112").data
    assert b"Berger, Tom" in client.get("/customers?q=TOM@example").data
    huge = client.get("/customers?q=" + "x" * 100_000)
    assert huge.status_code == 200 and b"No customers match." in huge.data


def test_customer_list_pages_by_keyset(client, login_as, db, app):
    """Loading more continues after the last row shown, without repeats or gaps."""
    for i in range(7):
        factories.customer(first_name="A", last_name=f"Name{i:02d}")
    db.session.commit()
    login_as(Role.ADMIN)
    app.config["PAGE_SIZE"] = 3
    try:
        seen = []
        body = client.get("/customers").get_data(as_text=True)
        while True:
            seen += re.findall(r"Name(\d\d), A", body)
            more = re.search(r'hx-get="/customers\?q=&amp;after=(\d+)"', body)
            if not more:
                break
            body = client.get(
                f"/customers?after={more.group(1)}", headers={"HX-Request": "true"}
            ).get_data(as_text=True)
        assert seen == [f"{i:02d}" for i in range(7)]
    finally:
        app.config["PAGE_SIZE"] = 50


def test_customer_profile_shows_tags_products_bookings_and_participants(client, login_as, db):
    """The profile gathers what staff need to know about a customer."""
    customer = factories.customer(first_name="Eva", last_name="Roth")
    customer.tags.append(factories.tag("VIP"))
    child = factories.participant(customer, "Noah")
    course = factories.course(name="Schwimmen Kinder")
    factories.booking(customer, factories.session(course), participants=[child])
    factories.customer_product(
        customer, factories.product(name="10er Karte"), credits_total=10, credits_left=3
    )
    db.session.commit()
    login_as(Role.STAFF)
    body = client.get(f"/customers/{customer.id}").get_data(as_text=True)
    for expected in ("VIP", "Noah", "Schwimmen Kinder", "10er Karte", "3 / 10"):
        assert expected in body


def test_admin_sets_a_staff_members_location(client, login_as, db):
    """Settings > Staff accounts changes the pre-filtered location; the staff member then sees only it."""
    berlin = factories.location("Berlin")
    factories.location("Zürich")
    member = factories.staff_user(Role.STAFF, name="Mara", email="mara@studio.de")
    db.session.commit()
    login_as(Role.ADMIN)
    response = client.post(
        f"/settings/staff/{member.id}",
        data={
            "name": "Mara",
            "email": "mara@studio.de",
            "role": "staff",
            "location_id": str(berlin.id),
            "language": "de",
            "active": "y",
            "csrf_token": csrf_token(client, f"/settings/staff/{member.id}"),
        },
    )
    assert response.status_code == 302
    _db.session.expire_all()
    assert _db.session.get(StaffUser, member.id).location_id == berlin.id


def test_last_admin_cannot_demote_themselves(client, login_as, db):
    """The studio always keeps one active admin; the form says why it refused."""
    admin = login_as(Role.ADMIN)
    response = client.post(
        f"/settings/staff/{admin.id}",
        data={
            "name": admin.name,
            "email": admin.email,
            "role": "staff",
            "location_id": "0",
            "language": "",
            "active": "y",
            "csrf_token": csrf_token(client, "/settings/staff"),
        },
    )
    assert response.status_code == 422
    assert b"last active admin" in response.data
    _db.session.expire_all()
    assert _db.session.get(StaffUser, admin.id).role == Role.ADMIN


def test_invalid_settings_are_refused_with_the_field_named(client, login_as, db):
    """A bad time zone is a form error (422), and nothing is saved."""
    login_as(Role.ADMIN)
    response = client.post(
        "/settings",
        data={
            "name": "Studio",
            "time_zone": "Mars/Olympus",
            "default_region": "DE",
            "default_language": "de",
            "sms_tier_segments": "500",
            "waitlist_minutes_to_respond": "60",
            "csrf_token": csrf_token(client, "/settings"),
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert b"Unknown time zone" in response.data


def test_unbuilt_sections_say_so(client, login_as):
    """Navigation entries for later features explain that they are not built yet."""
    login_as(Role.STAFF)
    assert b"not built yet" in client.get("/groups").data


def test_teacher_home_is_their_course_list(client, login_as):
    """Teachers have no inbox; they start at their courses."""
    login_as(Role.TEACHER)
    assert client.get("/", follow_redirects=True).request.path == "/courses"


def test_german_staff_get_a_german_ui(client, login_as):
    """The staff member's language wins over the browser's."""
    login_as(Role.STAFF, language="de")
    body = client.get("/customers", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Kunden" in body
