"""SMS tier and usage page, tier changes, and the local adapter's outbox: admins only."""

import json
from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _

from commsapp.access import roles
from commsapp.blueprints.sms_settings.forms import TierForm
from commsapp.channels.sms_twilio import INBOUND_PATH, STATUS_CALLBACK_PATH
from commsapp.extensions import db, htmx
from commsapp.models import BusinessSettings, Role
from commsapp.services import sms_outbox_file, sms_usage
from commsapp.views_support import render_page

bp = Blueprint("sms_settings", __name__, url_prefix="/settings/sms")


def _tier_page(form: TierForm, status: int = 200):
    settings = BusinessSettings.get()
    overview = sms_usage.usage_overview(settings)
    config = current_app.config
    return render_page(
        "sms_settings/index.html",
        "sms_settings/_tier.html",
        status=status,
        form=form,
        overview=overview,
        bars=sms_usage.chart_bars(overview.history),
        bar_width=sms_usage.bar_width(overview.history),
        chart_width=sms_usage.CHART_WIDTH,
        chart_height=sms_usage.CHART_HEIGHT,
        tiers=sms_usage.TIERS,
        provider=config["SMS_PROVIDER"],
        inbound_url=config["PUBLIC_BASE_URL"] + INBOUND_PATH,
        status_url=config["PUBLIC_BASE_URL"] + STATUS_CALLBACK_PATH,
        twilio_ready=bool(config["TWILIO_ACCOUNT_SID"] and config["TWILIO_AUTH_TOKEN"]),
    )


@bp.route("")
@roles(Role.ADMIN)
def index():
    """This month's segments against the tier, the last twelve months, and the tiers to choose from."""
    return _tier_page(TierForm(tier=BusinessSettings.get().sms_tier_segments))


@bp.route("/tier", methods=["POST"])
@roles(Role.ADMIN)
def change_tier():
    """Upgrade or downgrade; it applies to the current month at once.

    :raise 422: not one of the offered tiers.
    """
    form = TierForm()
    if not form.validate_on_submit():
        db.session.rollback()
        return _tier_page(form, status=422)
    change = sms_usage.change_tier(form.tier.data)
    if change.direction == "upgrade":
        message = _("Upgraded to %(n)s segments per month.", n=format_decimal(change.new))
    elif change.direction == "downgrade":
        message = _("Downgraded to %(n)s segments per month.", n=format_decimal(change.new))
    else:
        message = _("The tier is unchanged.")
    if htmx:
        response = _tier_page(TierForm(tier=change.new))
        response.headers["HX-Trigger"] = json.dumps({"toast": message})
        return response
    flash(message, "success")
    return redirect(url_for("sms_settings.index"))


@bp.route("/outbox")
@roles(Role.ADMIN)
def outbox():
    """The SMS the local adapter wrote instead of sending (development and demos)."""
    config = current_app.config
    return render_page(
        "sms_settings/outbox.html",
        local=sms_outbox_file.read_local_outbox(Path(config["SMS_OUTBOX_FILE"])),
        provider=config["SMS_PROVIDER"],
        path=config["SMS_OUTBOX_FILE"],
    )
