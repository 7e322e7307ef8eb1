"""Browser tests: the app served on loopback by a real WSGI server, driven by Debian's chromium."""

import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture
def live_server(app):
    """The test app on a free loopback port, in a thread, for the duration of one test."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    saved_name = app.config.get("SERVER_NAME")
    app.config["SERVER_NAME"] = None  # the browser asks for 127.0.0.1:<port>, not localhost
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        app.config["SERVER_NAME"] = saved_name


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM}: apt-get install chromium")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def signed_in_page(page, live_server, db):
    """A browser page signed in as a new admin through the login form."""
    from commsapp.models import Role
    from tests import factories

    factories.staff_user(
        Role.ADMIN, email="e2e-admin@studio.de", password="correct horse battery", name="Eva Admin"
    )
    db.session.commit()
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", "e2e-admin@studio.de")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/inbox")
    return page
