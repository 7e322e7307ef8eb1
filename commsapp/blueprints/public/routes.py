"""Unsubscribe pages behind signed links: no login, and one-click without cookies or CSRF (RFC 8058)."""

from flask import Blueprint, make_response, request

from commsapp.access import public
from commsapp.extensions import csrf
from commsapp.models import BusinessSettings, ConsentSource
from commsapp.services import consent, unsubscribe
from commsapp.views_support import render_page

bp = Blueprint("public", __name__)


def _state_or_error(token: str):
    try:
        return unsubscribe.resolve(token), None
    except consent.InvalidToken as exc:
        return None, render_page("public/link_problem.html", message=str(exc), status=400)
    except unsubscribe.UnknownRecipient:
        return None, render_page(
            "public/link_problem.html",
            message="We could not find the subscription this link belongs to.",
            status=404,
        )


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@public
def unsubscribe_page(token: str):
    """GET only shows the choice (mail scanners open links); the button's POST changes consent.

    :raise 400: forged or altered link, with a page that says so; nothing changes.
    """
    state, error = _state_or_error(token)
    if error:
        return error
    done = None
    if request.method == "POST":
        wants = request.form.get("action") == "resubscribe"
        unsubscribe.apply(state, wants, ConsentSource.FOOTER_LINK, request.remote_addr or "")
        state = unsubscribe.resolve(token)
        done = "resubscribed" if wants else "unsubscribed"
    return render_page(
        "public/unsubscribe.html", state=state, done=done, business=BusinessSettings.get()
    )


@bp.route("/unsubscribe/<token>/one-click", methods=["GET", "POST"])
@public
@csrf.exempt
def one_click(token: str):
    """RFC 8058 one-click: a POST from the mail provider, without cookies or CSRF, idempotent, never redirected."""
    state, error = _state_or_error(token)
    if error:
        return error
    if request.method == "GET":
        return render_page(
            "public/unsubscribe.html", state=state, done=None, business=BusinessSettings.get()
        )
    unsubscribe.apply(state, False, ConsentSource.ONE_CLICK, request.remote_addr or "")
    response = make_response("You are unsubscribed.\n", 200)
    response.mimetype = "text/plain"
    return response
