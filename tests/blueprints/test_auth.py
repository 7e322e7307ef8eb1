"""Staff sign-in: generic errors, throttling, logout, tampered cookies, stale sessions."""

from commsapp.models import Role
from tests import factories
from tests.conftest import csrf_token

PASSWORD = "correct horse battery"


def _login(client, email, password):
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(client, "/login")},
    )


def test_correct_password_signs_in_and_lands_in_the_inbox(client, db):
    """Staff land in the inbox after signing in."""
    factories.staff_user(Role.STAFF, email="anna@studio.de", password=PASSWORD)
    db.session.commit()
    response = _login(client, "Anna@Studio.de ", PASSWORD)
    assert response.status_code == 302
    assert client.get("/", follow_redirects=True).request.path == "/inbox"


def test_wrong_password_and_unknown_email_get_the_same_message(client, db):
    """The error does not reveal whether the email exists."""
    factories.staff_user(email="anna@studio.de", password=PASSWORD)
    db.session.commit()
    wrong_password = _login(client, "anna@studio.de", "nope-nope-nope")
    unknown_email = _login(client, "nobody@studio.de", "nope-nope-nope")
    assert wrong_password.status_code == unknown_email.status_code == 401
    message = "Email or password is not correct."
    assert message in wrong_password.get_data(as_text=True)
    assert message in unknown_email.get_data(as_text=True)
    assert client.get("/customers").status_code == 302


def test_repeated_failures_lock_the_account_even_for_the_right_password(client, db, app):
    """After the configured number of failures even the right password is refused for a while."""
    factories.staff_user(email="anna@studio.de", password=PASSWORD)
    db.session.commit()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert _login(client, "anna@studio.de", "guess").status_code == 401
    locked = _login(client, "anna@studio.de", PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.get_data(as_text=True)
    assert client.get("/customers").status_code == 302


def test_logout_ends_the_session(client, login_as):
    """After signing out, protected pages redirect to the login again."""
    login_as(Role.ADMIN)
    assert client.get("/customers").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/customers")})
    assert client.get("/customers").status_code == 302


def test_tampered_session_cookie_is_ignored(client, login_as):
    """A session cookie that does not carry a valid signature signs nobody in."""
    login_as(Role.ADMIN)
    cookie = client.get_cookie("session")
    client.set_cookie(
        "session", cookie.value[:-4] + ("AAAA" if not cookie.value.endswith("AAAA") else "BBBB")
    )
    response = client.get("/customers")
    assert response.status_code == 302


def test_password_change_signs_out_other_sessions(client, login_as, db):
    """Changing a staff member's role or password invalidates their existing sessions."""
    user = login_as(Role.STAFF)
    assert client.get("/customers").status_code == 200
    user.session_version += 1
    db.session.commit()
    assert client.get("/customers").status_code == 302


def test_deactivated_staff_cannot_sign_in(client, db):
    """A deactivated account is refused with the same generic message."""
    factories.staff_user(email="gone@studio.de", password=PASSWORD, active=False)
    db.session.commit()
    assert _login(client, "gone@studio.de", PASSWORD).status_code == 401


def test_login_does_not_redirect_to_other_sites(client, db):
    """`next` only accepts paths on this site."""
    factories.staff_user(email="anna@studio.de", password=PASSWORD)
    db.session.commit()
    response = client.post(
        "/login?next=//evil.example/x",
        data={
            "email": "anna@studio.de",
            "password": PASSWORD,
            "csrf_token": csrf_token(client, "/login"),
        },
    )
    assert response.headers["Location"] == "/"


def test_session_cookie_is_http_only_and_lax(client, login_as, app):
    """The session cookie cannot be read by scripts nor sent by cross-site posts."""
    login_as(Role.ADMIN)
    cookie = client.get_cookie("session")
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True


def test_secure_cookies_are_the_default(monkeypatch):
    """Unless SECURE_COOKIES=0 (as `make run` sets for plain http), cookies need https."""
    from commsapp.config import Config

    monkeypatch.delenv("SECURE_COOKIES", raising=False)
    assert Config().SESSION_COOKIE_SECURE is True
    monkeypatch.setenv("SECURE_COOKIES", "0")
    assert Config().SESSION_COOKIE_SECURE is False
