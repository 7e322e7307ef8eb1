"""The inbox: per-customer threads (the thread list and replies arrive with the inbox issue)."""

from flask import Blueprint
from flask_login import current_user

from commsapp.access import STAFF_ROLES, roles
from commsapp.views_support import render_page

bp = Blueprint("inbox", __name__, url_prefix="/inbox")


@bp.route("")
@roles(*STAFF_ROLES)
def index():
    return render_page("inbox/index.html", location=current_user.location)
