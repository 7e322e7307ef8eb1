"""Factory helpers for test data: each makes one row with sensible defaults and flushes it."""

import itertools
from datetime import date, datetime, timedelta

from commsapp.extensions import db
from commsapp.models import (
    Booking,
    BookingStatus,
    ClassTemplate,
    ClassType,
    Course,
    CourseSession,
    Customer,
    CustomerProduct,
    Location,
    Participant,
    PaymentMethod,
    Product,
    ProductKind,
    Role,
    StaffUser,
    Tag,
)
from commsapp.models.base import utcnow

_counter = itertools.count(1)


def _n() -> int:
    return next(_counter)


def _add(obj):
    db.session.add(obj)
    db.session.flush()
    return obj


def location(name: str | None = None, **fields) -> Location:
    return _add(Location(name=name or f"Studio {_n()}", **fields))


def staff_user(
    role: str | Role = Role.STAFF,
    location: Location | None = None,
    password: str = "correct horse battery",
    **fields,
) -> StaffUser:
    n = _n()
    user = StaffUser(
        name=fields.pop("name", f"Staff {n}"),
        email=fields.pop("email", f"staff{n}@example.org"),
        role=Role(role),
        location_id=location.id if location else None,
        **fields,
    )
    user.set_password(password)
    return _add(user)


def customer(location: Location | None = None, **fields) -> Customer:
    n = _n()
    fields.setdefault("first_name", f"Kim{n}")
    fields.setdefault("last_name", f"Muster{n}")
    fields.setdefault("email", f"kunde{n}@example.org")
    return _add(Customer(home_location_id=location.id if location else None, **fields))


def tag(name: str | None = None) -> Tag:
    return _add(Tag(name=name or f"tag-{_n()}"))


def class_type(name: str | None = None) -> ClassType:
    return _add(ClassType(name=name or f"Yoga {_n()}"))


def class_template(kind: ClassType | None = None, **fields) -> ClassTemplate:
    kind = kind or class_type()
    fields.setdefault("name", f"Template {_n()}")
    return _add(ClassTemplate(class_type_id=kind.id, **fields))


def course(
    location: Location | None = None,
    kind: ClassType | None = None,
    teacher: StaffUser | None = None,
    **fields,
) -> Course:
    location = location or globals()["location"]()
    kind = kind or class_type()
    fields.setdefault("name", f"Course {_n()}")
    return _add(
        Course(
            location_id=location.id,
            class_type_id=kind.id,
            teacher_id=teacher.id if teacher else None,
            **fields,
        )
    )


def session(course: Course, starts_at: datetime | None = None, **fields) -> CourseSession:
    starts_at = starts_at or utcnow() + timedelta(days=1)
    fields.setdefault("ends_at", starts_at + timedelta(hours=1))
    return _add(
        CourseSession(
            course_id=course.id, location_id=course.location_id, starts_at=starts_at, **fields
        )
    )


def booking(
    customer: Customer,
    session: CourseSession,
    status: BookingStatus = BookingStatus.BOOKED,
    paid_with: PaymentMethod = PaymentMethod.CASH,
    participants: list[Participant] | None = None,
) -> Booking:
    return _add(
        Booking(
            customer_id=customer.id,
            session_id=session.id,
            course_id=session.course_id,
            starts_at=session.starts_at,
            status=status,
            paid_with=paid_with,
            participants=participants or [],
        )
    )


def participant(customer: Customer, first_name: str = "Mia", **fields) -> Participant:
    return _add(Participant(customer_id=customer.id, first_name=first_name, **fields))


def product(kind: ProductKind = ProductKind.MEMBERSHIP, **fields) -> Product:
    fields.setdefault("name", f"Product {_n()}")
    return _add(Product(kind=kind, **fields))


def customer_product(customer: Customer, product: Product, **fields) -> CustomerProduct:
    fields.setdefault("starts_on", date.today() - timedelta(days=10))
    return _add(CustomerProduct(customer_id=customer.id, product_id=product.id, **fields))


def message(
    customer: Customer,
    direction: str = "inbound",
    at: datetime | None = None,
    text: str = "Hallo!",
    channel: str = "email",
    category: str = "manual",
    subject: str = "",
    origin: str = "",
    status: str = "sent",
):
    """A message in the customer's thread at `at`, moving the thread's timestamps as the app does.

    Inbound messages mark the thread unread; outbound ones get a delivery with `status`.
    """
    from commsapp.models import (
        Category,
        Channel,
        Delivery,
        DeliveryStatus,
        Direction,
        Message,
        MessageContent,
    )
    from commsapp.services.threads import thread_for_customer

    at = at or utcnow()
    thread = thread_for_customer(customer)
    content = MessageContent(
        subject=subject,
        body_text=text if channel != "sms" else "",
        sms_text=text if channel == "sms" else "",
    )
    row = Message(
        thread=thread,
        content=content,
        direction=Direction(direction),
        channel=Channel(channel),
        category=Category(category),
        origin=origin,
        created_at=at,
    )
    db.session.add_all([content, row])
    thread.last_message_at = max(filter(None, [thread.last_message_at, at]))
    if direction == "inbound":
        thread.last_inbound_at = max(filter(None, [thread.last_inbound_at, at]))
        thread.unread = True
    else:
        thread.last_outbound_at = max(filter(None, [thread.last_outbound_at, at]))
        db.session.add(
            Delivery(
                message=row,
                customer_id=customer.id,
                channel=Channel(channel),
                address=customer.email or "",
                status=DeliveryStatus(status),
                created_at=at,
            )
        )
    db.session.flush()
    return row
