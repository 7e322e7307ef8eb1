"""The SMS tier page under Settings: usage against the allowance, the 12-month chart, tier changes, the dev outbox."""

import json
import re
from datetime import date

import pytest

from commsapp.models import BusinessSettings, Role, SmsUsageMonth
from commsapp.models.base import utcnow
from commsapp.services.sms_usage import month_of, previous_month
from tests.conftest import csrf_token


def _this_month() -> date:
    return month_of(utcnow(), "Europe/Berlin")


def test_admin_sees_this_months_usage_and_twelve_bars(client, login_as, db):
    """Usage against the tier, the paused warning when it is used up, one bar per month."""
    login_as(Role.ADMIN)
    settings = BusinessSettings.get()
    settings.sms_tier_segments = 500
    month = _this_month()
    db.session.add_all(
        [
            SmsUsageMonth(month=month, allowance=500, used=500),
            SmsUsageMonth(month=previous_month(month), allowance=250, used=180),
        ]
    )
    db.session.commit()
    page = client.get("/settings/sms").get_data(as_text=True)
    assert re.search(r"<strong>500</strong>\s*of\s*500\s*segments used", page)
    assert "SMS are paused" in page
    assert page.count('<rect class="bar"') == 12
    assert ">180<" in page  # last month's bar is labelled with its segments
    assert 'aria-current="page">SMS tier</a>' in page


def test_quiet_month_shows_no_pause(client, login_as, db):
    """With segments left there is no warning, and the remaining count is shown."""
    login_as(Role.ADMIN)
    db.session.add(SmsUsageMonth(month=_this_month(), allowance=500, used=120))
    db.session.commit()
    page = client.get("/settings/sms").get_data(as_text=True)
    assert "380 left" in page and "SMS are paused" not in page


def test_upgrading_applies_to_this_month_and_re_arms_the_notice(client, login_as, db):
    """An htmx upgrade re-renders the fragment with a toast; the month's allowance follows at once."""
    login_as(Role.ADMIN)
    month = _this_month()
    db.session.add(SmsUsageMonth(month=month, allowance=500, used=500, paused_notice_at=utcnow()))
    db.session.commit()
    response = client.post(
        "/settings/sms/tier",
        data={"tier": "1000", "csrf_token": csrf_token(client, "/settings/sms")},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert json.loads(response.headers["HX-Trigger"]) == {
        "toast": "Upgraded to 1,000 segments per month."
    }
    assert "<html" not in response.get_data(as_text=True)  # only the fragment
    db.session.expire_all()
    assert BusinessSettings.get().sms_tier_segments == 1000
    row = db.session.get(SmsUsageMonth, month)
    assert (row.allowance, row.paused_notice_at) == (1000, None)


def test_downgrading_without_htmx_redirects_with_a_message(client, login_as, db):
    """A plain form post works too: redirect back to the page, which says what happened."""
    login_as(Role.ADMIN)
    response = client.post(
        "/settings/sms/tier",
        data={"tier": "250", "csrf_token": csrf_token(client, "/settings/sms")},
        follow_redirects=True,
    )
    assert "Downgraded to 250 segments per month." in response.get_data(as_text=True)
    assert BusinessSettings.get().sms_tier_segments == 250


@pytest.mark.parametrize("tier", ["777", "-5", "lots", ""])
def test_a_tier_that_is_not_offered_is_refused_with_422(client, login_as, db, tier):
    """Not one of the tiers: the page comes back with the error and nothing changes."""
    login_as(Role.ADMIN)
    before = BusinessSettings.get().sms_tier_segments
    db.session.commit()
    response = client.post(
        "/settings/sms/tier",
        data={"tier": tier, "csrf_token": csrf_token(client, "/settings/sms")},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert 'class="flash flash-error"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert BusinessSettings.get().sms_tier_segments == before


@pytest.mark.parametrize("role", [Role.STAFF, Role.TEACHER])
def test_only_admins_open_the_tier_page_and_the_outbox(client, login_as, role):
    """Staff and teachers get 403 for the tier page, its form and the outbox."""
    login_as(role)
    assert client.get("/settings/sms").status_code == 403
    assert client.get("/settings/sms/outbox").status_code == 403


def test_dev_outbox_lists_the_local_adapters_sms_newest_first(app, client, login_as, db, tmp_path):
    """The file's SMS, newest first, with segments; a broken line is counted instead of breaking the page."""
    outbox_file = tmp_path / "sms.jsonl"
    lines = [
        json.dumps({"id": "local-1", "to": "+4915112345678", "from": "", "body": "Erste"}),
        "{not json",
        json.dumps({"id": "local-2", "to": "+4915112345679", "from": "+4930", "body": "Zweite 🙂"}),
    ]
    outbox_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    saved = app.config["SMS_OUTBOX_FILE"]
    app.config["SMS_OUTBOX_FILE"] = str(outbox_file)
    try:
        login_as(Role.ADMIN)
        page = client.get("/settings/sms/outbox").get_data(as_text=True)
    finally:
        app.config["SMS_OUTBOX_FILE"] = saved
    assert page.index("Zweite 🙂") < page.index("Erste")
    assert "1 · UCS-2" in page and "1 · GSM-7" in page
    assert "1 lines of the file could not be read" in page


def test_dev_outbox_without_a_file_says_so(app, client, login_as, tmp_path):
    """Before the first SMS there is no file: an empty list, not an error."""
    saved = app.config["SMS_OUTBOX_FILE"]
    app.config["SMS_OUTBOX_FILE"] = str(tmp_path / "missing.jsonl")
    try:
        login_as(Role.ADMIN)
        response = client.get("/settings/sms/outbox")
    finally:
        app.config["SMS_OUTBOX_FILE"] = saved
    assert response.status_code == 200 and "No SMS written yet." in response.get_data(as_text=True)
