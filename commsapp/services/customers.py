"""Finding customers: search and keyset pagination over the customer list."""

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select, tuple_

from commsapp.extensions import db
from commsapp.models import Customer

MAX_SEARCH_LENGTH = 100


@dataclass(frozen=True)
class CustomerPage:
    customers: list[Customer]
    next_after: int | None


def search_condition(query: str) -> ColumnElement[bool] | None:
    """Every word must appear in the name, email or mobile number (case-insensitive)."""
    words = query.strip()[:MAX_SEARCH_LENGTH].split()
    if not words:
        return None
    conditions = []
    for word in words[:6]:
        pattern = f"%{_escape_like(word.lower())}%"
        conditions.append(
            or_(
                func.lower(Customer.first_name).like(pattern, escape="\\"),
                func.lower(Customer.last_name).like(pattern, escape="\\"),
                Customer.email.like(pattern, escape="\\"),
                Customer.mobile.like(pattern, escape="\\"),
            )
        )
    return and_(*conditions)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_customers(
    scope: ColumnElement[bool], query: str = "", after_id: int | None = None, page_size: int = 50
) -> CustomerPage:
    """One page sorted by name; `after_id` continues after that customer (keyset, no OFFSET)."""
    stmt = select(Customer).where(scope)
    condition = search_condition(query)
    if condition is not None:
        stmt = stmt.where(condition)
    if after_id is not None:
        anchor = db.session.get(Customer, after_id)
        if anchor is not None:
            stmt = stmt.where(
                tuple_(Customer.last_name, Customer.first_name, Customer.id)
                > tuple_(anchor.last_name, anchor.first_name, anchor.id)
            )
    stmt = stmt.order_by(Customer.last_name, Customer.first_name, Customer.id).limit(page_size + 1)
    rows = list(db.session.scalars(stmt))
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    return CustomerPage(rows, rows[-1].id if has_more else None)
