"""Finding customers: search and keyset pagination over the customer list."""

import re
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    and_,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    tuple_,
)

from commsapp.extensions import db
from commsapp.models import Customer
from commsapp.models.base import SEARCH_INDEX_TABLE
from commsapp.services import like

MAX_SEARCH_LENGTH = 100
LIKE_SPECIAL = re.compile(r"[%_\\]")


@dataclass(frozen=True)
class CustomerPage:
    customers: list[Customer]
    next_after: int | None


def search_condition(query: str) -> ColumnElement[bool] | None:
    """Every word must appear in the name, email or mobile number (case-insensitive).

    Both databases answer from an index. PostgreSQL searches one lower-cased text, the
    expression its trigram index `ix_customers_search_trgm` covers (migration 0004); SQLite
    the same text in its FTS5 trigram table (migration 0008), which knows words of three
    characters or more without LIKE's wildcards. Other words are compared with each field,
    as LIKE ignores (ASCII) case on SQLite by itself.
    """
    words = query.strip()[:MAX_SEARCH_LENGTH].lower().split()[:6]
    if not words:
        return None
    if db.session.get_bind().dialect.name == "postgresql":
        # Literal constants, not bound parameters: the planner matches the index by expression.
        space, empty = literal_column("' '"), literal_column("''")
        haystack = func.lower(
            Customer.first_name
            + space
            + Customer.last_name
            + space
            + func.coalesce(Customer.email, empty)
            + space
            + func.coalesce(Customer.mobile, empty)
        )
        return and_(*(haystack.like(like.containing(word), escape=like.ESCAPE) for word in words))
    indexed = [word for word in words if len(word) >= 3 and not LIKE_SPECIAL.search(word)]
    conditions = []
    if indexed:
        search_index = table(SEARCH_INDEX_TABLE, column("rowid"), column("haystack"))
        # Without ESCAPE: with it FTS5 leaves the index and reads every row.
        found = select(search_index.c.rowid).where(
            *(search_index.c.haystack.like(f"%{word}%") for word in indexed)
        )
        conditions.append(Customer.id.in_(found))
    fields = (Customer.first_name, Customer.last_name, Customer.email, Customer.mobile)
    for word in words:
        if word not in indexed:
            pattern = like.containing(word)
            conditions.append(or_(*(field.like(pattern, escape=like.ESCAPE) for field in fields)))
    return and_(*conditions)


def refill_search_index() -> None:
    """What SQLite's search index triggers would have written, for loads that bypass them."""
    if db.session.get_bind().dialect.name != "sqlite":
        return
    haystack = (
        "first_name || ' ' || last_name || ' ' || coalesce(email, '') || ' ' "
        "|| coalesce(mobile, '')"
    )
    db.session.execute(text(f"DELETE FROM {SEARCH_INDEX_TABLE}"))
    db.session.execute(
        text(
            f"INSERT INTO {SEARCH_INDEX_TABLE} (rowid, haystack) SELECT id, {haystack} FROM customers"
        )
    )


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
