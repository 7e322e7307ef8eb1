"""The data model, one module per domain; importing this package registers every table."""

from commsapp.models.business import BusinessSettings, Location
from commsapp.models.consent import (
    ConsentEvent,
    ConsentKind,
    ConsentSource,
    CustomerGroup,
    GroupMembership,
    MembershipStatus,
)
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
from commsapp.models.messaging import (
    Category,
    Channel,
    Delivery,
    DeliveryStatus,
    Direction,
    Message,
    MessageContent,
    SendBatch,
    Thread,
)
from commsapp.models.people import Customer, Participant, Role, StaffUser, Tag, customer_tags
from commsapp.models.products import CustomerProduct, Product, ProductKind, ProductStatus
from commsapp.models.segments import CourseAttendance, CustomerAttendance, Segment
from commsapp.models.sms import SmsUsageMonth
from commsapp.models.templates import (
    NotificationTemplate,
    TemplateDraft,
    TemplateImage,
    TransactionalTemplate,
)

__all__ = [
    "Category",
    "Channel",
    "ConsentEvent",
    "ConsentKind",
    "ConsentSource",
    "CustomerGroup",
    "Delivery",
    "DeliveryStatus",
    "Direction",
    "GroupMembership",
    "MembershipStatus",
    "Message",
    "MessageContent",
    "SendBatch",
    "Thread",
    "Booking",
    "BookingStatus",
    "BusinessSettings",
    "ClassTemplate",
    "ClassType",
    "Course",
    "CourseAttendance",
    "CourseSession",
    "Customer",
    "CustomerAttendance",
    "CustomerProduct",
    "Location",
    "Participant",
    "PaymentMethod",
    "Product",
    "ProductKind",
    "ProductStatus",
    "RecurringSeries",
    "Role",
    "Segment",
    "SmsUsageMonth",
    "StaffUser",
    "Tag",
    "NotificationTemplate",
    "TemplateDraft",
    "TemplateImage",
    "TransactionalTemplate",
    "WaitlistEntry",
    "WaitlistStatus",
    "booking_participants",
    "customer_tags",
]
