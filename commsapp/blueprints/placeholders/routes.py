"""Sections of the navigation that are not built yet: each says so plainly instead of a dead link."""

from flask import Blueprint, Flask
from flask_babel import lazy_gettext as _l

from commsapp.access import STAFF_ROLES, roles
from commsapp.views_support import render_page

UPCOMING_SECTIONS = {
    "groups": (_l("Groups"), _l("Customer groups with double opt-in and a public sign-up form.")),
    "notifications": (
        _l("Notifications"),
        _l("Notifications to groups, staff roles and course participants."),
    ),
}


def register_placeholders(app: Flask) -> None:
    for name, (title, summary) in UPCOMING_SECTIONS.items():
        bp = Blueprint(name, __name__, url_prefix=f"/{name}")

        @roles(*STAFF_ROLES)
        def index(title=title, summary=summary):
            return render_page("placeholder.html", title=title, summary=summary)

        bp.add_url_rule("", "index", index)
        app.register_blueprint(bp)
