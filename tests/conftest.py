"""Fixtures: the app on a real database (SQLite, or PostgreSQL via TEST_DATABASE_URL), real Redis, real SMTP."""

import contextvars
import os
import re
import tempfile
from pathlib import Path

import pytest
import redis as redis_lib
from flask.testing import FlaskClient
from sqlalchemy import text

_TMP = Path(tempfile.mkdtemp(prefix="commsapp-tests-"))
os.environ["COMMSAPP_INSTANCE_DIR"] = str(_TMP / "instance")
os.environ.setdefault("SECRET_KEY", "test-secret-key")

from commsapp import create_app  # noqa: E402  the instance dir must be set before the config is read
from commsapp.extensions import db as _db  # noqa: E402
from tests import factories  # noqa: E402

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_TMP / 'test.db'}"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IS_POSTGRES = TEST_DATABASE_URL.startswith("postgresql")


def _test_config() -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL,
        "REDIS_URL": TEST_REDIS_URL,
        "RQ_QUEUE": "commsapp-test",
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "PUBLIC_BASE_URL": "http://localhost",
        "SERVER_NAME": "localhost",
    }


def _reset_postgres_schema(url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


class IsolatedClient(FlaskClient):
    """Each request gets its own app context, as in production.

    Without this, a request would reuse the app context the `db` fixture holds open, and
    `g` (where Flask-Login caches the signed-in user) would leak from one request to the next.
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture(scope="session")
def app():
    """One app for the session, its schema built by the migrations (as in production)."""
    if IS_POSTGRES:
        _reset_postgres_schema(TEST_DATABASE_URL)
    application = create_app(_test_config())
    application.test_client_class = IsolatedClient
    from flask_migrate import upgrade

    with application.app_context():
        upgrade(revision="heads")
    return application


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Each test that used the app leaves empty tables and an empty Redis database behind."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        empty_tables()
    redis_lib.Redis.from_url(TEST_REDIS_URL).flushdb()


def empty_tables() -> None:
    """Delete every row (inside an app context); for tests that need a clean slate more than once."""
    _db.session.remove()
    tables = [t.name for t in reversed(_db.metadata.sorted_tables)]
    with _db.engine.begin() as conn:
        if IS_POSTGRES:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def db(app):
    with app.app_context():
        yield _db
        _db.session.remove()


@pytest.fixture
def redis(app):
    connection = redis_lib.Redis.from_url(TEST_REDIS_URL)
    connection.ping()
    return connection


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def login_as(app, client, db):
    """Sign in through the login form as a new staff member with that role and location."""

    def sign_in(role="admin", location=None, **fields):
        user = factories.staff_user(
            role=role, location=location, password="correct horse battery", **fields
        )
        db.session.commit()
        response = client.post(
            "/login",
            data={
                "email": user.email,
                "password": "correct horse battery",
                "csrf_token": csrf_token(client, "/login"),
            },
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return sign_in


_TOKEN = re.compile(
    r'name="csrf-token" content="([^"]+)"|name="csrf_token" type="hidden" value="([^"]+)"'
)


def csrf_token(client, path="/") -> str:
    """The CSRF token a browser would get from the page at `path`."""
    body = client.get(path, follow_redirects=True).get_data(as_text=True)
    match = _TOKEN.search(body)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on loopback that keeps every message it receives."""
    from tests.smtp_sink import SmtpSink

    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()
