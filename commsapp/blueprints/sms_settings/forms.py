"""The tier form: one of the offered monthly segment allowances."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import AnyOf, InputRequired

from commsapp.services.sms_usage import TIERS


class TierForm(FlaskForm):
    tier = IntegerField(
        _l("SMS tier"),
        validators=[
            InputRequired(),
            AnyOf(TIERS, message=_l("Choose one of the SMS tiers on this page.")),
        ],
    )
