"""The SMS composer counter shows characters, segments and encoding, and what forces UCS-2."""

from commsapp.models import Role
from tests.conftest import csrf_token


def _count(client, text, smart=False):
    data = {"field": "sms_text", "sms_text": text, "csrf_token": csrf_token(client, "/customers")}
    if smart:
        data["smart"] = "1"
    return client.post("/sms/analyze", data=data, headers={"HX-Request": "true"}).get_data(
        as_text=True
    )


def test_counter_shows_figures_and_highlights_ucs2_characters(client, login_as):
    """161 plain letters are two GSM-7 segments; a „quote“ switches to UCS-2 and is highlighted."""
    login_as(Role.STAFF)
    assert "161 characters · 2 segments · GSM-7" in _count(client, "a" * 161)
    german = _count(client, "Bitte „pünktlich“ sein")
    assert (
        "UCS-2" in german and "<mark>„</mark>" in german and "Replace smart punctuation" in german
    )


def test_smart_replacement_returns_the_gsm_text(client, login_as):
    """One click replaces the curly quotes and the counter then shows GSM-7."""
    login_as(Role.STAFF)
    body = _count(client, "Bitte „pünktlich“ sein", smart=True)
    assert (
        "GSM-7" in body
        and 'data-replace-textarea="sms_text">Bitte &#34;pünktlich&#34; sein' in body
    )


def test_counter_names_the_provider_limit(client, login_as):
    """Over 1,600 characters the counter says the SMS will be refused."""
    login_as(Role.STAFF)
    assert "1,600" in _count(client, "x" * 2000)
