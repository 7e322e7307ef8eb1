"""In a real browser: sign in, open the customer list, search it live with htmx."""

import pytest

from tests import factories

pytestmark = pytest.mark.e2e


def test_admin_signs_in_and_searches_customers_live(signed_in_page, live_server, db):
    """Typing in the search box replaces the list without a page load."""
    factories.customer(first_name="Lotte", last_name="Kaiser")
    factories.customer(first_name="Paul", last_name="Brenner")
    db.session.commit()
    page = signed_in_page
    page.click("nav.mainnav >> text=Customers")
    page.wait_for_selector("text=Kaiser, Lotte")
    page.fill("input[name=q]", "brenner")
    page.wait_for_selector("text=Kaiser, Lotte", state="detached")
    assert page.is_visible("text=Brenner, Paul")
    assert "q=brenner" in page.url  # hx-push-url keeps the search in the address bar
