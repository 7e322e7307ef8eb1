"""Every route is walked: none escapes authorisation or CSRF by being forgotten."""

import re

import pytest

from commsapp.models import Role
from tests import factories
from tests.conftest import csrf_token

# Routes that answer without a signed-in staff member, each with the reason.
PUBLIC_ENDPOINTS = {
    "static": "stylesheets and vendored scripts",
    "auth.login": "the sign-in page itself",
    "public.unsubscribe_page": "customers follow it from an email; the signed token authorises",
    "public.one_click": "mail providers POST it (RFC 8058); the signed token authorises",
    "webhooks.twilio_inbound": "Twilio POSTs inbound SMS; its X-Twilio-Signature authorises",
    "webhooks.twilio_status": "Twilio POSTs delivery status; its X-Twilio-Signature authorises",
    "templates.image": "mail clients load images in emails; the unguessable token is the key",
}
# POST routes that take no CSRF token, each with the reason.
CSRF_EXEMPT_ENDPOINTS = {
    "public.one_click": "RFC 8058 one-click comes from the mail provider, without cookies or a token",
    "webhooks.twilio_inbound": "Twilio sends no cookies or token; the request signature stands in",
    "webhooks.twilio_status": "Twilio sends no cookies or token; the request signature stands in",
}


def _fill(rule) -> str:
    """A URL for the rule with every id argument set to a number that does not exist."""
    return re.sub(r"<(?:int:)?(\w+)>", "999999", rule.rule)


def _rules(app, method):
    return [r for r in app.url_map.iter_rules() if method in r.methods and r.endpoint != "static"]


def test_every_view_declares_its_access(app):
    """A view without @public or @roles would be refused; none should be left that way."""
    undeclared = [
        endpoint
        for endpoint, view in app.view_functions.items()
        if endpoint != "static"
        and not getattr(view, "access_public", False)
        and getattr(view, "access_roles", None) is None
    ]
    assert undeclared == []
    public = {e for e, v in app.view_functions.items() if getattr(v, "access_public", False)}
    assert public <= set(PUBLIC_ENDPOINTS)


def test_anonymous_visitors_are_sent_to_login_from_every_protected_route(app, client):
    """Without a session every non-public route redirects to the login page."""
    for method in ("GET", "POST"):
        for rule in _rules(app, method):
            if rule.endpoint in PUBLIC_ENDPOINTS:
                continue
            response = client.open(_fill(rule), method=method)
            if method == "POST" and response.status_code == 400:
                continue  # refused by CSRF before authorisation; tested below
            assert response.status_code == 302, (rule.rule, method, response.status_code)
            assert "/login" in response.headers["Location"]


def test_htmx_requests_without_a_session_get_a_redirect_header(app, client):
    """An htmx request cannot follow a 302 into a fragment: it gets HX-Redirect instead."""
    response = client.get("/customers", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


@pytest.mark.parametrize("role", [Role.STAFF, Role.TEACHER])
def test_roles_see_only_their_routes(app, client, login_as, role):
    """Each protected GET route answers 403 to a signed-in role it does not list."""
    login_as(role)
    for rule in _rules(app, "GET"):
        view = app.view_functions[rule.endpoint]
        allowed = getattr(view, "access_roles", None)
        if allowed is None or role in allowed:
            continue
        response = client.get(_fill(rule))
        assert response.status_code == 403, (rule.rule, role, response.status_code)


def test_every_post_route_refuses_a_missing_csrf_token(app, client, login_as):
    """A signed-in admin's POST without a token is refused with 400 on every route."""
    login_as(Role.ADMIN)
    for rule in _rules(app, "POST"):
        if rule.endpoint in CSRF_EXEMPT_ENDPOINTS:
            continue
        response = client.post(_fill(rule), data={"anything": "1"})
        assert response.status_code == 400, (rule.rule, response.status_code)
        assert b"expired or was not sent from this site" in response.data


def test_every_post_route_refuses_a_wrong_csrf_token(app, client, login_as):
    """A forged token is refused like a missing one."""
    login_as(Role.ADMIN)
    for rule in _rules(app, "POST"):
        if rule.endpoint in CSRF_EXEMPT_ENDPOINTS:
            continue
        response = client.post(
            _fill(rule), data={"csrf_token": "forged"}, headers={"X-CSRFToken": "forged"}
        )
        assert response.status_code == 400, rule.rule


def test_customer_of_another_location_answers_404(client, login_as, db):
    """A staff member limited to one location cannot open another location's customer, by id or in lists."""
    berlin, zurich = factories.location("Berlin"), factories.location("Zürich")
    own = factories.customer(berlin, last_name="Hierbleiber")
    other = factories.customer(zurich, last_name="Anderswo")
    db.session.commit()
    login_as(Role.STAFF, location=berlin)
    assert client.get(f"/customers/{own.id}").status_code == 200
    assert client.get(f"/customers/{other.id}").status_code == 404
    listing = client.get("/customers").get_data(as_text=True)
    assert "Hierbleiber" in listing and "Anderswo" not in listing


def test_course_of_another_location_or_teacher_answers_404(client, login_as, db):
    """Courses outside the location, and for teachers courses they do not teach, are 404."""
    berlin, zurich = factories.location("Berlin"), factories.location("Zürich")
    teacher = factories.staff_user(
        Role.TEACHER, email="t@example.org", password="correct horse battery"
    )
    taught = factories.course(berlin, teacher=teacher, name="Yoga am Morgen")
    untaught = factories.course(berlin, name="Pilates")
    elsewhere = factories.course(zurich, name="Ballett")
    session = factories.session(elsewhere)
    db.session.commit()
    client.post(
        "/login",
        data={
            "email": "t@example.org",
            "password": "correct horse battery",
            "csrf_token": csrf_token(client, "/login"),
        },
    )
    assert client.get(f"/courses/{taught.id}").status_code == 200
    assert client.get(f"/courses/{untaught.id}").status_code == 404
    assert "Pilates" not in client.get("/courses").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/courses")})
    login_as(Role.STAFF, location=berlin)
    assert client.get(f"/courses/{elsewhere.id}").status_code == 404
    assert client.get(f"/courses/{elsewhere.id}/sessions/{session.id}").status_code == 404
    assert client.get(f"/courses/{taught.id}/sessions/{session.id}").status_code == 404
