"""Segment conditions on hand-built customers with known answers, AND/OR/nesting, and bad definitions."""

import json
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, true, update

from commsapp.models import (
    Booking,
    BookingStatus,
    Category,
    Channel,
    ClassTypeAttendance,
    Course,
    Customer,
    Delivery,
    ProductKind,
    ProductStatus,
    Segment,
    SendBatch,
)
from commsapp.models.base import utcnow
from commsapp.services import outbox, segments
from commsapp.services.segments import SegmentError, SegmentInUse
from tests import factories
from tests.conftest import IS_POSTGRES


@pytest.fixture
def studio(db):
    """Five customers whose membership in every condition is known by construction.

    Anna  Berlin, VIP, three Yoga A visits this week, Pilates 40 days ago, active membership
    Ben   Zürich, yoga fan, one Yoga B visit 100 days ago, package expired 5 days ago, no mobile
    Cem   Berlin, VIP + yoga fan, first ever visit (Yoga A) 3 days ago, package with 1 credit left,
          unsubscribed from marketing email
    Dora  no location, no visits, customer for 400 days, no email, replied STOP
    Emil  Berlin, six Pilates visits in the last 30 days, booked Yoga A but never came
    """
    now = utcnow()
    berlin, zurich = factories.location("Berlin"), factories.location("Zürich")
    vip, fan = factories.tag("VIP"), factories.tag("Yoga fan")
    yoga, pilates = factories.class_type("Yoga"), factories.class_type("Pilates")
    template = factories.class_template(yoga, name="Yoga template")
    series = _series(db)
    yoga_a = factories.course(
        berlin, yoga, name="Yoga A", class_template_id=template.id, series_id=series.id
    )
    yoga_b = factories.course(zurich, yoga, name="Yoga B")
    pilates_course = factories.course(berlin, pilates, name="Pilates")
    membership = factories.product(ProductKind.MEMBERSHIP, name="Membership")
    package = factories.product(ProductKind.CREDIT_PACKAGE, name="10 classes", credits=10)

    def visit(customer, course, days_ago, status=BookingStatus.ATTENDED):
        factories.booking(
            customer, factories.session(course, now - timedelta(days=days_ago)), status=status
        )

    anna = factories.customer(berlin, first_name="Anna", last_name="Anna", mobile="+4915112345678")
    anna.tags.append(vip)
    for days in (1, 2, 5):
        visit(anna, yoga_a, days)
    visit(anna, pilates_course, 40)
    factories.customer_product(
        anna, membership, starts_on=now.date() - timedelta(days=20), ends_on=None
    )

    ben = factories.customer(zurich, first_name="Ben", last_name="Ben")
    ben.tags.append(fan)
    visit(ben, yoga_b, 100)
    factories.customer_product(
        ben,
        package,
        starts_on=now.date() - timedelta(days=60),
        ends_on=now.date() - timedelta(days=5),
        status=ProductStatus.EXPIRED,
        credits_total=10,
        credits_left=0,
    )

    cem = factories.customer(
        berlin, first_name="Cem", last_name="Cem", marketing_email_opt_out=True
    )
    cem.tags.extend([vip, fan])
    visit(cem, yoga_a, 3)
    factories.customer_product(
        cem,
        package,
        starts_on=now.date() - timedelta(days=3),
        ends_on=now.date() + timedelta(days=90),
        credits_total=10,
        credits_left=1,
    )

    factories.customer(
        first_name="Dora",
        last_name="Dora",
        email=None,
        sms_stopped=True,
        created_at=now - timedelta(days=400),
    )

    emil = factories.customer(berlin, first_name="Emil", last_name="Emil", mobile="+4917612345678")
    for days in (1, 4, 8, 12, 20, 29):
        visit(emil, pilates_course, days)
    visit(emil, yoga_a, 2, status=BookingStatus.NO_SHOW)
    visit(emil, yoga_a, -3, status=BookingStatus.BOOKED)
    db.session.commit()
    return {
        "berlin": berlin.id,
        "zurich": zurich.id,
        "vip": vip.id,
        "fan": fan.id,
        "yoga": yoga.id,
        "pilates": pilates.id,
        "template": template.id,
        "series": series.id,
        "yoga_a": yoga_a.id,
        "yoga_b": yoga_b.id,
        "pilates_course": pilates_course.id,
        "membership": membership.id,
        "package": package.id,
    }


def _series(db):
    from commsapp.models import RecurringSeries

    series = RecurringSeries(name="Monday evening", rule="FREQ=WEEKLY;BYDAY=MO")
    db.session.add(series)
    db.session.flush()
    return series


def members(definition: dict) -> set[str]:
    condition = segments.customer_condition(segments.validate(definition))
    return set(segments.db.session.scalars(select(Customer.first_name).where(condition)))


def one(condition: dict) -> set[str]:
    return members({"match": "all", "conditions": [condition]})


# Each case: a condition and, with the studio's ids filled in, exactly who matches it.
CONDITION_CASES = [
    (
        "tag_has_any",
        {"type": "tag", "op": "has", "tag_ids": ["vip", "fan"]},
        {"Anna", "Ben", "Cem"},
    ),
    ("tag_has_not", {"type": "tag", "op": "has_not", "tag_ids": ["vip"]}, {"Ben", "Dora", "Emil"}),
    (
        "visits_class_type_any",
        {"type": "visits", "by": "class_type", "ids": ["yoga"], "match": "any"},
        {"Anna", "Ben", "Cem"},
    ),
    (
        "visits_all_of_two_class_types",
        {"type": "visits", "by": "class_type", "ids": ["yoga", "pilates"], "match": "all"},
        {"Anna"},
    ),
    (
        "visits_at_least_one_of_two_courses",
        {"type": "visits", "by": "course", "ids": ["yoga_b", "pilates_course"], "match": "any"},
        {"Anna", "Ben", "Emil"},
    ),
    (
        "visits_both_courses",
        {"type": "visits", "by": "course", "ids": ["yoga_a", "pilates_course"], "match": "all"},
        {"Anna"},
    ),
    (
        "visits_course_within_window",
        {
            "type": "visits",
            "by": "course",
            "ids": ["pilates_course"],
            "match": "any",
            "within_days": 30,
        },
        {"Emil"},
    ),
    (
        "visits_between_two_dates",
        {
            "type": "visits",
            "by": "class_type",
            "ids": ["pilates"],
            "match": "any",
            "from": (utcnow().date() - timedelta(days=45)).isoformat(),
            "to": (utcnow().date() - timedelta(days=35)).isoformat(),
        },
        {"Anna"},
    ),
    (
        "visits_template",
        {"type": "visits", "by": "template", "ids": ["template"], "match": "any"},
        {"Anna", "Cem"},
    ),
    (
        "visits_series",
        {"type": "visits", "by": "series", "ids": ["series"], "match": "any", "within_days": 2},
        {"Anna"},
    ),
    (
        "visit_count_at_least",
        {"type": "visit_count", "op": "at_least", "count": 3, "days": 30},
        {"Anna", "Emil"},
    ),
    (
        "visit_count_at_least_5",
        {"type": "visit_count", "op": "at_least", "count": 5, "days": 30},
        {"Emil"},
    ),
    (
        "visit_count_at_most_includes_never",
        {"type": "visit_count", "op": "at_most", "count": 1, "days": 30},
        {"Ben", "Cem", "Dora"},
    ),
    (
        "visit_count_exactly",
        {"type": "visit_count", "op": "exactly", "count": 3, "days": 30},
        {"Anna"},
    ),
    (
        "visit_count_exactly_zero",
        {"type": "visit_count", "op": "exactly", "count": 0, "days": 30},
        {"Ben", "Dora"},
    ),
    ("no_visit_since_lapsed", {"type": "no_visit_since", "days": 60}, {"Ben"}),
    (
        "no_visit_since_including_never",
        {"type": "no_visit_since", "days": 60, "visited_before": False},
        {"Ben", "Dora"},
    ),
    (
        "no_visit_since_date",
        {"type": "no_visit_since", "date": (utcnow().date() - timedelta(days=30)).isoformat()},
        {"Ben"},
    ),
    ("product_has_active_any", {"type": "product", "op": "has_active"}, {"Anna", "Cem"}),
    (
        "product_has_active_chosen",
        {"type": "product", "op": "has_active", "product_ids": ["membership"]},
        {"Anna"},
    ),
    (
        "product_without_active_membership",
        {"type": "product", "op": "has_no_active", "product_ids": ["membership"]},
        {"Ben", "Cem", "Dora", "Emil"},
    ),
    ("product_expired_within", {"type": "product", "op": "expired_within", "days": 7}, {"Ben"}),
    (
        "product_expired_within_too_short",
        {"type": "product", "op": "expired_within", "days": 3},
        set(),
    ),
    (
        "product_credits_at_most",
        {"type": "product", "op": "credits_at_most", "credits": 2},
        {"Cem"},
    ),
    ("product_ever", {"type": "product", "op": "ever", "product_ids": ["package"]}, {"Ben", "Cem"}),
    ("first_visit_within", {"type": "first_visit", "days": 7}, {"Cem"}),
    ("created_within", {"type": "created", "days": 30}, {"Anna", "Ben", "Cem", "Emil"}),
    (
        "home_location_in",
        {"type": "home_location", "op": "in", "location_ids": ["zurich"]},
        {"Ben"},
    ),
    (
        "home_location_not_in_keeps_customers_without_one",
        {"type": "home_location", "op": "not_in", "location_ids": ["berlin"]},
        {"Ben", "Dora"},
    ),
    ("has_email", {"type": "contact", "field": "email", "op": "has_not"}, {"Dora"}),
    ("has_mobile", {"type": "contact", "field": "mobile", "op": "has"}, {"Anna", "Emil"}),
    (
        "consent_unsubscribed_marketing_email",
        {"type": "consent", "kind": "marketing_email", "op": "unsubscribed"},
        {"Cem"},
    ),
    (
        "consent_subscribed_sms",
        {"type": "consent", "kind": "all_sms", "op": "subscribed"},
        {"Anna", "Ben", "Cem", "Emil"},
    ),
]


def _fill(value, ids):
    if isinstance(value, list):
        return [ids.get(v, v) for v in value]
    return value


@pytest.mark.parametrize(
    ("condition", "expected"),
    [pytest.param(c, e, id=name) for name, c, e in CONDITION_CASES],
)
def test_each_condition_matches_exactly_the_expected_customers(studio, condition, expected):
    """Every condition type and operator selects exactly the customers built to match it."""
    filled = {k: _fill(v, studio) for k, v in condition.items()}
    assert one(filled) == expected


def test_and_or_and_nesting_combine_as_written(studio):
    """ALL narrows, ANY widens, and a nested group is evaluated as one condition."""
    vip = {"type": "tag", "op": "has", "tag_ids": [studio["vip"]]}
    berlin = {"type": "home_location", "op": "in", "location_ids": [studio["berlin"]]}
    lapsed = {"type": "no_visit_since", "days": 60}
    busy = {"type": "visit_count", "op": "at_least", "count": 5, "days": 30}
    assert members({"match": "all", "conditions": [vip, berlin]}) == {"Anna", "Cem"}
    assert members({"match": "any", "conditions": [vip, lapsed]}) == {"Anna", "Ben", "Cem"}
    nested = {
        "match": "any",
        "conditions": [lapsed, {"type": "group", "match": "all", "conditions": [berlin, busy]}],
    }
    assert members(nested) == {"Ben", "Emil"}
    deeper = {
        "match": "all",
        "conditions": [
            berlin,
            {
                "type": "group",
                "match": "any",
                "conditions": [
                    busy,
                    {
                        "type": "group",
                        "match": "all",
                        "conditions": [vip, {"type": "first_visit", "days": 7}],
                    },
                ],
            },
        ],
    }
    assert members(deeper) == {"Cem", "Emil"}
    yoga_or_recent_pilates = {
        "match": "any",
        "conditions": [
            {"type": "visits", "by": "course", "ids": [studio["yoga_b"]], "match": "any"},
            {"type": "visits", "by": "class_type", "ids": [studio["pilates"]], "match": "any"},
            {"type": "visits", "by": "course", "ids": [studio["yoga_a"]], "match": "any"},
            {
                "type": "visits",
                "by": "class_type",
                "ids": [studio["pilates"]],
                "match": "any",
                "within_days": 30,
            },
        ],
    }
    assert members(yoga_or_recent_pilates) == {"Anna", "Ben", "Cem", "Emil"}


def test_empty_segment_matches_everyone_and_contradiction_matches_no_one(studio):
    """No conditions is "all customers"; "has VIP and has not VIP" is nobody."""
    assert members({"match": "all", "conditions": []}) == {"Anna", "Ben", "Cem", "Dora", "Emil"}
    vip = {"type": "tag", "op": "has", "tag_ids": [studio["vip"]]}
    not_vip = {**vip, "op": "has_not"}
    assert members({"match": "all", "conditions": [vip, not_vip]}) == set()


def test_preview_counts_and_pages_within_the_staff_members_location(studio, db):
    """The live preview counts only the location's customers and lists the first page by name."""
    from commsapp.models import Customer as C

    definition = segments.validate(
        {"match": "all", "conditions": [{"type": "contact", "field": "email", "op": "has"}]}
    )
    everyone = segments.preview(definition, true(), page_size=2)
    assert everyone.count == 4
    assert [c.first_name for c in everyone.page.customers] == ["Anna", "Ben"]
    berlin_only = segments.preview(definition, C.home_location_id == studio["berlin"])
    assert berlin_only.count == 3
    assert {c.first_name for c in berlin_only.page.customers} == {"Anna", "Cem", "Emil"}


def test_profile_check_narrowed_to_one_customer_agrees_with_the_full_query(studio, db):
    """segments_containing gives the same answer as evaluating each segment over everyone."""
    busy = segments.create_segment(
        "Busy",
        {"conditions": [{"type": "visit_count", "op": "at_least", "count": 3, "days": 30}]},
        None,
    )
    lapsed = segments.create_segment(
        "Lapsed", {"conditions": [{"type": "no_visit_since", "days": 60}]}, None
    )
    db.session.commit()
    by_name = {c.first_name: c.id for c in db.session.scalars(select(Customer))}
    assert [s.id for s in segments.segments_containing(by_name["Anna"])] == [busy.id]
    assert [s.id for s in segments.segments_containing(by_name["Ben"])] == [lapsed.id]
    assert segments.segments_containing(by_name["Dora"]) == []


@pytest.mark.parametrize(
    ("definition", "named"),
    [
        (
            {"conditions": [{"type": "astrology", "sign": "leo"}]},
            "unknown condition type 'astrology'",
        ),
        ({"conditions": [{"type": "tag", "op": "maybe", "tag_ids": [1]}]}, "unknown op 'maybe'"),
        ({"match": "xor", "conditions": []}, "unknown match 'xor'"),
        (
            {
                "conditions": [
                    {"type": "visit_count", "op": "at_least", "count": "lots", "days": 30}
                ]
            },
            "'count' must be a whole number",
        ),
        (
            {"conditions": [{"type": "visits", "by": "planet", "ids": [1], "match": "any"}]},
            "unknown by 'planet'",
        ),
        ({"conditions": ["tag"]}, "Condition 1 is not an object"),
        ("{not json", "not valid JSON"),
        ([1, 2], "must be an object"),
    ],
)
def test_tampered_definitions_are_refused_naming_the_condition(db, definition, named):
    """Unknown types, operators and malformed values raise an error that says which and what."""
    with pytest.raises(SegmentError) as caught:
        segments.validate(definition)
    assert named in str(caught.value)
    assert not caught.value.incomplete


def test_ids_that_do_not_exist_are_refused(studio):
    """A condition naming a tag or course that does not exist is refused with its number."""
    with pytest.raises(SegmentError, match=r"Condition 2 \(tag\): 999999 no longer"):
        segments.validate(
            {
                "conditions": [
                    {"type": "created", "days": 5},
                    {"type": "tag", "op": "has", "tag_ids": [999999]},
                ]
            }
        )
    with pytest.raises(SegmentError, match=r"Condition 1\.1 \(visits\)"):
        segments.validate(
            {
                "conditions": [
                    {
                        "type": "group",
                        "match": "any",
                        "conditions": [
                            {
                                "type": "visits",
                                "by": "course",
                                "ids": [studio["yoga_a"], 424242],
                                "match": "all",
                            }
                        ],
                    }
                ]
            }
        )


def test_unfinished_conditions_are_reported_as_incomplete(db):
    """A condition with nothing chosen yet is a hint for the builder, not a refusal."""
    for definition in (
        {"conditions": [{"type": "tag", "op": "has", "tag_ids": []}]},
        {"conditions": [{"type": ""}]},
        {"conditions": [{"type": "group", "match": "all", "conditions": []}]},
        {"conditions": [{"type": "visit_count", "op": "at_least", "count": "", "days": 30}]},
    ):
        with pytest.raises(SegmentError) as caught:
            segments.validate(definition)
        assert caught.value.incomplete, definition


def test_too_deep_nesting_is_refused(db):
    """Groups nest two levels below the segment, not more."""
    leaf = {"type": "created", "days": 5}
    tree = {"type": "group", "match": "all", "conditions": [leaf]}
    for _ in range(3):
        tree = {"type": "group", "match": "all", "conditions": [tree]}
    with pytest.raises(SegmentError, match="nested at most"):
        segments.validate({"conditions": [tree]})


def test_saved_segments_are_renamed_duplicated_and_reordered(db):
    """Names are unique, a copy gets a fresh name, and the tab order follows the posted ids."""
    first = segments.create_segment("Regulars", {"conditions": []}, None)
    second = segments.create_segment(
        "Lapsed", {"conditions": [{"type": "created", "days": 3}]}, None
    )
    with pytest.raises(SegmentError, match="exists already"):
        segments.create_segment("regulars", {"conditions": []}, None)
    copy = segments.duplicate_segment(second, None)
    again = segments.duplicate_segment(second, None)
    assert (copy.name, again.name) == ("Lapsed (copy)", "Lapsed (copy) 2")
    assert json.loads(copy.definition) == json.loads(second.definition)
    segments.rename_segment(first, "  Stammkunden  ")
    assert first.name == "Stammkunden"
    order = [again.id, first.id, copy.id, second.id]
    assert [s.id for s in segments.reorder_segments(order)] == order
    with pytest.raises(SegmentError, match="reload"):
        segments.reorder_segments([first.id, second.id])


def test_segment_used_by_a_scheduled_send_cannot_be_deleted(db, redis):
    """Deleting says which scheduled send still needs the segment; after it is gone, deletion works."""
    customers = [factories.customer() for _ in range(2)]
    segment = segments.create_segment("Everyone", {"conditions": []}, None)
    db.session.commit()
    result = outbox.send(
        outbox.MessageSpec(
            category=Category.MANUAL,
            channel=Channel.EMAIL,
            subject="Sommerfest",
            body_html="<p>Kommt vorbei!</p>",
            scheduled_at=utcnow() + timedelta(days=2),
            description="Sommerfest",
        ),
        [c.id for c in customers],
    )
    db.session.get(SendBatch, result.batch_id).segment_id = segment.id
    db.session.commit()
    with pytest.raises(SegmentInUse, match="scheduled send .* 'Sommerfest'"):
        segments.delete_segment(segment)
    assert db.session.get(Segment, segment.id) is not None
    db.session.execute(update(Delivery).values(next_attempt_at=utcnow() - timedelta(minutes=1)))
    segments.delete_segment(segment)
    db.session.commit()
    assert db.session.get(Segment, segment.id) is None
    assert db.session.get(SendBatch, result.batch_id).segment_id is None


def _attendance(db) -> tuple[set[tuple], set[tuple]]:
    """Both summaries: per (customer, course) and per customer."""
    from commsapp.models import CourseAttendance, CustomerAttendance

    db.session.expire_all()
    courses = {
        (a.customer_id, a.course_id, a.visits, a.first_visit_at, a.last_visit_at)
        for a in db.session.scalars(select(CourseAttendance))
    }
    customers = {
        (a.customer_id, a.visits, a.first_visit_at, a.last_visit_at)
        for a in db.session.scalars(select(CustomerAttendance))
    }
    return courses, customers


def test_attendance_summary_follows_every_change_to_bookings(db):
    """The database keeps both attendance summaries exact on insert, status change, move, delete."""
    now = utcnow().replace(microsecond=0)
    customer, other = factories.customer(), factories.customer()
    course, second_course = factories.course(), factories.course()
    early, middle, late = (now - timedelta(days=d) for d in (9, 5, 2))
    first = factories.booking(customer, factories.session(course, early), BookingStatus.ATTENDED)
    second = factories.booking(customer, factories.session(course, late), BookingStatus.BOOKED)
    factories.booking(customer, factories.session(second_course, middle), BookingStatus.ATTENDED)
    db.session.commit()
    assert _attendance(db) == (
        {
            (customer.id, course.id, 1, early, early),
            (customer.id, second_course.id, 1, middle, middle),
        },
        {(customer.id, 2, early, middle)},
    )

    second.status = BookingStatus.ATTENDED
    db.session.commit()
    assert _attendance(db)[1] == {(customer.id, 3, early, late)}

    first.status = BookingStatus.NO_SHOW
    db.session.commit()
    assert _attendance(db) == (
        {
            (customer.id, course.id, 1, late, late),
            (customer.id, second_course.id, 1, middle, middle),
        },
        {(customer.id, 2, middle, late)},
    )

    second.customer_id = other.id
    db.session.commit()
    assert _attendance(db) == (
        {(other.id, course.id, 1, late, late), (customer.id, second_course.id, 1, middle, middle)},
        {(other.id, 1, late, late), (customer.id, 1, middle, middle)},
    )

    db.session.delete(second)
    db.session.commit()
    assert _attendance(db) == (
        {(customer.id, second_course.id, 1, middle, middle)},
        {(customer.id, 1, middle, middle)},
    )

    db.session.delete(customer)
    db.session.commit()
    assert _attendance(db) == (set(), set())


def _class_type_attendance(db) -> set[tuple]:
    db.session.expire_all()
    return {
        (a.customer_id, a.class_type_id, a.visits, a.first_visit_at, a.last_visit_at)
        for a in db.session.scalars(select(ClassTypeAttendance))
    }


def _class_type_attendance_from_bookings(db) -> set[tuple]:
    """The same sums computed the long way, from every attended booking."""
    rows = db.session.execute(
        select(
            Booking.customer_id,
            Course.class_type_id,
            func.count(),
            func.min(Booking.starts_at),
            func.max(Booking.starts_at),
        )
        .join(Course, Course.id == Booking.course_id)
        .where(Booking.status == BookingStatus.ATTENDED)
        .group_by(Booking.customer_id, Course.class_type_id)
    )
    return {tuple(row) for row in rows}


def test_class_type_summary_follows_bookings_and_course_type_changes(db):
    """Visits per class type stay exact on insert, status change, move, retyped and deleted course."""
    now = utcnow().replace(microsecond=0)
    customer, other = factories.customer(), factories.customer()
    yoga, pilates = factories.class_type("Yoga"), factories.class_type("Pilates")
    yoga_a, yoga_b = factories.course(kind=yoga), factories.course(kind=yoga)
    pilates_course = factories.course(kind=pilates)
    early, middle, late = (now - timedelta(days=d) for d in (9, 5, 2))
    first = factories.booking(customer, factories.session(yoga_a, early), BookingStatus.ATTENDED)
    second = factories.booking(customer, factories.session(yoga_b, late), BookingStatus.ATTENDED)
    factories.booking(customer, factories.session(pilates_course, middle), BookingStatus.ATTENDED)
    factories.booking(other, factories.session(yoga_a, middle), BookingStatus.BOOKED)
    db.session.commit()
    assert _class_type_attendance(db) == {
        (customer.id, yoga.id, 2, early, late),
        (customer.id, pilates.id, 1, middle, middle),
    }

    first.status = BookingStatus.NO_SHOW
    db.session.commit()
    assert _class_type_attendance(db) == {
        (customer.id, yoga.id, 1, late, late),
        (customer.id, pilates.id, 1, middle, middle),
    }

    second.customer_id = other.id
    db.session.commit()
    assert _class_type_attendance(db) == {
        (other.id, yoga.id, 1, late, late),
        (customer.id, pilates.id, 1, middle, middle),
    }

    first.status = BookingStatus.ATTENDED
    yoga_b.class_type_id = pilates.id
    db.session.commit()
    assert _class_type_attendance(db) == {
        (customer.id, yoga.id, 1, early, early),
        (customer.id, pilates.id, 1, middle, middle),
        (other.id, pilates.id, 1, late, late),
    }
    assert _class_type_attendance(db) == _class_type_attendance_from_bookings(db)

    db.session.execute(delete(Course).where(Course.id == pilates_course.id))
    db.session.commit()
    assert _class_type_attendance(db) == {
        (customer.id, yoga.id, 1, early, early),
        (other.id, pilates.id, 1, late, late),
    }

    db.session.delete(customer)
    db.session.commit()
    assert _class_type_attendance(db) == {(other.id, pilates.id, 1, late, late)}
    assert _class_type_attendance(db) == _class_type_attendance_from_bookings(db)


@pytest.mark.skipif(
    not IS_POSTGRES, reason="SQLite has one writer: two transactions never recompute at once"
)
def test_two_registers_marked_at_once_keep_the_class_type_summary(db):
    """Two transactions marking one customer's visits together neither fail nor lose a visit."""
    now = utcnow().replace(microsecond=0)
    customer, yoga = factories.customer(), factories.class_type("Yoga")
    morning, evening = factories.course(kind=yoga), factories.course(kind=yoga)
    first = factories.booking(customer, factories.session(morning, now - timedelta(days=2)))
    second = factories.booking(customer, factories.session(evening, now - timedelta(days=1)))
    db.session.commit()
    first_id, second_id = first.id, second.id
    mark = update(Booking).values(status=BookingStatus.ATTENDED)
    engine = db.engine
    errors: list[BaseException] = []

    def mark_second() -> None:
        try:
            with engine.begin() as connection:
                connection.execute(mark.where(Booking.id == second_id))
        except BaseException as exc:  # noqa: BLE001  reported by the assertion below
            errors.append(exc)

    with engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(mark.where(Booking.id == first_id))
        other = threading.Thread(target=mark_second)
        other.start()
        time.sleep(0.5)  # the second waits for the first's rows of the summary
        transaction.commit()
    other.join(timeout=30)
    assert errors == []
    assert _class_type_attendance(db) == {
        (customer.id, yoga.id, 2, now - timedelta(days=2), now - timedelta(days=1))
    }
    assert _class_type_attendance(db) == _class_type_attendance_from_bookings(db)
