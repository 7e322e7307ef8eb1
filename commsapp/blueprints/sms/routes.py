"""The SMS composer counter: characters, segments and encoding, as the carrier will bill them."""

from flask import Blueprint, request

from commsapp.access import ALL_ROLES, roles
from commsapp.services import sms_segments
from commsapp.views_support import render_page

bp = Blueprint("sms", __name__, url_prefix="/sms")
MAX_ANALYSED = 5000


@bp.route("/analyze", methods=["POST"])
@roles(*ALL_ROLES)
def analyze():
    """Counter fragment for the textarea named in `field`; `smart=1` also returns the replaced text."""
    field = request.form.get("field", "sms_text")
    text = request.form.get(field, "")[:MAX_ANALYSED]
    smart = request.form.get("smart") == "1"
    analysis = sms_segments.analyze(text, smart=smart)
    return render_page(
        "sms/_counter.html",
        "sms/_counter.html",
        analysis=analysis,
        field=field,
        too_long=sms_segments.validate_length(text),
        smart=smart,
    )
