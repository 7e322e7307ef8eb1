"""Forms for business settings and staff accounts."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional, ValidationError

from commsapp.models import Role
from commsapp.services.phone import parse_phone

LANGUAGE_CHOICES = [
    ("", _l("Browser language")),
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("it", "Italiano"),
]
ROLE_CHOICES = [
    (Role.ADMIN.value, _l("Admin")),
    (Role.STAFF.value, _l("Staff")),
    (Role.TEACHER.value, _l("Teacher")),
]


class BusinessSettingsForm(FlaskForm):
    name = StringField(_l("Business name"), validators=[DataRequired(), Length(max=160)])
    address = TextAreaField(_l("Address"), validators=[Length(max=300)])
    contact_email = EmailField(
        _l("Contact email"), validators=[Optional(), Email(), Length(max=254)]
    )
    default_region = StringField(
        _l("Default phone region (ISO code, e.g. DE)"),
        validators=[DataRequired(), Length(min=2, max=2)],
    )
    default_language = SelectField(_l("Default customer language"), choices=LANGUAGE_CHOICES[1:])
    time_zone = StringField(_l("Time zone"), validators=[DataRequired(), Length(max=64)])
    marketing_suite_enabled = BooleanField(_l("Marketing suite (no limit on recipients per email)"))
    sms_enabled = BooleanField(_l("SMS sending"))
    sms_tier_segments = IntegerField(
        _l("SMS tier: segments per month"), validators=[NumberRange(min=0, max=10_000_000)]
    )
    sms_sender_number = StringField(_l("SMS sender number"), validators=[Length(max=20)])
    call_forward_number = StringField(_l("Forward calls to"), validators=[Length(max=20)])
    waitlist_minutes_to_respond = IntegerField(
        _l("Waitlist: minutes to respond"), validators=[NumberRange(min=5, max=10080)]
    )
    waiver_text = TextAreaField(_l("Customer waiver"), validators=[Length(max=20000)])

    def validate_time_zone(self, field) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(field.data)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError(
                _l("Unknown time zone; use a name such as Europe/Berlin.")
            ) from exc

    def validate_default_region(self, field) -> None:
        import phonenumbers

        field.data = (field.data or "").upper()
        if field.data not in phonenumbers.SUPPORTED_REGIONS:
            raise ValidationError(
                _l("Unknown region code; use a two-letter code such as DE, CH or FR.")
            )

    def _validate_number(self, field) -> None:
        if field.data and parse_phone(field.data, self.default_region.data or "DE") is None:
            raise ValidationError(_l("This is not a valid phone number."))

    validate_sms_sender_number = _validate_number
    validate_call_forward_number = _validate_number


class StaffForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    location_id = SelectField(_l("Pre-filtered location"), coerce=int)
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
    active = BooleanField(_l("Active"), default=True)
    password = PasswordField(_l("Password"), validators=[Optional(), Length(min=10, max=200)])
