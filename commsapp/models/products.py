"""What customers buy: memberships, credit packages and course subscriptions."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commsapp.extensions import db
from commsapp.models.base import str_enum, utcnow
from commsapp.models.people import Customer


class ProductKind(StrEnum):
    MEMBERSHIP = "membership"
    CREDIT_PACKAGE = "credit_package"
    COURSE_SUBSCRIPTION = "course_subscription"


class ProductStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    PAUSED = "paused"


class Product(db.Model):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    kind: Mapped[ProductKind] = mapped_column(str_enum(ProductKind, "product_kind"))
    price_cents: Mapped[int] = mapped_column(default=0)
    credits: Mapped[int | None]
    duration_days: Mapped[int | None]
    auto_renew: Mapped[bool] = mapped_column(default=False)


class CustomerProduct(db.Model):
    """A product a customer owns, with its validity and remaining credits."""

    __tablename__ = "customer_products"
    __table_args__ = (
        Index("ix_customer_products_customer_status", "customer_id", "status", "product_id"),
        Index("ix_customer_products_product_status_ends", "product_id", "status", "ends_on"),
        # Covers product conditions ("ever had a package", "no active membership"): the
        # owners of a product, in id order, are read without touching the table.
        Index(
            "ix_customer_products_product_customer",
            "product_id",
            "customer_id",
            "status",
            "starts_on",
            "ends_on",
        ),
        Index("ix_customer_products_ends", "ends_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    credits_total: Mapped[int | None]
    credits_left: Mapped[int | None]
    status: Mapped[ProductStatus] = mapped_column(
        str_enum(ProductStatus, "product_status"), default=ProductStatus.ACTIVE
    )
    auto_renew: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship()
    product: Mapped[Product] = relationship()
