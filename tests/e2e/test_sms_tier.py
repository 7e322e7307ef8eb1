"""In a real browser: the SMS tier page shows the month's usage and upgrades in place with htmx."""

import pytest

from commsapp.models import SmsUsageMonth
from commsapp.models.base import utcnow
from commsapp.services.sms_usage import month_of

pytestmark = pytest.mark.e2e


def test_admin_upgrades_a_used_up_tier_and_sms_are_no_longer_paused(
    signed_in_page, live_server, db
):
    """From "paused" to 500 left: the fragment swaps in, a toast confirms, no page load."""
    db.session.add(
        SmsUsageMonth(month=month_of(utcnow(), "Europe/Berlin"), allowance=500, used=500)
    )
    db.session.commit()
    page = signed_in_page
    page.goto(f"{live_server}/settings")
    page.click("nav.tabs >> text=SMS tier")
    page.wait_for_selector("text=SMS are paused")
    assert page.locator("svg.sms-chart rect.bar").count() == 12
    page.evaluate("window.loadedOnce = true")
    page.locator("tr:has-text('1,000') button", has_text="Upgrade").click()
    page.wait_for_selector("text=Upgraded to 1,000 segments per month.")
    page.wait_for_selector("text=500 left")
    assert not page.is_visible("text=SMS are paused")
    assert page.evaluate("window.loadedOnce") is True  # swapped by htmx, not reloaded
