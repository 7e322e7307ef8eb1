"""The transactional catalogue: the ten events the app emails about, their variables, defaults and sending.

Each event offers a fixed list of variables (shown above its editor); only those are filled
when it is sent, everything else stays as written. The values are computed here at send
time from the booking, session, product or link the event is about.
"""

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_time
from babel.lists import format_list
from babel.numbers import format_currency
from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from commsapp.extensions import db
from commsapp.models import (
    Booking,
    BookingStatus,
    BusinessSettings,
    Category,
    Channel,
    CourseSession,
    Customer,
    CustomerGroup,
    CustomerProduct,
    PaymentMethod,
    StaffUser,
    TransactionalTemplate,
    WaitlistEntry,
)
from commsapp.services import outbox
from commsapp.services.html_sanitize import html_to_text
from commsapp.services.template_editor import (
    block_texts,
    blocks_to_rich_text,
    fill_blocks,
    with_fresh_ids,
    write_template,
)
from commsapp.services.templating import fill_variables

log = logging.getLogger(__name__)

LANGUAGES = ("en", "de")
CURRENCY = "EUR"
COMMON = ("first_name", "last_name", "business_name", "business_address")
SESSION = (
    "class_name",
    "session_date",
    "session_time",
    "location_name",
    "students",
    "students_first_names",
)
# Variables that may stand alone in a button's or image's link field.
LINK_VARIABLES = frozenset({"url"})


@dataclass(frozen=True)
class DefaultContent:
    subject: str
    blocks: list[dict]
    sms_text: str = ""


@dataclass(frozen=True)
class CatalogueEvent:
    key: str
    name: str  # lazy, translated for the staff member reading it
    description: str
    variables: tuple[str, ...]
    defaults: dict[str, DefaultContent]
    # Variables the email cannot do without (the waiver link): saving is refused without them.
    required: tuple[str, ...] = ()
    # Which of the customer's bookings count when only a session is given.
    includes_cancelled_bookings: bool = False

    @property
    def link_variables(self) -> frozenset[str]:
        return LINK_VARIABLES & set(self.variables)


@dataclass
class CatalogueEntry:
    event: CatalogueEvent
    templates: dict[str, TransactionalTemplate] = field(default_factory=dict)


def _email(heading: str, text_html: str, footer_html: str, button: tuple[str, str] | None = None):
    blocks = [
        {"id": "heading", "type": "heading", "text": heading, "level": 1, "align": "left"},
        {"id": "text", "type": "text", "html": text_html},
    ]
    if button:
        blocks.append(
            {
                "id": "button",
                "type": "button",
                "label": button[0],
                "url": button[1],
                "colour": "#2563eb",
            }
        )
    blocks.append({"id": "footer", "type": "footer", "html": footer_html})
    return blocks


_FOOTER = {
    "en": "<p>Questions? Just reply to this email.</p>",
    "de": "<p>Fragen? Antworten Sie einfach auf diese E-Mail.</p>",
}


def _defaults(
    en: tuple[str, str, str, tuple[str, str] | None, str],
    de: tuple[str, str, str, tuple[str, str] | None, str],
) -> dict[str, DefaultContent]:
    """(subject, heading, text html, button (label, url) or None, SMS text) per language."""
    result = {}
    for language, (subject, heading, text_html, button, sms_text) in (("en", en), ("de", de)):
        result[language] = DefaultContent(
            subject, _email(heading, text_html, _FOOTER[language], button), sms_text
        )
    return result


EVENTS: dict[str, CatalogueEvent] = {
    event.key: event
    for event in (
        CatalogueEvent(
            "booking_confirmation",
            _l("Booking confirmation"),
            _l("Sent when a customer books a class or course session."),
            (*COMMON, *SESSION, "welcomeMessage", "url"),
            _defaults(
                (
                    "Booking confirmed: {{class_name}} on {{session_date}}",
                    "See you soon, {{first_name}}!",
                    "<p>Your booking for <strong>{{class_name}}</strong> on {{session_date}} at "
                    "{{session_time}} ({{location_name}}) is confirmed.</p>"
                    "<p>Booked for: {{students}}</p><p>{{welcomeMessage}}</p>",
                    ("Manage my bookings", "{{url}}"),
                    "{{business_name}}: your booking for {{class_name}} on {{session_date}} at "
                    "{{session_time}} is confirmed.",
                ),
                (
                    "Buchung bestätigt: {{class_name}} am {{session_date}}",
                    "Bis bald, {{first_name}}!",
                    "<p>Ihre Buchung für <strong>{{class_name}}</strong> am {{session_date}} um "
                    "{{session_time}} ({{location_name}}) ist bestätigt.</p>"
                    "<p>Gebucht für: {{students}}</p><p>{{welcomeMessage}}</p>",
                    ("Meine Buchungen", "{{url}}"),
                    "{{business_name}}: Ihre Buchung für {{class_name}} am {{session_date}} um "
                    "{{session_time}} ist bestätigt.",
                ),
            ),
        ),
        CatalogueEvent(
            "booking_cancelled",
            _l("Booking cancelled by the customer"),
            _l("Sent when a customer cancels their booking."),
            (*COMMON, *SESSION, "refundNotice"),
            _defaults(
                (
                    "Booking cancelled: {{class_name}} on {{session_date}}",
                    "Your booking is cancelled",
                    "<p>Hello {{first_name}},</p><p>as requested, we have cancelled your booking "
                    "for <strong>{{class_name}}</strong> on {{session_date}} at {{session_time}} "
                    "({{students}}).</p><p>{{refundNotice}}</p>",
                    None,
                    "{{business_name}}: your booking for {{class_name}} on {{session_date}} is "
                    "cancelled. {{refundNotice}}",
                ),
                (
                    "Buchung storniert: {{class_name}} am {{session_date}}",
                    "Ihre Buchung ist storniert",
                    "<p>Hallo {{first_name}},</p><p>wie gewünscht haben wir Ihre Buchung für "
                    "<strong>{{class_name}}</strong> am {{session_date}} um {{session_time}} "
                    "({{students}}) storniert.</p><p>{{refundNotice}}</p>",
                    None,
                    "{{business_name}}: Ihre Buchung für {{class_name}} am {{session_date}} ist "
                    "storniert. {{refundNotice}}",
                ),
            ),
            includes_cancelled_bookings=True,
        ),
        CatalogueEvent(
            "session_cancelled",
            _l("Class session cancelled by the studio"),
            _l(
                "Sent to everyone booked when the studio cancels a session, with the note typed then."
            ),
            (*COMMON, *SESSION, "noteToCustomers", "refundNotice"),
            _defaults(
                (
                    "Cancelled: {{class_name}} on {{session_date}}",
                    "We have had to cancel a class",
                    "<p>Hello {{first_name}},</p><p>unfortunately <strong>{{class_name}}</strong> "
                    "on {{session_date}} at {{session_time}} cannot take place. Your booking "
                    "({{students}}) has been cancelled.</p><p>{{noteToCustomers}}</p>"
                    "<p>{{refundNotice}}</p><p>We are sorry for the inconvenience.</p>",
                    None,
                    "{{business_name}}: {{class_name}} on {{session_date}} at {{session_time}} is "
                    "cancelled. {{noteToCustomers}}",
                ),
                (
                    "Abgesagt: {{class_name}} am {{session_date}}",
                    "Wir mussten einen Kurstermin absagen",
                    "<p>Hallo {{first_name}},</p><p>leider kann <strong>{{class_name}}</strong> am "
                    "{{session_date}} um {{session_time}} nicht stattfinden. Ihre Buchung "
                    "({{students}}) wurde storniert.</p><p>{{noteToCustomers}}</p>"
                    "<p>{{refundNotice}}</p><p>Wir bitten um Entschuldigung.</p>",
                    None,
                    "{{business_name}}: {{class_name}} am {{session_date}} um {{session_time}} "
                    "fällt aus. {{noteToCustomers}}",
                ),
            ),
            includes_cancelled_bookings=True,
        ),
        CatalogueEvent(
            "waitlist_offer",
            _l("Waitlist spot offered"),
            _l("Sent when a spot opens up for a customer on the waitlist."),
            (*COMMON, *SESSION, "numberOfMinutesToRespond", "url"),
            _defaults(
                (
                    "A spot is free: {{class_name}} on {{session_date}}",
                    "Good news, {{first_name}}!",
                    "<p>A spot has opened up in <strong>{{class_name}}</strong> on {{session_date}} "
                    "at {{session_time}} ({{location_name}}) for {{students}}.</p><p>You have "
                    "{{numberOfMinutesToRespond}} minutes to accept it; after that we offer it to "
                    "the next person on the waitlist.</p>",
                    ("Accept the spot", "{{url}}"),
                    "{{business_name}}: a spot is free in {{class_name}} on {{session_date}}. "
                    "Accept within {{numberOfMinutesToRespond}} min: {{url}}",
                ),
                (
                    "Ein Platz ist frei: {{class_name}} am {{session_date}}",
                    "Gute Nachrichten, {{first_name}}!",
                    "<p>In <strong>{{class_name}}</strong> am {{session_date}} um {{session_time}} "
                    "({{location_name}}) ist ein Platz für {{students}} frei geworden.</p><p>Sie "
                    "haben {{numberOfMinutesToRespond}} Minuten Zeit, ihn anzunehmen; danach bieten "
                    "wir ihn der nächsten Person auf der Warteliste an.</p>",
                    ("Platz annehmen", "{{url}}"),
                    "{{business_name}}: Ein Platz in {{class_name}} am {{session_date}} ist frei. "
                    "Bitte innerhalb von {{numberOfMinutesToRespond}} Min. annehmen: {{url}}",
                ),
            ),
        ),
        CatalogueEvent(
            "waiver_update",
            _l("Updated waiver signature request"),
            _l("Asks customers to sign the waiver again after it changed; needs the link {{url}}."),
            (*COMMON, "url"),
            _defaults(
                (
                    "Please sign our updated waiver",
                    "Our waiver has changed",
                    "<p>Hello {{first_name}},</p><p>we have updated our waiver. Please read and "
                    "sign the new version before your next visit.</p>",
                    ("Read and sign", "{{url}}"),
                    "{{business_name}}: please sign our updated waiver before your next visit: "
                    "{{url}}",
                ),
                (
                    "Bitte unterschreiben Sie unsere aktualisierte Haftungserklärung",
                    "Unsere Haftungserklärung hat sich geändert",
                    "<p>Hallo {{first_name}},</p><p>wir haben unsere Haftungserklärung "
                    "aktualisiert. Bitte lesen und unterschreiben Sie die neue Fassung vor Ihrem "
                    "nächsten Besuch.</p>",
                    ("Lesen und unterschreiben", "{{url}}"),
                    "{{business_name}}: Bitte unterschreiben Sie vor Ihrem nächsten Besuch unsere "
                    "aktualisierte Haftungserklärung: {{url}}",
                ),
            ),
            required=("url",),
        ),
        CatalogueEvent(
            "purchase_receipt",
            _l("Purchase receipt"),
            _l("Sent after a customer buys a membership, package or course subscription."),
            (*COMMON, "product_name", "amount", "purchase_date", "url"),
            _defaults(
                (
                    "Your receipt: {{product_name}}",
                    "Thank you for your purchase",
                    "<p>Hello {{first_name}},</p><p>thank you for buying "
                    "<strong>{{product_name}}</strong> on {{purchase_date}}.</p>"
                    "<p>Amount paid: {{amount}}</p>",
                    ("My account", "{{url}}"),
                    "",
                ),
                (
                    "Ihre Quittung: {{product_name}}",
                    "Vielen Dank für Ihren Einkauf",
                    "<p>Hallo {{first_name}},</p><p>vielen Dank für den Kauf von "
                    "<strong>{{product_name}}</strong> am {{purchase_date}}.</p>"
                    "<p>Bezahlter Betrag: {{amount}}</p>",
                    ("Mein Konto", "{{url}}"),
                    "",
                ),
            ),
        ),
        CatalogueEvent(
            "renewal_failed",
            _l("Unsuccessful membership renewal"),
            _l("Sent when the payment for an automatic membership renewal is unsuccessful."),
            (*COMMON, "product_name", "url"),
            _defaults(
                (
                    "Your membership could not be renewed",
                    "Your renewal was unsuccessful",
                    "<p>Hello {{first_name}},</p><p>we could not renew your "
                    "<strong>{{product_name}}</strong> because the payment was unsuccessful. Please "
                    "check your payment details so you can keep booking classes.</p>",
                    ("Update payment details", "{{url}}"),
                    "{{business_name}}: the renewal of your {{product_name}} was unsuccessful. "
                    "Please update your payment details: {{url}}",
                ),
                (
                    "Ihre Mitgliedschaft konnte nicht verlängert werden",
                    "Die Verlängerung war nicht erfolgreich",
                    "<p>Hallo {{first_name}},</p><p>wir konnten Ihre "
                    "<strong>{{product_name}}</strong> nicht verlängern, weil die Zahlung nicht "
                    "erfolgreich war. Bitte prüfen Sie Ihre Zahlungsdaten, damit Sie weiterhin "
                    "Kurse buchen können.</p>",
                    ("Zahlungsdaten aktualisieren", "{{url}}"),
                    "{{business_name}}: Die Verlängerung Ihrer {{product_name}} ist fehlgeschlagen. "
                    "Bitte Zahlungsdaten aktualisieren: {{url}}",
                ),
            ),
        ),
        CatalogueEvent(
            "last_credit_used",
            _l("Last credit of a package used"),
            _l("Sent when a customer books with the last credit of a credit package."),
            (*COMMON, "product_name", "url"),
            _defaults(
                (
                    "You have used the last credit of {{product_name}}",
                    "Time to top up",
                    "<p>Hello {{first_name}},</p><p>you have just used the last credit of your "
                    "<strong>{{product_name}}</strong>. Buy a new package to keep booking "
                    "classes.</p>",
                    ("Buy a new package", "{{url}}"),
                    "{{business_name}}: you have used the last credit of your {{product_name}}. "
                    "Top up here: {{url}}",
                ),
                (
                    "Sie haben das letzte Guthaben von {{product_name}} genutzt",
                    "Zeit zum Aufladen",
                    "<p>Hallo {{first_name}},</p><p>Sie haben gerade das letzte Guthaben Ihrer "
                    "<strong>{{product_name}}</strong> genutzt. Kaufen Sie ein neues Paket, um "
                    "weiter Kurse zu buchen.</p>",
                    ("Neues Paket kaufen", "{{url}}"),
                    "{{business_name}}: Sie haben das letzte Guthaben Ihrer {{product_name}} "
                    "genutzt. Hier aufladen: {{url}}",
                ),
            ),
        ),
        CatalogueEvent(
            "newsletter_confirmation",
            _l("Newsletter confirmation (double opt-in)"),
            _l("Asks a new subscriber to confirm; needs the confirmation link {{url}}."),
            (*COMMON, "group_name", "url"),
            _defaults(
                (
                    "Please confirm your subscription to {{group_name}}",
                    "One more step",
                    "<p>Hello {{first_name}},</p><p>please confirm that you would like to receive "
                    "{{group_name}} from {{business_name}}. If you did not sign up, ignore this "
                    "email and you will not hear from us.</p>",
                    ("Confirm my subscription", "{{url}}"),
                    "",
                ),
                (
                    "Bitte bestätigen Sie Ihre Anmeldung zu {{group_name}}",
                    "Nur noch ein Schritt",
                    "<p>Hallo {{first_name}},</p><p>bitte bestätigen Sie, dass Sie {{group_name}} "
                    "von {{business_name}} erhalten möchten. Wenn Sie sich nicht angemeldet haben, "
                    "ignorieren Sie diese E-Mail einfach.</p>",
                    ("Anmeldung bestätigen", "{{url}}"),
                    "",
                ),
            ),
            required=("url",),
        ),
        CatalogueEvent(
            "welcome",
            _l("Welcome"),
            _l("Sent once to a new customer."),
            (*COMMON, "url"),
            _defaults(
                (
                    "Welcome to {{business_name}}!",
                    "Welcome, {{first_name}}!",
                    "<p>We are glad you are here. You can book classes, see your bookings and "
                    "manage your packages online at any time.</p><p>See you soon!</p>",
                    ("Book your first class", "{{url}}"),
                    "",
                ),
                (
                    "Willkommen bei {{business_name}}!",
                    "Willkommen, {{first_name}}!",
                    "<p>Schön, dass Sie da sind. Kurse buchen, Ihre Buchungen ansehen und Ihre "
                    "Pakete verwalten können Sie jederzeit online.</p><p>Bis bald!</p>",
                    ("Ersten Kurs buchen", "{{url}}"),
                    "",
                ),
            ),
        ),
    )
}


# --- The catalogue rows ----------------------------------------------------------------------


def ensure_catalogue() -> None:
    """Create the template of every event and language that has none yet, with its default content."""
    existing = set(
        db.session.execute(select(TransactionalTemplate.event_key, TransactionalTemplate.language))
    )
    missing = [
        (event, language)
        for event in EVENTS.values()
        for language in LANGUAGES
        if (event.key, language) not in existing
    ]
    if not missing:
        return
    for event, language in missing:
        default = event.defaults[language]
        db.session.add(
            TransactionalTemplate(
                event_key=event.key,
                language=language,
                subject=default.subject,
                blocks_json=json.dumps(with_fresh_ids(default.blocks)),
                sms_text=default.sms_text,
            )
        )
    try:
        db.session.commit()
    except IntegrityError:
        # Two first visits at once both create the rows; the other request's rows are as good.
        db.session.rollback()


def catalogue(query: str = "") -> list[CatalogueEntry]:
    """Every event with its templates per language; `query` keeps those whose name, description or text has every word."""
    ensure_catalogue()
    entries = {key: CatalogueEntry(event) for key, event in EVENTS.items()}
    for template in db.session.scalars(select(TransactionalTemplate)):
        if template.event_key in entries:
            entries[template.event_key].templates[template.language] = template
    words = query.casefold().split()
    if not words:
        return list(entries.values())
    return [entry for entry in entries.values() if all(w in _haystack(entry) for w in words)]


def _haystack(entry: CatalogueEntry) -> str:
    event = entry.event
    parts = [event.key.replace("_", " ")]
    # Staff search in their own language, and the reference's instructions use the English names.
    for language in current_app.config["LANGUAGES"]:
        with force_locale(language):
            parts += [str(event.name), str(event.description)]
    for template in entry.templates.values():
        parts.append(template.subject)
        parts.extend(html_to_text(text) for text in block_texts(template.blocks or []))
        parts.append(template.sms_text)
    return " ".join(parts).casefold()


def get_template(template_id: int) -> tuple[TransactionalTemplate, CatalogueEvent] | None:
    template = db.session.get(TransactionalTemplate, template_id)
    if template is None or template.event_key not in EVENTS:
        return None
    return template, EVENTS[template.event_key]


def template_for(event_key: str, language: str) -> TransactionalTemplate:
    ensure_catalogue()
    return db.session.scalar(
        select(TransactionalTemplate).where(
            TransactionalTemplate.event_key == event_key, TransactionalTemplate.language == language
        )
    )


def translations_of(template: TransactionalTemplate) -> dict[str, TransactionalTemplate]:
    """The same event's template in each language, for switching between them in the editor."""
    siblings = db.session.scalars(
        select(TransactionalTemplate).where(TransactionalTemplate.event_key == template.event_key)
    )
    by_language = {sibling.language: sibling for sibling in siblings}
    return {language: by_language[language] for language in LANGUAGES if language in by_language}


def reset_to_default(template: TransactionalTemplate, staff: StaffUser, base_version: int) -> None:
    """Put the event's default content back (as a new version, so an editor open elsewhere is told).

    :raise TemplateConflict: someone saved since `base_version`.
    """
    default = EVENTS[template.event_key].defaults[template.language]
    write_template(
        template,
        staff,
        base_version,
        {
            "subject": default.subject,
            "blocks_json": json.dumps(with_fresh_ids(default.blocks)),
            "sms_text": default.sms_text,
            "customised": False,
        },
    )


def template_language(customer: Customer) -> str:
    """The customer's language if the catalogue has it, else the studio's, else English."""
    if customer.language in LANGUAGES:
        return customer.language
    settings_language = BusinessSettings.get().default_language
    return settings_language if settings_language in LANGUAGES else "en"


# --- Values at send time ---------------------------------------------------------------------


REFUND_NOTICES = {
    "en": {
        PaymentMethod.PACKAGE: "You have received a credit. It has been added back to your package "
        "automatically.",
        PaymentMethod.CREDIT: 'You have received a credit of "{amount}". It has been added to your '
        "account as credit automatically.",
        "credit_without_amount": "You have received a credit. It has been added to your account "
        "as credit automatically.",
        PaymentMethod.CASH: "The class has been credited to your {business} account "
        "automatically. You can use it to book future classes.",
    },
    "de": {
        PaymentMethod.PACKAGE: "Ihnen wurde ein Guthaben gutgeschrieben. Dieses wurde automatisch "
        "wieder zu Ihrem Paket hinzugefügt.",
        PaymentMethod.CREDIT: 'Ihnen wurden "{amount}" gutgeschrieben. Dies wurde automatisch '
        "wieder als Guthaben hinzugefügt.",
        "credit_without_amount": "Ihnen wurde ein Guthaben gutgeschrieben. Dies wurde automatisch "
        "wieder als Guthaben hinzugefügt.",
        PaymentMethod.CASH: "Das Guthaben wurde Ihrem {business}-Konto automatisch "
        "gutgeschrieben. Sie können es für zukünftige Buchungen verwenden.",
    },
}


def refund_notice(
    paid_with: PaymentMethod | None,
    language: str,
    business_name: str,
    amount: str | None = None,
) -> str:
    """The refund sentence for what paid for the booking, as in the reference.

    Memberships and subscriptions cover the class whatever happens, so nothing is refunded
    and the sentence is empty; so it is when nothing is known about the payment.
    """
    texts = REFUND_NOTICES.get(language, REFUND_NOTICES["en"])
    if paid_with == PaymentMethod.CREDIT:
        if amount:
            return texts[PaymentMethod.CREDIT].format(amount=amount)
        return texts["credit_without_amount"]
    if paid_with in (PaymentMethod.PACKAGE, PaymentMethod.CASH):
        return texts[paid_with].format(business=business_name)
    return ""


def welcome_message(session: CourseSession | None) -> str:
    """The session's own welcome message, else the one of its course's class template."""
    if session is None:
        return ""
    if session.welcome_message.strip():
        return session.welcome_message.strip()
    class_template = session.course.class_template
    return class_template.welcome_message.strip() if class_template else ""


def students(bookings: Iterable[Booking], customer: Customer, language: str) -> tuple[str, str]:
    """(`{{students}}`, `{{students_first_names}}`): every participant of the bookings, once each.

    A booking without participants is the customer's own place.
    """
    full: dict[tuple[str, int], str] = {}
    first: dict[tuple[str, int], str] = {}
    for booking in bookings:
        if not booking.participants:
            full[("customer", customer.id)] = customer.full_name
            first[("customer", customer.id)] = customer.first_name
        for participant in sorted(booking.participants, key=lambda p: p.id):
            full[("participant", participant.id)] = participant.full_name
            first[("participant", participant.id)] = participant.first_name
    return _join(full.values(), language), _join(first.values(), language)


def _join(names: Iterable[str], language: str) -> str:
    names = [name for name in names if name]
    return format_list(names, locale=language) if names else ""


def _local(moment: datetime, time_zone: str) -> datetime:
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.replace(tzinfo=UTC).astimezone(zone)


def _session_values(session: CourseSession, language: str, settings: BusinessSettings) -> dict:
    starts = _local(session.starts_at, session.location.time_zone or settings.time_zone)
    return {
        "class_name": session.course.name,
        "session_date": format_date(starts, format="full", locale=language),
        "session_time": format_time(starts, format="short", locale=language),
        "location_name": session.location.name,
    }


def _context_bookings(
    event: CatalogueEvent, customer: Customer, context: dict, session: CourseSession | None
) -> list[Booking]:
    booking_ids = list(context.get("booking_ids") or [])
    if context.get("booking_id") is not None:
        booking_ids.append(context["booking_id"])
    query = select(Booking).where(Booking.customer_id == customer.id).order_by(Booking.id)
    if booking_ids:
        return list(db.session.scalars(query.where(Booking.id.in_(booking_ids))))
    if session is None:
        return []
    in_session = list(db.session.scalars(query.where(Booking.session_id == session.id)))
    active = [b for b in in_session if b.status != BookingStatus.CANCELLED]
    # When the studio cancels a session its bookings may already be marked cancelled.
    if not active and event.includes_cancelled_bookings:
        return in_session
    return active


def send_values(event_key: str, customer: Customer, language: str, context: dict) -> dict[str, str]:
    """The values of the event's variables for this customer; only the event's variables are returned.

    `context` may hold: booking_id / booking_ids, session_id, waitlist_entry_id, note,
    refund_amount, refunded (False for no refund), url, customer_product_id, amount,
    group_id / group_name.
    """
    event = EVENTS[event_key]
    settings = BusinessSettings.get()
    values = {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "business_name": settings.name,
        "business_address": settings.address,
        "numberOfMinutesToRespond": str(settings.waitlist_minutes_to_respond),
        "url": context.get("url") or current_app.config["PUBLIC_BASE_URL"] + "/",
    }
    session = None
    if context.get("session_id") is not None:
        session = db.session.get(CourseSession, context["session_id"])
    elif context.get("waitlist_entry_id") is not None:
        entry = db.session.get(WaitlistEntry, context["waitlist_entry_id"])
        session = entry.session if entry is not None else None
    bookings = _context_bookings(event, customer, context, session)
    if session is None and bookings:
        session = bookings[0].session
    if session is not None:
        values.update(_session_values(session, language, settings))
    values["students"], values["students_first_names"] = students(bookings, customer, language)
    if not values["students"]:
        values["students"], values["students_first_names"] = customer.full_name, customer.first_name
    values["welcomeMessage"] = welcome_message(session)
    note = context.get("note")
    values["noteToCustomers"] = (
        note if note is not None else (session.cancellation_note if session else "")
    ).strip()
    refunded = context.get("refunded", True)
    paid_with = bookings[0].paid_with if bookings else context.get("paid_with")
    values["refundNotice"] = (
        refund_notice(paid_with, language, settings.name, context.get("refund_amount"))
        if refunded
        else ""
    )
    values.update(_product_values(customer, language, context))
    values["group_name"] = _group_name(context)
    return {name: values.get(name, "") for name in event.variables}


def _product_values(customer: Customer, language: str, context: dict) -> dict[str, str]:
    product_id = context.get("customer_product_id")
    owned = db.session.get(CustomerProduct, product_id) if product_id is not None else None
    if owned is None or owned.customer_id != customer.id:
        return {
            "product_name": context.get("product_name", ""),
            "amount": context.get("amount", ""),
            "purchase_date": "",
        }
    amount = context.get("amount") or format_currency(
        owned.product.price_cents / 100, CURRENCY, locale=language
    )
    return {
        "product_name": owned.product.name,
        "amount": amount,
        "purchase_date": format_date(owned.created_at, format="long", locale=language),
    }


def _group_name(context: dict) -> str:
    if context.get("group_name"):
        return context["group_name"]
    if context.get("group_id") is not None:
        group = db.session.get(CustomerGroup, context["group_id"])
        return group.name if group else ""
    return ""


SAMPLE = {
    "en": {
        "first_name": "Anna",
        "last_name": "Muster",
        "class_name": "Vinyasa Yoga",
        "noteToCustomers": "Our teacher Lena is ill. Get well soon, Lena!",
        "welcomeMessage": "Please bring a mat and arrive ten minutes early.",
        "product_name": "10-class pass",
        "group_name": "Newsletter",
        "children": ("Mia Muster", "Leo Muster"),
    },
    "de": {
        "first_name": "Anna",
        "last_name": "Muster",
        "class_name": "Vinyasa Yoga",
        "noteToCustomers": "Unsere Lehrerin Lena ist krank. Gute Besserung, Lena!",
        "welcomeMessage": "Bitte bringen Sie eine Matte mit und kommen Sie zehn Minuten früher.",
        "product_name": "10er-Karte",
        "group_name": "Newsletter",
        "children": ("Mia Muster", "Leo Muster"),
    },
}


def sample_values(event_key: str, language: str) -> dict[str, str]:
    """Believable values for the preview and the test email, for the event's variables only."""
    event = EVENTS[event_key]
    settings = BusinessSettings.get()
    sample = SAMPLE.get(language, SAMPLE["en"])
    starts = datetime(2030, 3, 12, 18, 0)
    children = sample["children"]
    values = {key: value for key, value in sample.items() if isinstance(value, str)} | {
        "business_name": settings.name,
        "business_address": settings.address,
        "session_date": format_date(starts, format="full", locale=language),
        "session_time": format_time(starts, format="short", locale=language),
        "location_name": "Studio 1",
        "students": _join(children, language),
        "students_first_names": _join((name.split()[0] for name in children), language),
        "refundNotice": refund_notice(PaymentMethod.PACKAGE, language, settings.name),
        "numberOfMinutesToRespond": str(settings.waitlist_minutes_to_respond),
        "url": current_app.config["PUBLIC_BASE_URL"] + "/",
        "amount": format_currency(120, CURRENCY, locale=language),
        "purchase_date": format_date(date(2030, 3, 1), format="long", locale=language),
    }
    return {name: values.get(name, "") for name in event.variables}


# --- Sending ---------------------------------------------------------------------------------


def send_transactional(event_key: str, customer_id: int, **context) -> list[outbox.SendResult]:
    """Send the event's email (and its SMS, when it has one and SMS is on) to one customer, through the outbox.

    :raise KeyError: unknown event.
    :raise LookupError: no such customer.
    :raise outbox.SendRefused: the email cannot be sent (a required link is missing or unsafe).
    """
    event = EVENTS[event_key]
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        raise LookupError(f"no customer with id {customer_id}")
    if "url" in event.required and not context.get("url"):
        raise outbox.SendRefused(f"The {event_key} email needs the link to send (url=...).")
    language = template_language(customer)
    template = template_for(event_key, language)
    values = send_values(event_key, customer, language, context)
    blocks = fill_blocks(template.blocks or [], values)
    location_id = customer.home_location_id
    if context.get("session_id") is not None:
        session = db.session.get(CourseSession, context["session_id"])
        location_id = session.location_id if session else location_id
    common = {
        "category": Category.TRANSACTIONAL,
        "origin": f"transactional:{event_key}",
        "location_id": location_id,
        "description": event_key,
    }
    results = [
        outbox.send(
            outbox.MessageSpec(
                channel=Channel.EMAIL,
                subject=fill_variables(template.subject, values),
                body_html=blocks_to_rich_text(blocks),
                blocks=blocks,
                **common,
            ),
            [customer.id],
        )
    ]
    settings = BusinessSettings.get()
    if template.sms_text.strip() and settings.sms_enabled and customer.mobile:
        try:
            results.append(
                outbox.send(
                    outbox.MessageSpec(
                        channel=Channel.SMS,
                        sms_text=fill_variables(template.sms_text, values).strip(),
                        **common,
                    ),
                    [customer.id],
                )
            )
        except outbox.SendRefused as exc:
            # The email is already on its way; a too-long SMS must not undo it.
            log.warning("%s SMS to customer %s not sent: %s", event_key, customer.id, exc)
    return results
