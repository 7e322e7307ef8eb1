"""Demo data: a studio with locations, staff, customers and a year of courses and bookings, reproducible from a seed."""

import bisect
import itertools
import math
import random
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import click
from sqlalchemy import func, insert, select
from werkzeug.security import generate_password_hash

from commsapp.extensions import db
from commsapp.models import (
    Booking,
    BookingStatus,
    BusinessSettings,
    ClassTemplate,
    ClassType,
    ClassTypeAttendance,
    Course,
    CourseAttendance,
    Customer,
    CustomerAttendance,
    Location,
    Product,
    ProductKind,
    RecurringSeries,
    Role,
    StaffUser,
    Tag,
)
from commsapp.services.bulk_insert import BulkLoader, timestamp
from commsapp.services.customers import refill_search_index

ADMIN_EMAIL = "admin@demo.studio"
BOOKINGS_PER_CUSTOMER = 20
WEEKS_BACK, WEEKS_AHEAD = 39, 13
# Courses grow with the customer count so that sessions stay about half full on average.
SEAT_UTILISATION = 0.55
CUSTOMER_CHUNK = 2_000

# Written in this order, parents before the rows that point to them.
BULK_TABLES = (
    "course_sessions",
    "customers",
    "customer_tags",
    "participants",
    "customer_products",
    "bookings",
    "booking_participants",
    "waitlist_entries",
)
CHUNK_TABLES = BULK_TABLES[1:-1]
SEQUENCE_TABLES = (
    "course_sessions",
    "customers",
    "participants",
    "customer_products",
    "bookings",
    "waitlist_entries",
)
COLUMNS = {
    "course_sessions": (
        "id",
        "course_id",
        "location_id",
        "starts_at",
        "ends_at",
        "capacity",
        "cancelled",
        "cancellation_note",
        "welcome_message",
    ),
    "customers": (
        "id",
        "first_name",
        "last_name",
        "email",
        "mobile",
        "language",
        "home_location_id",
        "portal_access",
        "notes",
        "created_at",
    ),
    "customer_tags": ("customer_id", "tag_id"),
    "participants": ("id", "customer_id", "first_name", "last_name", "birth_date"),
    "customer_products": (
        "id",
        "customer_id",
        "product_id",
        "starts_on",
        "ends_on",
        "credits_total",
        "credits_left",
        "status",
        "auto_renew",
        "created_at",
    ),
    "bookings": (
        "id",
        "customer_id",
        "session_id",
        "course_id",
        "starts_at",
        "status",
        "paid_with",
        "customer_product_id",
        "created_at",
        "cancelled_at",
    ),
    "booking_participants": ("booking_id", "participant_id"),
    "waitlist_entries": (
        "id",
        "session_id",
        "customer_id",
        "position",
        "status",
        "created_at",
        "offered_at",
        "expires_at",
    ),
}

FIRST_NAMES = {
    "de": (
        "Anna", "Lena", "Lea", "Sophie", "Marie", "Hannah", "Katharina", "Julia", "Laura",
        "Sarah", "Sabine", "Ursula", "Käthe", "Bärbel", "Mirjam", "Corinne", "Flurina",
        "Seraina", "Heidi", "Nicole", "Mia", "Emma", "Leonie", "Emilia", "Dörte", "Jürgen",
        "Jörg", "Björn", "Jörn", "Lukas", "Jonas", "Felix", "Maximilian", "Tobias", "Sebastian",
        "Michael", "Thomas", "Stefan", "Andreas", "Matthias", "Daniel", "Günter", "Reto", "Urs",
        "Beat", "Ueli", "Ruedi", "Linus", "Noah", "Elias",
    ),
    "fr": (
        "Françoise", "Amélie", "Chloé", "Léa", "Élodie", "Hélène", "Céline", "Mathilde",
        "Camille", "Manon", "Océane", "Noémie", "Inès", "Zoé", "Agnès", "Cécile", "Thérèse",
        "Anaïs", "Maëlle", "Gaëlle", "Joël", "Jérôme", "Stéphane", "Benoît", "François", "Loïc",
        "Théo", "Hugo", "Louis", "Nicolas", "Julien", "Mathieu", "Étienne", "Raphaël",
        "Aurélien", "Sébastien", "Clément", "Timothée", "André", "René",
    ),
    "it": (
        "Giulia", "Chiara", "Francesca", "Federica", "Alessandra", "Martina", "Sofia", "Aurora",
        "Ginevra", "Beatrice", "Lucia", "Elena", "Valentina", "Ilaria", "Noemi", "Raffaella",
        "Carlotta", "Benedetta", "Michela", "Niccolò", "Nicolò", "Marco", "Matteo", "Lorenzo",
        "Andrea", "Luca", "Giovanni", "Alessandro", "Davide", "Gabriele", "Riccardo", "Tommaso",
        "Edoardo", "Leonardo", "Mattia", "Pietro", "Emanuele", "Salvatore", "Gianluca", "Fabrizio",
    ),
    "en": (
        "Olivia", "Amelia", "Isla", "Ava", "Emily", "Grace", "Charlotte", "Sophie", "Chloe",
        "Emma", "Jessica", "Hannah", "Megan", "Lucy", "Zoë", "Siobhán", "Niamh", "Aoife",
        "Jack", "Oliver", "Harry", "George", "Charlie", "James", "William", "Thomas", "Oscar",
        "Henry", "Daniel", "Matthew", "Ryan", "Liam", "Ethan", "Seán", "Noah", "Samuel",
    ),
}  # fmt: skip
LAST_NAMES = {
    "de": (
        "Müller", "Jäger", "Schäfer", "Böhm", "Weiß", "Krüger", "Hoffmann", "Schmid", "Keller",
        "Brunner", "Meier", "Huber", "Baumgartner", "Zürcher", "Frei", "Gerber", "Koch",
        "Wagner", "Becker", "Schulz", "Fischer", "Weber", "Schneider", "Bauer", "Wolf",
        "Neumann", "Schwarz", "Zimmermann", "Braun", "Hartmann", "Lange", "Werner", "Köhler",
        "Lehmann", "Günther", "Vogel", "Graf", "Steiner", "Moser", "Egli", "Lüthi", "Sutter",
        "Bühler", "Kälin", "Roth", "Frey", "Schüpbach", "Ammann", "von Arx", "Straub",
    ),
    "fr": (
        "Dubois", "Lefèvre", "Moreau", "Girard", "Fournier", "Rousseau", "Mercier", "Blanc",
        "Garnier", "Chevalier", "Gauthier", "Perrin", "Roussel", "Faure", "Lemaître", "Brûlé",
        "Géraud", "Lambert", "Bonnet", "Dupont", "Laurent", "Martin", "Bernard", "Petit",
        "Durand", "Leroy", "Roux", "Morel", "Fontaine", "Chauvin", "Ménard", "Bérard",
        "Rivière", "Lévêque", "Thévenin", "Delacroix", "Benoît", "Lefebvre", "Le Gall", "Béguin",
    ),
    "it": (
        "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
        "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano",
        "Rizzo", "Lombardi", "Moretti", "Barbieri", "Fontana", "Santoro", "Mariani", "Rinaldi",
        "Caruso", "Ferrara", "Galli", "Martini", "Leone", "Longo", "Gentile", "Vitale", "Serra",
        "Coppola", "De Santis", "D'Angelo", "Marchetti", "Cantù", "Della Torre",
    ),
    "en": (
        "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
        "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
        "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood",
        "Turner", "Cooper", "Hill", "Ward", "Morris", "Moore", "King", "Baker", "Morgan",
        "O'Brien", "O'Connor", "McCarthy",
    ),
}  # fmt: skip
# Reserved under RFC 2606, so demo data can never mail a real person.
EMAIL_DOMAINS = (
    "gmx.example",
    "web.example",
    "gmail.example",
    "bluewin.example",
    "libero.example",
    "orange.example",
    "outlook.example",
    "icloud.example",
)
TRANSLITERATION = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


@dataclass(frozen=True)
class LocationPlan:
    name: str
    slug: str
    time_zone: str
    address: str
    region: str
    share: float
    # Weights of the name origins in ORIGINS order: who lives near this studio.
    origin_weights: tuple[float, ...]


LOCATIONS = (
    LocationPlan(
        "Berlin Mitte",
        "berlin",
        "Europe/Berlin",
        "Torstraße 101, 10119 Berlin",
        "DE",
        0.45,
        (0.7, 0.07, 0.08, 0.15),
    ),
    LocationPlan(
        "Zürich Kreis 4",
        "zuerich",
        "Europe/Zurich",
        "Langstrasse 120, 8004 Zürich",
        "CH",
        0.35,
        (0.6, 0.2, 0.1, 0.1),
    ),
    LocationPlan(
        "Milano Navigli",
        "milano",
        "Europe/Rome",
        "Ripa di Porta Ticinese 55, 20143 Milano",
        "IT",
        0.20,
        (0.05, 0.1, 0.75, 0.1),
    ),
)
ORIGINS = ("de", "fr", "it", "en")
SHARES = tuple(plan.share for plan in LOCATIONS)
HOME_REGION = {"de": "DE", "fr": "FR", "it": "IT", "en": "GB"}
# (prefix, digits that follow): ranges the numbering plans give to mobile networks.
MOBILE_RANGES = {
    "DE": (
        *((f"+4915{d}", 8) for d in "1279"),
        *((f"+4916{d}", 7) for d in "023"),
        *((f"+4917{d}", 7) for d in "0123456789"),
    ),
    "CH": tuple((f"+417{d}", 7) for d in "56789"),
    "FR": (*((f"+336{d}", 7) for d in "01245678"), *((f"+337{d}", 7) for d in "345678")),
    "IT": tuple((f"+393{d}", 8) for d in "123456789"),
    "GB": tuple((f"+447{d}", 8) for d in "458"),
}


@dataclass(frozen=True)
class KindPlan:
    name: str
    for_children: bool
    minutes: int
    capacity: tuple[int, int]
    variants: tuple[str, ...]
    welcome: str


CLASS_KINDS = (
    KindPlan(
        "Yoga",
        False,
        75,
        (12, 20),
        ("Vinyasa Flow", "Hatha Basics", "Yin Yoga", "Power Yoga"),
        "Willkommen auf der Matte! Komm 10 Minuten früher, Matten und Blöcke liegen bereit.",
    ),
    KindPlan(
        "Pilates",
        False,
        60,
        (10, 16),
        ("Matte", "Rücken fit", "Reformer Einsteiger"),
        "Schön, dass du dabei bist. Bitte bring Socken mit rutschfester Sohle mit.",
    ),
    KindPlan(
        "Ballett",
        False,
        90,
        (10, 18),
        ("Erwachsene Einsteiger", "Mittelstufe"),
        "Bienvenue! Trainingskleidung und Schläppchen genügen, die Stange wartet auf dich.",
    ),
    KindPlan(
        "Hip-Hop",
        False,
        60,
        (12, 20),
        ("Teens", "Open Level", "Choreo"),
        "Yo! Bequeme Sneakers, Wasser und gute Laune mitbringen.",
    ),
    KindPlan(
        "Zeitgenössischer Tanz",
        False,
        90,
        (10, 16),
        ("Contemporary", "Improvisation"),
        "Wir tanzen barfuß; zieh etwas an, in dem du dich frei bewegen kannst.",
    ),
    KindPlan(
        "Klavier",
        False,
        60,
        (8, 10),
        ("Gruppe Einsteiger", "Gruppe Fortgeschrittene"),
        "Herzlich willkommen am Klavier. Noten bekommst du in der ersten Stunde.",
    ),
    KindPlan(
        "Schwimmen Kinder",
        True,
        45,
        (8, 12),
        ("Seepferdchen", "Bronze", "Wassergewöhnung"),
        "Liebe Eltern, bitte seid 15 Minuten vor Beginn da; Badekappe nicht vergessen.",
    ),
    KindPlan(
        "Kinderballett",
        True,
        45,
        (8, 14),
        ("Minis 4–6", "Kids 7–10"),
        "Liebe Eltern, Umziehen ist ab 10 Minuten vorher möglich, Zuschauen am letzten Termin.",
    ),
)
ADULT_TIMES = ((7, 0), (9, 0), (12, 15), (17, 30), (18, 0), (19, 0), (19, 30), (20, 15))
CHILD_TIMES = ((15, 0), (15, 45), (16, 30), (17, 0))
WEEKDAYS = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")
RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.25)
SERIES = (
    ("Montagabend", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=18;BYMINUTE=0"),
    ("Dienstag früh", "FREQ=WEEKLY;BYDAY=TU;BYHOUR=7;BYMINUTE=0"),
    ("Mittwochmittag", "FREQ=WEEKLY;BYDAY=WE;BYHOUR=12;BYMINUTE=15"),
    ("Donnerstagabend", "FREQ=WEEKLY;BYDAY=TH;BYHOUR=19;BYMINUTE=30"),
    ("Samstagmorgen", "FREQ=WEEKLY;BYDAY=SA;BYHOUR=9;BYMINUTE=0"),
)
CANCELLATION_NOTES = (
    "Die Lehrerin ist krank, wir holen den Termin nach.",
    "Feiertag: das Studio bleibt geschlossen.",
    "Wasserschaden im Saal, bitte entschuldigt.",
    "Das Hallenbad ist wegen Revision geschlossen.",
    "Zu wenige Anmeldungen für diesen Termin.",
)
TAGS = (
    "Newsletter",
    "VIP",
    "Neukunde",
    "Eltern",
    "Probestunde",
    "Stammkunde",
    "Mitglied",
    "Zehnerkarte",
    "Workshop-Interesse",
    "Firmenkunde",
    "Studierende",
    "Senioren",
    "Ausbildung",
    "Rabatt 10%",
    "Inaktiv",
)
# Tags handed out by chance rather than by a rule.
RANDOM_TAGS = (
    ("Workshop-Interesse", 0.08),
    ("Firmenkunde", 0.04),
    ("Studierende", 0.07),
    ("Senioren", 0.05),
    ("Ausbildung", 0.02),
    ("Rabatt 10%", 0.04),
)


@dataclass(frozen=True)
class ProductPlan:
    name: str
    kind: ProductKind
    price_cents: int
    credits: int | None
    duration_days: int
    auto_renew: bool


PRODUCTS = (
    ProductPlan("Mitgliedschaft monatlich", ProductKind.MEMBERSHIP, 8900, None, 30, True),
    ProductPlan("Jahresmitgliedschaft", ProductKind.MEMBERSHIP, 89000, None, 365, False),
    ProductPlan("5er-Karte", ProductKind.CREDIT_PACKAGE, 9500, 5, 90, False),
    ProductPlan("10er-Karte", ProductKind.CREDIT_PACKAGE, 17000, 10, 180, False),
    ProductPlan("20er-Karte", ProductKind.CREDIT_PACKAGE, 30000, 20, 365, False),
    ProductPlan("Kurs-Abo monatlich", ProductKind.COURSE_SUBSCRIPTION, 6500, None, 30, True),
    ProductPlan("Kinderkurs-Abo Quartal", ProductKind.COURSE_SUBSCRIPTION, 15000, None, 90, False),
)
MONTHLY, YEARLY, FIVE, TEN, TWENTY, COURSE_ABO, CHILD_ABO = range(len(PRODUCTS))


class NotEmptyError(RuntimeError):
    """The database already holds a studio; demo data only goes into an empty one."""


@dataclass
class _CoursePlan:
    """What the generator needs to know about a course while it books its sessions."""

    row: Course
    kind: KindPlan
    location_index: int
    capacity: int
    weekday: int
    hour: int
    minute: int
    welcome: str
    # A few classes are everyone's favourite and fill up; most stay half empty.
    popularity: int
    # Copied from the row after the flush: ORM attribute access is too slow for the inner loop.
    id: int = 0
    is_subscription: bool = False
    sessions: range = range(0)


@dataclass
class _Holding:
    """A customer product while its bookings are paid: credits go down as bookings use them."""

    id: int
    plan: int
    starts_on: date
    ends_on: date
    status: str
    covers_until: date
    credits_left: int | None = None


@dataclass
class _Studio:
    """The small tables (written through the ORM) and, per session index (id - 1), what booking needs."""

    location_ids: list[int]
    tag_ids: dict[str, int]
    product_ids: list[int]
    courses: list[_CoursePlan]
    staff_count: int
    session_course: list[int] = field(default_factory=list)
    session_start: list[datetime] = field(default_factory=list)
    session_start_text: list[str] = field(default_factory=list)
    session_past: list[bool] = field(default_factory=list)
    session_cancelled: list[bool] = field(default_factory=list)
    seats_left: list[int] = field(default_factory=list)


def seed(customer_count: int, seed: int, admin_password: str, progress: bool) -> str:
    """Fill an empty database with a demo studio and return a one-paragraph summary."""
    started = time.perf_counter()
    _ensure_empty()
    generator = _Generator(random.Random(seed), date.today())
    try:
        studio = generator.create_studio(customer_count, admin_password)
        with BulkLoader(db.session.connection()) as loader:
            rebuild = loader.drop_indexes_and_foreign_keys(BULK_TABLES)
            # The triggers on bookings (and on the per-course summary they write) keep the
            # attendance summaries; they are filled at the end.
            attendance_triggers = loader.drop_triggers("bookings")
            attendance_triggers += loader.drop_triggers("course_attendance")
            # and on SQLite those on customers keep the search index: refilled at the end.
            search_triggers = loader.drop_triggers("customers")
            with _phase(progress, "Course sessions"):
                sessions = generator.sessions(studio)
                loader.insert("course_sessions", COLUMNS["course_sessions"], sessions)
            with _phase(progress, "Customers and bookings"):
                counts = generator.write_people(loader, studio, customer_count, progress)
            with _phase(progress, "Indexes, foreign keys and attendance summaries"):
                loader.execute_all(rebuild)
                _fill_attendance()
                loader.execute_all(attendance_triggers)
                refill_search_index()
                loader.execute_all(search_triggers)
            loader.reset_sequences(SEQUENCE_TABLES)
        with _phase(progress, "Commit"):
            db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    with _phase(progress, "Planner statistics"):
        BulkLoader(db.session.connection()).analyze()
        db.session.commit()
    elapsed = time.perf_counter() - started
    return (
        f"Seeded the demo studio 'Studio Lotus' (seed {seed}) in {elapsed:.1f} s: "
        f"{len(LOCATIONS)} locations, {studio.staff_count} staff accounts "
        f"(sign in as {ADMIN_EMAIL}), {counts['customers']:,} customers with "
        f"{counts['participants']:,} participants, {len(studio.courses):,} courses with "
        f"{len(studio.session_start):,} sessions, {counts['bookings']:,} bookings, "
        f"{counts['customer_products']:,} customer products, "
        f"{counts['waitlist_entries']:,} waitlist entries and {len(TAGS)} tags."
    )


def _fill_attendance() -> None:
    """What the attendance triggers would have written: visits per course, customer, class type."""
    per_course = (
        select(
            Booking.customer_id,
            Booking.course_id,
            func.count(),
            func.min(Booking.starts_at),
            func.max(Booking.starts_at),
        )
        .where(Booking.status == BookingStatus.ATTENDED)
        .group_by(Booking.customer_id, Booking.course_id)
    )
    per_customer = select(
        CourseAttendance.customer_id,
        func.sum(CourseAttendance.visits),
        func.min(CourseAttendance.first_visit_at),
        func.max(CourseAttendance.last_visit_at),
    ).group_by(CourseAttendance.customer_id)
    per_class_type = (
        select(
            CourseAttendance.customer_id,
            Course.class_type_id,
            func.sum(CourseAttendance.visits),
            func.min(CourseAttendance.first_visit_at),
            func.max(CourseAttendance.last_visit_at),
        )
        .join(Course, Course.id == CourseAttendance.course_id)
        .group_by(CourseAttendance.customer_id, Course.class_type_id)
    )
    summary = ["visits", "first_visit_at", "last_visit_at"]
    db.session.execute(
        insert(CourseAttendance).from_select(["customer_id", "course_id", *summary], per_course)
    )
    db.session.execute(
        insert(CustomerAttendance).from_select(["customer_id", *summary], per_customer)
    )
    db.session.execute(
        insert(ClassTypeAttendance).from_select(
            ["customer_id", "class_type_id", *summary], per_class_type
        )
    )


def _ensure_empty() -> None:
    customers = db.session.scalar(select(func.count()).select_from(Customer))
    staff = db.session.scalar(select(func.count()).select_from(StaffUser))
    others = [
        model.__tablename__
        for model in (Location, Tag, ClassType, Course, Product)
        if db.session.scalar(select(func.count()).select_from(model))
    ]
    if customers or staff or others:
        extra = f" and rows in {', '.join(others)}" if others else ""
        raise NotEmptyError(
            f"The database already has {_counted(customers, 'customer')} and "
            f"{_counted(staff, 'staff account')}{extra}; "
            "demo data only goes into an empty database, so use a new one (another DATABASE_URL, "
            "or another COMMSAPP_INSTANCE_DIR for SQLite)."
        )


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@contextmanager
def _phase(progress: bool, label: str) -> Iterator[None]:
    started = time.perf_counter()
    _echo(progress, f"{label} ...")
    yield
    _echo(progress, f"{label}: {time.perf_counter() - started:.1f} s")


def _echo(progress: bool, line: str) -> None:
    if progress:
        click.echo(line)


def _ascii(name: str) -> str:
    """The name as an email local part: umlauts spelled out, accents, spaces and apostrophes dropped."""
    spelled = name.lower().translate(TRANSLITERATION)
    plain = unicodedata.normalize("NFKD", spelled).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain if ch.isalnum())


class _Generator:
    """Everything random comes from `rng` and every date from `today`, so a seed repeats exactly."""

    def __init__(self, rng: random.Random, today: date) -> None:
        self.rng = rng
        self.today = today
        # Sessions before this instant count as past; midnight keeps it the same all day.
        self.now = datetime.combine(today, clock())
        self.emails: set[str] = set()
        self.local_parts: dict[str, str] = {}
        self.ids = {table: itertools.count(1) for table in SEQUENCE_TABLES}
        self.pickers: dict[tuple[int | None, bool], tuple[list[int], list[int]]] = {}

    # The studio: small tables through the ORM.

    def create_studio(self, customer_count: int, admin_password: str) -> _Studio:
        settings = BusinessSettings.get()
        settings.name = "Studio Lotus"
        settings.address = LOCATIONS[0].address
        settings.contact_email = "hallo@demo.studio"
        settings.default_region = "DE"
        settings.default_language = "de"
        settings.time_zone = "Europe/Berlin"
        locations = [
            Location(name=plan.name, time_zone=plan.time_zone, address=plan.address)
            for plan in LOCATIONS
        ]
        tags = [Tag(name=name) for name in TAGS]
        products = [
            Product(
                name=plan.name,
                kind=plan.kind,
                price_cents=plan.price_cents,
                credits=plan.credits,
                duration_days=plan.duration_days,
                auto_renew=plan.auto_renew,
            )
            for plan in PRODUCTS
        ]
        series = [RecurringSeries(name=name, rule=rule) for name, rule in SERIES]
        kinds = [ClassType(name=kind.name) for kind in CLASS_KINDS]
        templates = {
            (kind.name, variant): ClassTemplate(
                name=f"{kind.name} {variant}", class_type=row, welcome_message=kind.welcome
            )
            for kind, row in zip(CLASS_KINDS, kinds, strict=True)
            for variant in kind.variants
        }
        db.session.add_all([*locations, *tags, *products, *series, *kinds, *templates.values()])
        db.session.flush()

        seats_per_course = (WEEKS_BACK + WEEKS_AHEAD) * 14 * SEAT_UTILISATION
        course_count = max(30, math.ceil(customer_count * BOOKINGS_PER_CUSTOMER / seats_per_course))
        staff = self._staff(locations, max(4, course_count // 10), admin_password)
        courses = self._courses(course_count, locations, kinds, templates, series, staff)
        db.session.add_all(course.row for course in courses)
        db.session.flush()
        for course in courses:
            course.id, course.is_subscription = course.row.id, course.row.is_subscription
        return _Studio(
            location_ids=[location.id for location in locations],
            tag_ids={tag.name: tag.id for tag in tags},
            product_ids=[product.id for product in products],
            courses=courses,
            staff_count=len(staff),
        )

    def _staff(
        self, locations: list[Location], teacher_count: int, password: str
    ) -> list[StaffUser]:
        """The admin, one front-desk account per location and the teachers, all with one password."""
        staff = [StaffUser(name="Demo Admin", email=ADMIN_EMAIL, role=Role.ADMIN, language="de")]
        for plan, location in zip(LOCATIONS, locations, strict=True):
            origin = "it" if plan.region == "IT" else "de"
            staff.append(
                StaffUser(
                    name=self._person_name(origin),
                    email=f"{plan.slug}@demo.studio",
                    role=Role.STAFF,
                    location_id=location.id,
                    language=origin,
                )
            )
        for number in range(teacher_count):
            staff.append(
                StaffUser(
                    name=self._person_name(self.rng.choice(ORIGINS)),
                    email=f"teacher{number + 1}@demo.studio",
                    role=Role.TEACHER,
                    location_id=locations[number % len(locations)].id,
                )
            )
        # One hash for every account: scrypt takes a noticeable moment per call.
        password_hash = generate_password_hash(password)
        for user in staff:
            user.password_hash = password_hash
        db.session.add_all(staff)
        db.session.flush()
        return staff

    def _person_name(self, origin: str) -> str:
        return f"{self.rng.choice(FIRST_NAMES[origin])} {self.rng.choice(LAST_NAMES[origin])}"

    def _courses(
        self,
        count: int,
        locations: list[Location],
        kinds: list[ClassType],
        templates: dict[tuple[str, str], ClassTemplate],
        series: list[RecurringSeries],
        staff: list[StaffUser],
    ) -> list[_CoursePlan]:
        rng = self.rng
        # Fewer children's courses than adult ones: only parents book them.
        kind_weights = [0.5 if kind.for_children else 1.0 for kind in CLASS_KINDS]
        teachers = {
            location.id: [
                u for u in staff if u.role == Role.TEACHER and u.location_id == location.id
            ]
            for location in locations
        }
        series_by_slot = {
            rule.split(";", 1)[1]: row for row, (_, rule) in zip(series, SERIES, strict=True)
        }
        courses = []
        for number in range(count):
            # The first courses cover every location and every kind, the rest are drawn.
            location_index = number % 3 if number < 3 else rng.choices(range(3), SHARES)[0]
            if number < len(CLASS_KINDS):
                kind_index = number
            else:
                kind_index = rng.choices(range(len(CLASS_KINDS)), kind_weights)[0]
            kind = CLASS_KINDS[kind_index]
            variant = rng.choice(kind.variants)
            weekday = rng.choices(range(7), WEEKDAY_WEIGHTS)[0]
            hour, minute = rng.choice(CHILD_TIMES if kind.for_children else ADULT_TIMES)
            location = locations[location_index]
            template = templates[(kind.name, variant)]
            slot = f"BYDAY={RRULE_DAYS[weekday]};BYHOUR={hour};BYMINUTE={minute}"
            subscription_share = 0.6 if kind.for_children or kind.name == "Klavier" else 0.1
            row = Course(
                name=f"{kind.name} {variant} – {WEEKDAYS[weekday]} {hour:02d}:{minute:02d}",
                description=f"{variant}, jede Woche {kind.minutes} Minuten.",
                class_type_id=kinds[kind_index].id,
                class_template_id=template.id if rng.random() < 0.8 else None,
                series_id=series_by_slot[slot].id if slot in series_by_slot else None,
                location_id=location.id,
                teacher_id=rng.choice(teachers[location.id]).id,
                is_subscription=rng.random() < subscription_share,
            )
            courses.append(
                _CoursePlan(
                    row=row,
                    kind=kind,
                    location_index=location_index,
                    capacity=rng.randint(*kind.capacity),
                    weekday=weekday,
                    hour=hour,
                    minute=minute,
                    welcome=template.welcome_message,
                    popularity=rng.choices((1, 2, 4), (0.6, 0.3, 0.1))[0],
                )
            )
        return courses

    # Sessions: every course weekly, from WEEKS_BACK before this week to WEEKS_AHEAD after it.

    def sessions(self, studio: _Studio) -> Iterator[tuple]:
        rng = self.rng
        first_monday = self.today - timedelta(days=self.today.weekday(), weeks=WEEKS_BACK)
        for course_index, course in enumerate(studio.courses):
            zone = ZoneInfo(LOCATIONS[course.location_index].time_zone)
            duration = timedelta(minutes=course.kind.minutes)
            location_id = studio.location_ids[course.location_index]
            first = len(studio.session_start)
            for week in range(WEEKS_BACK + WEEKS_AHEAD):
                day = first_monday + timedelta(weeks=week, days=course.weekday)
                local = datetime.combine(day, clock(course.hour, course.minute), tzinfo=zone)
                starts_at = local.astimezone(UTC).replace(tzinfo=None)
                starts_text = timestamp(starts_at)
                cancelled = rng.random() < 0.02
                studio.session_course.append(course_index)
                studio.session_start.append(starts_at)
                studio.session_start_text.append(starts_text)
                studio.session_past.append(starts_at < self.now)
                studio.session_cancelled.append(cancelled)
                studio.seats_left.append(course.capacity)
                yield (
                    len(studio.session_start),
                    course.id,
                    location_id,
                    starts_text,
                    timestamp(starts_at + duration),
                    course.capacity,
                    cancelled,
                    rng.choice(CANCELLATION_NOTES) if cancelled else "",
                    course.welcome if week == 0 else "",
                )
            course.sessions = range(first, len(studio.session_start))

    # Customers and everything that hangs off them, written chunk by chunk.

    def write_people(
        self, loader: BulkLoader, studio: _Studio, customer_count: int, progress: bool
    ) -> dict[str, int]:
        self._build_pickers(studio)
        counts = dict.fromkeys(BULK_TABLES, 0)
        waitlist: list[tuple] = []
        positions: dict[int, int] = {}
        bar = click.progressbar(length=customer_count, label=f"{customer_count:,} customers")
        with bar if progress else nullcontext():
            done = 0
            while done < customer_count:
                size = min(CUSTOMER_CHUNK, customer_count - done)
                rows: dict[str, list[tuple]] = {table: [] for table in CHUNK_TABLES}
                for _ in range(size):
                    self._customer(studio, rows, waitlist, positions)
                for table in CHUNK_TABLES:
                    counts[table] += loader.insert(table, COLUMNS[table], rows[table])
                done += size
                if progress:
                    bar.update(size)
        counts["waitlist_entries"] = loader.insert(
            "waitlist_entries", COLUMNS["waitlist_entries"], waitlist
        )
        return counts

    def _build_pickers(self, studio: _Studio) -> None:
        """Per (location index, or None for any; children's course or not): courses, cumulative weights."""
        for location_index in (None, 0, 1, 2):
            for children in (False, True):
                chosen = [
                    i
                    for i, course in enumerate(studio.courses)
                    if course.kind.for_children == children
                    and location_index in (None, course.location_index)
                ]
                if chosen:
                    weights = itertools.accumulate(studio.courses[i].popularity for i in chosen)
                    self.pickers[(location_index, children)] = (chosen, list(weights))

    def _courses_near(
        self, location_index: int | None, children: bool
    ) -> tuple[list[int], list[int]]:
        """Course indexes at that location (any when it has none of that sort), cumulative weights."""
        return self.pickers.get((location_index, children)) or self.pickers[(None, children)]

    def _pick_course(self, location_index: int | None, children: bool) -> int:
        courses, cumulative = self._courses_near(location_index, children)
        position = bisect.bisect_right(cumulative, self.rng.random() * cumulative[-1])
        return courses[min(position, len(courses) - 1)]

    def _customer(
        self,
        studio: _Studio,
        rows: dict[str, list[tuple]],
        waitlist: list[tuple],
        positions: dict[int, int],
    ) -> None:
        rng = self.rng
        customer_id = next(self.ids["customers"])
        location_index = None if rng.random() < 0.05 else rng.choices(range(3), SHARES)[0]
        plan = LOCATIONS[location_index or 0]
        origin = rng.choices(ORIGINS, plan.origin_weights)[0]
        first_name = rng.choice(FIRST_NAMES[origin])
        last_name = rng.choice(LAST_NAMES[origin])
        email = None if rng.random() < 0.08 else self._email(first_name, last_name)
        region = HOME_REGION[origin] if rng.random() < 0.25 else plan.region
        # Everyone can be reached somehow: without an email there is always a mobile.
        mobile = self._mobile(region) if email is None or rng.random() >= 0.27 else None

        children = []
        if rng.random() < 0.12:
            for _ in range(rng.choices((1, 2, 3), (0.5, 0.35, 0.15))[0]):
                child_id = next(self.ids["participants"])
                birth_date = self.today - timedelta(days=rng.randint(4 * 365, 14 * 365))
                rows["participants"].append(
                    (
                        child_id,
                        customer_id,
                        rng.choice(FIRST_NAMES[origin]),
                        last_name,
                        birth_date.isoformat(),
                    )
                )
                children.append(child_id)

        picks = self._book_sessions(
            studio, location_index, bool(children), customer_id, waitlist, positions
        )
        picks.sort(key=studio.session_start.__getitem__)
        holdings = self._holdings(studio, picks)
        earliest = self._bookings(studio, customer_id, picks, holdings, children, rows)

        created_at = earliest - timedelta(days=rng.randint(0, 400), seconds=rng.randint(0, 86399))
        rows["customers"].append(
            (
                customer_id,
                first_name,
                last_name,
                email,
                mobile,
                origin,
                studio.location_ids[location_index] if location_index is not None else None,
                email is not None and rng.random() < 0.3,
                "",
                timestamp(created_at),
            )
        )
        for holding in holdings:
            product = PRODUCTS[holding.plan]
            rows["customer_products"].append(
                (
                    holding.id,
                    customer_id,
                    studio.product_ids[holding.plan],
                    holding.starts_on.isoformat(),
                    holding.ends_on.isoformat(),
                    product.credits,
                    holding.credits_left,
                    "expired" if holding.credits_left == 0 else holding.status,
                    product.auto_renew,
                    timestamp(datetime.combine(holding.starts_on, clock(9, 30))),
                )
            )
        tags = self._tags(studio, email, picks, holdings, children, created_at)
        rows["customer_tags"].extend((customer_id, studio.tag_ids[name]) for name in tags)

    def _book_sessions(
        self,
        studio: _Studio,
        location_index: int | None,
        is_parent: bool,
        customer_id: int,
        waitlist: list[tuple],
        positions: dict[int, int],
    ) -> list[int]:
        """Session indexes the customer got a place in: runs of weeks in one to three favourite courses."""
        rng = self.rng
        random_ = rng.random
        # Exponential: many customers book a few times, some book every week.
        wanted = min(int(rng.expovariate(1 / (BOOKINGS_PER_CUSTOMER + 0.5))), 150)
        favourites = 1 if wanted <= 30 else 2 if wanted <= 70 else 3
        seats_left, past, cancelled = (
            studio.seats_left,
            studio.session_past,
            studio.session_cancelled,
        )
        picks: list[int] = []
        taken: set[int] = set()
        for number in range(favourites if wanted else 0):
            share = wanted // favourites + (number < wanted % favourites)
            home = location_index if random_() < 0.9 else None
            children = is_parent and (number == 0 or random_() < 0.3)
            sessions = studio.courses[self._pick_course(home, children)].sessions
            span = min(len(sessions), share + int(share * random_()) + 1)
            offset = int(random_() * (len(sessions) - span + 1))
            attends = share / span
            for week in range(offset, offset + span):
                index = sessions[week]
                if random_() >= attends or index in taken:
                    continue
                if not seats_left[index]:
                    taken.add(index)
                    if not past[index] and not cancelled[index] and positions.get(index, 0) < 8:
                        waitlist.append(self._waitlist_entry(index, customer_id, positions))
                    # The class is full: take another one at the same place that week instead.
                    other = rng.choice(self._courses_near(home, children)[0])
                    index = studio.courses[other].sessions[week]
                    if index in taken or not seats_left[index]:
                        continue
                seats_left[index] -= 1
                taken.add(index)
                picks.append(index)
        return picks

    def _waitlist_entry(self, index: int, customer_id: int, positions: dict[int, int]) -> tuple:
        position = positions[index] = positions.get(index, 0) + 1
        created_at = self.now - timedelta(minutes=self.rng.randint(60, 14 * 24 * 60))
        status, offered_at, expires_at = "waiting", None, None
        if position == 1 and self.rng.random() < 0.25:
            # Offered a place that freed up, but did not answer in time.
            status = "expired"
            offered = created_at + (self.now - created_at) * self.rng.random()
            offered_at, expires_at = timestamp(offered), timestamp(offered + timedelta(hours=2))
        return (
            next(self.ids["waitlist_entries"]),
            index + 1,
            customer_id,
            position,
            status,
            timestamp(created_at),
            offered_at,
            expires_at,
        )

    def _holdings(self, studio: _Studio, picks: list[int]) -> list[_Holding]:
        """About 40% of customers own a membership, a credit package or a course subscription."""
        rng = self.rng
        if rng.random() >= (0.48 if len(picks) >= 5 else 0.12):
            return []
        if picks:
            start = studio.session_start[picks[0]].date() - timedelta(days=rng.randint(0, 10))
        else:
            start = self.today - timedelta(days=rng.randint(0, 200))
        subscribed = next(
            (
                course
                for course in (studio.courses[studio.session_course[i]] for i in picks)
                if course.is_subscription
            ),
            None,
        )
        holdings = []
        if rng.random() < 0.2:
            # An older card, used up or run out before the current product.
            holdings.append(self._package(TEN, start - timedelta(days=rng.randint(20, 90))))
        if subscribed is not None and rng.random() < 0.6:
            plan = CHILD_ABO if subscribed.kind.for_children else COURSE_ABO
            holdings.append(self._period(plan, start))
        elif rng.random() < 0.35:
            holdings.append(self._period(MONTHLY if rng.random() < 0.65 else YEARLY, start))
        else:
            plan = rng.choices((FIVE, TEN, TWENTY), (0.35, 0.45, 0.2))[0]
            holdings.append(self._package(plan, start + timedelta(days=rng.randint(0, 30))))
        return holdings

    def _period(self, plan: int, starts_on: date) -> _Holding:
        """A membership or subscription: fixed term, or renewing each period until cancelled."""
        rng = self.rng
        product = PRODUCTS[plan]
        holding_id = next(self.ids["customer_products"])
        today = self.today
        if not product.auto_renew:
            ends_on = starts_on + timedelta(days=product.duration_days)
            status = "active" if ends_on >= today else "expired"
            return _Holding(holding_id, plan, starts_on, ends_on, status, ends_on)
        if starts_on >= today - timedelta(days=product.duration_days) or rng.random() < 0.75:
            # Renewing: paid to the end of the current period, and covering what is booked after.
            ends_on = today + timedelta(days=rng.randint(1, product.duration_days))
            status = "paused" if rng.random() < 0.04 else "active"
            return _Holding(holding_id, plan, starts_on, ends_on, status, date.max)
        periods = rng.randint(1, max(1, (today - starts_on).days // product.duration_days))
        ends_on = starts_on + timedelta(days=periods * product.duration_days)
        status = "cancelled" if rng.random() < 0.3 else "expired"
        return _Holding(holding_id, plan, starts_on, ends_on, status, ends_on)

    def _package(self, plan: int, starts_on: date) -> _Holding:
        product = PRODUCTS[plan]
        ends_on = starts_on + timedelta(days=product.duration_days)
        return _Holding(
            next(self.ids["customer_products"]),
            plan,
            starts_on,
            ends_on,
            "active" if ends_on >= self.today else "expired",
            ends_on,
            credits_left=product.credits,
        )

    def _bookings(
        self,
        studio: _Studio,
        customer_id: int,
        picks: list[int],
        holdings: list[_Holding],
        children: list[int],
        rows: dict[str, list[tuple]],
    ) -> datetime:
        """Append the customer's bookings (picks in date order) and return when the first was made."""
        rng = self.rng
        random_ = rng.random
        now = self.now
        ids = self.ids["bookings"]
        courses, session_course = studio.courses, studio.session_course
        append = rows["bookings"].append
        links = rows["booking_participants"]
        earliest = now
        for index in picks:
            course = courses[session_course[index]]
            starts_at = studio.session_start[index]
            created_at = starts_at - timedelta(minutes=int(random_() * 43200) + 60)
            if created_at > now:
                created_at = now - timedelta(minutes=int(random_() * 10080) + 1)
            if created_at < earliest:
                earliest = created_at
            cancelled_at = None
            chance = random_()
            if studio.session_cancelled[index]:
                status = "cancelled"
                cancelled_at = starts_at - timedelta(hours=int(random_() * 48) + 2)
                cancelled_at = min(max(cancelled_at, created_at), now)
            elif studio.session_past[index]:
                status = (
                    "attended" if chance < 0.86 else "no_show" if chance < 0.93 else "cancelled"
                )
            else:
                status = "booked" if chance < 0.94 else "cancelled"
            if status == "cancelled" and cancelled_at is None:
                cancelled_at = min(created_at + (starts_at - created_at) * random_(), now)
            if holdings:
                paid_with, holding_id = self._payment(
                    holdings, starts_at.date(), course.is_subscription, status != "cancelled"
                )
            else:
                paid_with, holding_id = "cash" if random_() < 0.75 else "credit", None
            booking_id = next(ids)
            append(
                (
                    booking_id,
                    customer_id,
                    index + 1,
                    course.id,
                    studio.session_start_text[index],
                    status,
                    paid_with,
                    holding_id,
                    timestamp(created_at),
                    timestamp(cancelled_at) if cancelled_at else None,
                )
            )
            if children and course.kind.for_children:
                kids = children if random_() < 0.3 else (rng.choice(children),)
                links.extend((booking_id, child) for child in kids)
        return earliest

    def _payment(
        self, holdings: list[_Holding], day: date, subscription_course: bool, uses_credit: bool
    ) -> tuple[str, int | None]:
        """How a booking on `day` is paid: the first product that covers it, else cash or credit."""
        for holding in holdings:
            if not holding.starts_on <= day <= holding.covers_until:
                continue
            kind = PRODUCTS[holding.plan].kind
            if kind is ProductKind.MEMBERSHIP:
                return "membership", holding.id
            if kind is ProductKind.COURSE_SUBSCRIPTION:
                if subscription_course:
                    return "subscription", holding.id
            elif holding.credits_left:
                if uses_credit:
                    holding.credits_left -= 1
                return "package", holding.id
        return ("cash", None) if self.rng.random() < 0.75 else ("credit", None)

    def _tags(
        self,
        studio: _Studio,
        email: str | None,
        picks: list[int],
        holdings: list[_Holding],
        children: list[int],
        created_at: datetime,
    ) -> list[str]:
        random_ = self.rng.random
        tags = []
        if email and random_() < 0.6:
            tags.append("Newsletter")
        if created_at >= self.now - timedelta(days=60):
            tags.append("Neukunde")
        if children:
            tags.append("Eltern")
        if 1 <= len(picks) <= 2 and random_() < 0.6:
            tags.append("Probestunde")
        if len(picks) >= 40:
            tags.append("Stammkunde")
        if len(picks) >= 80 or random_() < 0.02:
            tags.append("VIP")
        if any(h.plan in (MONTHLY, YEARLY) and h.status == "active" for h in holdings):
            tags.append("Mitglied")
        if any(h.plan == TEN for h in holdings):
            tags.append("Zehnerkarte")
        if picks and studio.session_start[picks[-1]] < self.now - timedelta(days=120):
            tags.append("Inaktiv")
        tags.extend(name for name, share in RANDOM_TAGS if random_() < share)
        return tags

    def _email(self, first_name: str, last_name: str) -> str:
        """A unique lowercase address made from the name, numbered when the plain one is taken."""
        rng = self.rng
        first, last = self._local_part(first_name), self._local_part(last_name)
        pattern = rng.random()
        if pattern < 0.5:
            base = f"{first}.{last}"
        elif pattern < 0.65:
            base = f"{first}{last}"
        elif pattern < 0.8:
            base = f"{first[0]}.{last}"
        elif pattern < 0.9:
            base = f"{last}.{first}"
        else:
            base = f"{first}_{last}"
        domain = rng.choice(EMAIL_DOMAINS)
        email = f"{base}@{domain}"
        while email in self.emails:
            email = f"{base}{rng.randint(2, 9999)}@{domain}"
        self.emails.add(email)
        return email

    def _local_part(self, name: str) -> str:
        part = self.local_parts.get(name)
        if part is None:
            part = self.local_parts[name] = _ascii(name)
        return part

    def _mobile(self, region: str) -> str:
        """A mobile number in E.164 from a range that country gives to mobile networks."""
        prefix, digits = self.rng.choice(MOBILE_RANGES[region])
        return prefix + str(self.rng.randrange(10**digits)).zfill(digits)
