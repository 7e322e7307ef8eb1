"""The data model, one module per domain; importing this package registers every table."""

from commsapp.models.business import BusinessSettings, Location
from commsapp.models.courses import (
    Booking,
    BookingStatus,
    ClassTemplate,
    ClassType,
    Course,
    CourseSession,
    PaymentMethod,
    RecurringSeries,
    WaitlistEntry,
    WaitlistStatus,
    booking_participants,
)
from commsapp.models.people import Customer, Participant, Role, StaffUser, Tag, customer_tags
from commsapp.models.products import CustomerProduct, Product, ProductKind, ProductStatus

__all__ = [
    "Booking",
    "BookingStatus",
    "BusinessSettings",
    "ClassTemplate",
    "ClassType",
    "Course",
    "CourseSession",
    "Customer",
    "CustomerProduct",
    "Location",
    "Participant",
    "PaymentMethod",
    "Product",
    "ProductKind",
    "ProductStatus",
    "RecurringSeries",
    "Role",
    "StaffUser",
    "Tag",
    "WaitlistEntry",
    "WaitlistStatus",
    "booking_participants",
    "customer_tags",
]
