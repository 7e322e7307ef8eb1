"""Customer segments: a tree of conditions, validated, compiled into one SQL query, saved as tabs.

A definition is JSON: ``{"match": "all"|"any", "conditions": [node, ...]}`` where a node is
either a nested group (``{"type": "group", "match": ..., "conditions": [...]}``) or one
condition (``{"type": "tag", "op": "has", "tag_ids": [3]}``; see CONDITION_TYPES).

`customer_condition` turns a definition into one boolean SQL expression over `customers`,
built from IN / NOT IN / EXISTS subqueries and aggregates (SQLAlchemy Core), so a segment is
counted and paged by the database in one statement, never by a loop over customers. Times
are computed here and bound as parameters, so SQLite and PostgreSQL give the same answer.
Visit conditions read the attendance summaries (`CourseAttendance`, `ClassTypeAttendance`,
`CustomerAttendance`, kept by database triggers) rather than the millions of bookings behind them; only "number of
visits in the last N days" and visits between two dates count bookings themselves.
"""

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import has_request_context
from flask_babel import gettext
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    update,
)

from commsapp.extensions import db
from commsapp.models import (
    Booking,
    BookingStatus,
    ClassTemplate,
    ClassType,
    ClassTypeAttendance,
    Course,
    CourseAttendance,
    Customer,
    CustomerAttendance,
    CustomerProduct,
    Delivery,
    DeliveryStatus,
    Location,
    Message,
    Product,
    ProductStatus,
    RecurringSeries,
    Segment,
    SendBatch,
    Tag,
    customer_tags,
)
from commsapp.models.base import utcnow
from commsapp.services.customers import CustomerPage

MATCHES = ("all", "any")
# The root plus two levels of nested groups: "(A and (B or (C and D)))".
MAX_DEPTH = 3
MAX_CONDITIONS = 60
MAX_IDS = 500
MAX_DAYS = 3650
MAX_NAME = 120


def _(text: str, **values: Any) -> str:
    """Translated for the staff member in a request; plain English in the CLI, jobs and tests."""
    if has_request_context():
        return gettext(text, **values)
    return text % values if values else text


class SegmentError(ValueError):
    """A definition that cannot be evaluated; the message names the condition and what is wrong.

    `incomplete` is set when the user has simply not finished the condition (nothing chosen
    yet, a number left empty): the builder shows that as a hint, not as a refusal.
    """

    def __init__(self, message: str, *, incomplete: bool = False) -> None:
        super().__init__(message)
        self.incomplete = incomplete


class SegmentInUse(ValueError):
    """The segment is still needed by a scheduled send; `uses` says which, in words."""

    def __init__(self, message: str, uses: list[str]) -> None:
        super().__init__(message)
        self.uses = uses


# --- Validation ---------------------------------------------------------------------------


def _where(path: str, kind: str | None = None) -> str:
    if kind is None:
        return _("Condition %(path)s", path=path)
    return _("Condition %(path)s (%(type)s)", path=path, type=kind)


def _choice(node: dict, key: str, choices: Sequence[str], where: str) -> str:
    value = node.get(key)
    if value in (None, ""):
        raise SegmentError(
            _("%(where)s: choose a value for '%(key)s'.", where=where, key=key), incomplete=True
        )
    if not isinstance(value, str) or value not in choices:
        raise SegmentError(
            _(
                "%(where)s: unknown %(key)s '%(value)s' (allowed: %(allowed)s).",
                where=where,
                key=key,
                value=str(value)[:40],
                allowed=", ".join(choices),
            )
        )
    return value


def _number(node: dict, key: str, low: int, high: int, where: str) -> int:
    value = node.get(key)
    if value in (None, ""):
        raise SegmentError(
            _("%(where)s: enter a number for '%(key)s'.", where=where, key=key), incomplete=True
        )
    if isinstance(value, bool):
        value = "not a number"
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SegmentError(
            _("%(where)s: '%(key)s' must be a whole number.", where=where, key=key)
        ) from None
    if not low <= number <= high:
        raise SegmentError(
            _(
                "%(where)s: '%(key)s' must be between %(low)d and %(high)d.",
                where=where,
                key=key,
                low=low,
                high=high,
            )
        )
    return number


def _optional_number(node: dict, key: str, low: int, high: int, where: str) -> int | None:
    if node.get(key) in (None, ""):
        return None
    return _number(node, key, low, high, where)


def _ids(node: dict, key: str, where: str, required: bool = True) -> list[int]:
    values = node.get(key)
    if values in (None, "", []):
        if required:
            raise SegmentError(_("%(where)s: choose at least one.", where=where), incomplete=True)
        return []
    if not isinstance(values, list):
        values = [values]
    if len(values) > MAX_IDS:
        raise SegmentError(_("%(where)s: at most %(max)d may be chosen.", where=where, max=MAX_IDS))
    ids = []
    for value in values:
        if isinstance(value, bool):
            value = "not an id"
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise SegmentError(
                _("%(where)s: '%(value)s' is not an id.", where=where, value=str(value)[:40])
            ) from None
    return sorted(set(ids))


def _date(node: dict, key: str, where: str) -> str | None:
    value = node.get(key)
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise SegmentError(
            _("%(where)s: '%(value)s' is not a date.", where=where, value=str(value)[:40])
        ) from None


def _tag(node: dict, where: str) -> dict:
    return {
        "op": _choice(node, "op", ("has", "has_not"), where),
        "tag_ids": _ids(node, "tag_ids", where),
    }


VISIT_SOURCES = ("class_type", "course", "template", "series")


def _visits(node: dict, where: str) -> dict:
    clean = {
        "by": _choice(node, "by", VISIT_SOURCES, where),
        "ids": _ids(node, "ids", where),
        "match": _choice(node, "match", ("any", "all"), where),
        "within_days": _optional_number(node, "within_days", 1, MAX_DAYS, where),
        "from": _date(node, "from", where),
        "to": _date(node, "to", where),
    }
    if clean["from"] and clean["to"] and clean["from"] > clean["to"]:
        raise SegmentError(_("%(where)s: the window ends before it starts.", where=where))
    return clean


def _visit_count(node: dict, where: str) -> dict:
    return {
        "op": _choice(node, "op", ("at_least", "at_most", "exactly"), where),
        "count": _number(node, "count", 0, 10_000, where),
        "days": _number(node, "days", 1, MAX_DAYS, where),
    }


def _no_visit_since(node: dict, where: str) -> dict:
    since = _date(node, "date", where)
    days = _optional_number(node, "days", 1, MAX_DAYS, where)
    if since is None and days is None:
        raise SegmentError(
            _("%(where)s: enter a number of days or a date.", where=where), incomplete=True
        )
    visited_before = node.get("visited_before", True)
    if isinstance(visited_before, str):
        visited_before = visited_before.lower() not in ("", "0", "false", "no")
    return {"days": None if since else days, "date": since, "visited_before": bool(visited_before)}


PRODUCT_OPS = ("has_active", "has_no_active", "expired_within", "credits_at_most", "ever")


def _product(node: dict, where: str) -> dict:
    op = _choice(node, "op", PRODUCT_OPS, where)
    clean: dict[str, Any] = {"op": op, "product_ids": _ids(node, "product_ids", where, False)}
    if op == "expired_within":
        clean["days"] = _number(node, "days", 1, MAX_DAYS, where)
    if op == "credits_at_most":
        clean["credits"] = _number(node, "credits", 0, 10_000, where)
    return clean


def _days_only(node: dict, where: str) -> dict:
    return {"days": _number(node, "days", 1, MAX_DAYS, where)}


def _home_location(node: dict, where: str) -> dict:
    return {
        "op": _choice(node, "op", ("in", "not_in"), where),
        "location_ids": _ids(node, "location_ids", where),
    }


def _contact(node: dict, where: str) -> dict:
    return {
        "field": _choice(node, "field", ("email", "mobile"), where),
        "op": _choice(node, "op", ("has", "has_not"), where),
    }


CONSENT_FLAGS = {
    "marketing_email": Customer.marketing_email_opt_out,
    "transactional_email": Customer.transactional_email_opt_out,
    "marketing_sms": Customer.marketing_sms_opt_out,
    "all_sms": Customer.sms_stopped,
}


def _consent(node: dict, where: str) -> dict:
    return {
        "kind": _choice(node, "kind", tuple(CONSENT_FLAGS), where),
        "op": _choice(node, "op", ("subscribed", "unsubscribed"), where),
    }


CONDITION_TYPES: dict[str, Callable[[dict, str], dict]] = {
    "tag": _tag,
    "visits": _visits,
    "visit_count": _visit_count,
    "no_visit_since": _no_visit_since,
    "product": _product,
    "first_visit": _days_only,
    "created": _days_only,
    "home_location": _home_location,
    "contact": _contact,
    "consent": _consent,
}


def parse_definition(raw: str | dict | None) -> dict:
    """The definition in its normal form (ids as sorted ints, numbers as ints).

    :raise SegmentError: malformed JSON, unknown condition type or operator, bad numbers.
    """
    if raw is None or raw == "":
        return {"match": "all", "conditions": []}
    if isinstance(raw, str):
        if len(raw) > 100_000:
            raise SegmentError(_("The segment definition is too long."))
        try:
            raw = json.loads(raw)
        except ValueError:
            raise SegmentError(_("The segment definition is not valid JSON.")) from None
    if not isinstance(raw, dict):
        raise SegmentError(_("The segment definition must be an object with 'conditions'."))
    counter = [0]
    return _group(raw, "", 1, counter)


def _group(node: dict, path: str, depth: int, counter: list[int]) -> dict:
    where = _("Group %(path)s", path=path) if path else _("The segment")
    match = node.get("match", "all")
    if match not in MATCHES:
        raise SegmentError(
            _(
                "%(where)s: unknown match '%(value)s' (allowed: all, any).",
                where=where,
                value=str(match)[:40],
            )
        )
    children = node.get("conditions", [])
    if not isinstance(children, list):
        raise SegmentError(_("%(where)s: 'conditions' must be a list.", where=where))
    if path and not children:
        raise SegmentError(
            _("%(where)s is empty: add a condition to it or remove it.", where=where),
            incomplete=True,
        )
    clean = []
    for index, child in enumerate(children, start=1):
        child_path = f"{path}.{index}" if path else str(index)
        if not isinstance(child, dict):
            raise SegmentError(_("%(where)s is not an object.", where=_where(child_path)))
        kind = child.get("type")
        if kind == "group":
            if depth >= MAX_DEPTH:
                raise SegmentError(
                    _(
                        "%(where)s: groups can be nested at most %(max)d levels deep.",
                        where=_where(child_path, "group"),
                        max=MAX_DEPTH - 1,
                    )
                )
            clean.append({"type": "group", **_group(child, child_path, depth + 1, counter)})
            continue
        counter[0] += 1
        if counter[0] > MAX_CONDITIONS:
            raise SegmentError(
                _("A segment can have at most %(max)d conditions.", max=MAX_CONDITIONS)
            )
        normaliser = CONDITION_TYPES.get(kind) if isinstance(kind, str) else None
        if normaliser is None:
            if kind in (None, ""):
                raise SegmentError(
                    _("%(where)s: choose what to filter by.", where=_where(child_path)),
                    incomplete=True,
                )
            raise SegmentError(
                _(
                    "%(where)s: unknown condition type '%(type)s'.",
                    where=_where(child_path),
                    type=str(kind)[:40],
                )
            )
        clean.append({"type": kind, **normaliser(child, _where(child_path, kind))})
    return {"match": match, "conditions": clean}


# The table each kind of id must exist in.
_REFERENCES = {
    ("tag", "tag_ids"): Tag,
    ("product", "product_ids"): Product,
    ("home_location", "location_ids"): Location,
}
_VISIT_REFERENCES = {
    "class_type": ClassType,
    "course": Course,
    "template": ClassTemplate,
    "series": RecurringSeries,
}


def check_references(definition: dict) -> dict:
    """:raise SegmentError: when a condition names a tag, course, product ... that does not exist."""
    for path, node in _walk(definition):
        if node["type"] == "visits":
            targets = [(_VISIT_REFERENCES[node["by"]], node["ids"])]
        else:
            targets = [
                (model, node[key])
                for (kind, key), model in _REFERENCES.items()
                if kind == node["type"]
            ]
        for model, ids in targets:
            if not ids:
                continue
            found = set(db.session.scalars(select(model.id).where(model.id.in_(ids))))
            missing = [i for i in ids if i not in found]
            if missing:
                raise SegmentError(
                    _(
                        "%(where)s: %(ids)s no longer exist(s).",
                        where=_where(path, node["type"]),
                        ids=", ".join(str(i) for i in missing[:10]),
                    )
                )
    return definition


def validate(raw: str | dict | None) -> dict:
    """Parse a posted definition and check every id it names; returns the normal form."""
    return check_references(parse_definition(raw))


def _walk(group: dict, path: str = "") -> Iterable[tuple[str, dict]]:
    for index, node in enumerate(group["conditions"], start=1):
        node_path = f"{path}.{index}" if path else str(index)
        if node["type"] == "group":
            yield from _walk(node, node_path)
        else:
            yield node_path, node


# --- Compiling to SQL ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    now: datetime
    today: date
    postgres: bool
    # Set when asking about one customer: every subquery is narrowed to them (profile page).
    customer_id: int | None = None

    def narrow(self, stmt: Select, column) -> Select:
        return stmt if self.customer_id is None else stmt.where(column == self.customer_id)

    def present(self, stmt: Select, column) -> ColumnElement[bool]:
        """The customer's id is among those `stmt` selects (a semi-join on both databases)."""
        return Customer.id.in_(self.narrow(stmt, column))

    def absent(self, stmt: Select, column) -> ColumnElement[bool]:
        """The customer's id is not among those `stmt` selects.

        SQLite evaluates NOT IN once into a temporary index. PostgreSQL only plans NOT EXISTS
        as an anti-join (NOT IN may run the subquery once per customer), so it gets that form.
        """
        stmt = self.narrow(stmt, column)
        if self.postgres:
            found = stmt.subquery()
            return ~exists(select(literal(1)).select_from(found).where(found.c[0] == Customer.id))
        return Customer.id.not_in(stmt)


def customer_condition(
    definition: dict, *, now: datetime | None = None, customer_id: int | None = None
) -> ColumnElement[bool]:
    """The segment as one boolean expression over `customers` (for a `WHERE`)."""
    now = now or utcnow()
    ctx = _Context(
        now=now,
        today=now.date(),
        postgres=db.session.get_bind().dialect.name == "postgresql",
        customer_id=customer_id,
    )
    return _compile_group(definition, ctx)


def _merged_visits(nodes: list[dict]) -> list[dict]:
    """In an OR, "visited any of A" or "visited any of B" (same window) is one condition on A+B.

    One subquery instead of several: the database reads the attendance summary once.
    """
    merged: dict[tuple, dict] = {}
    result = []
    for node in nodes:
        plain = node["type"] == "visits" and node["match"] == "any"
        if not plain or node["from"] or node["to"]:
            result.append(node)
            continue
        key = (node["by"], node["within_days"])
        if key in merged:
            merged[key]["ids"] = sorted(set(merged[key]["ids"]) | set(node["ids"]))
        else:
            merged[key] = {**node, "ids": list(node["ids"])}
            result.append(merged[key])
    return result


def _compile_group(group: dict, ctx: _Context) -> ColumnElement[bool]:
    parts = []
    nodes = group["conditions"]
    if group["match"] == "any":
        nodes = _merged_visits(nodes)
    for node in nodes:
        if node["type"] == "group":
            parts.append(_compile_group(node, ctx))
        else:
            parts.append(_COMPILERS[node["type"]](node, ctx))
    if not parts:
        return true()
    if len(parts) == 1:
        return parts[0]
    return and_(*parts) if group["match"] == "all" else or_(*parts)


def _attended(ctx: _Context, since: datetime | None = None, until: datetime | None = None):
    """Visits: attended bookings, within [since, until] when a window is given."""
    where = [Booking.status == BookingStatus.ATTENDED]
    if since is not None or until is not None:
        where.append(Booking.starts_at <= (until or ctx.now))
    if since is not None:
        where.append(Booking.starts_at >= since)
    return where


def _tag_sql(node: dict, ctx: _Context) -> ColumnElement[bool]:
    stmt = select(customer_tags.c.customer_id).where(customer_tags.c.tag_id.in_(node["tag_ids"]))
    if node["op"] == "has":
        return ctx.present(stmt, customer_tags.c.customer_id)
    return ctx.absent(stmt, customer_tags.c.customer_id)


_COURSE_COLUMN = {
    "class_type": Course.class_type_id,
    "template": Course.class_template_id,
    "series": Course.series_id,
}


def _visits_sql(node: dict, ctx: _Context) -> ColumnElement[bool]:
    """Attended any (or each) of the chosen courses, class types, templates or series.

    "Within the last N days" and no window at all are answered from the summaries
    (`class_type_attendance` for class types, `course_attendance` otherwise); a window with
    fixed dates reads the bookings themselves.
    """
    dated = bool(node["from"] or node["to"])
    since = until = None
    if node["within_days"] and not dated:
        since = ctx.now - timedelta(days=node["within_days"])
    if node["from"]:
        since = datetime.combine(date.fromisoformat(node["from"]), datetime.min.time())
    if node["to"]:
        end = datetime.combine(date.fromisoformat(node["to"]), datetime.min.time())
        until = min(end + timedelta(days=1), ctx.now)

    def courses(ids: list[int]):
        if node["by"] == "course":
            return ids
        return select(Course.id).where(_COURSE_COLUMN[node["by"]].in_(ids))

    def attended_any_of(ids: list[int]) -> ColumnElement[bool]:
        if dated:
            stmt = select(Booking.customer_id).where(
                *_attended(ctx, since, until), Booking.course_id.in_(courses(ids))
            )
            return ctx.present(stmt, Booking.customer_id)
        if node["by"] == "class_type":
            stmt = select(ClassTypeAttendance.customer_id).where(
                ClassTypeAttendance.class_type_id.in_(ids)
            )
            if since is not None:
                stmt = stmt.where(ClassTypeAttendance.last_visit_at >= since)
            return ctx.present(stmt, ClassTypeAttendance.customer_id)
        stmt = select(CourseAttendance.customer_id).where(
            CourseAttendance.course_id.in_(courses(ids))
        )
        if since is not None:
            stmt = stmt.where(CourseAttendance.last_visit_at >= since)
        return ctx.present(stmt, CourseAttendance.customer_id)

    if node["match"] == "any":
        return attended_any_of(node["ids"])
    return and_(*(attended_any_of([one]) for one in node["ids"]))


def _visit_count_sql(node: dict, ctx: _Context) -> ColumnElement[bool]:
    since = ctx.now - timedelta(days=node["days"])
    per_customer = (
        select(Booking.customer_id).where(*_attended(ctx, since)).group_by(Booking.customer_id)
    )
    count, op = node["count"], node["op"]
    if op == "at_least":
        if count <= 0:
            return true()
        return ctx.present(per_customer.having(func.count() >= count), Booking.customer_id)
    if op == "at_most":
        return ctx.absent(per_customer.having(func.count() > count), Booking.customer_id)
    if count == 0:
        return ctx.absent(per_customer, Booking.customer_id)
    return ctx.present(per_customer.having(func.count() == count), Booking.customer_id)


def _cutoff(ctx: _Context, days: int | None, on: str | None) -> datetime:
    if on:
        return datetime.combine(date.fromisoformat(on), datetime.min.time())
    return ctx.now - timedelta(days=days or 0)


def _no_visit_since_sql(node: dict, ctx: _Context) -> ColumnElement[bool]:
    """Lapsed: the last visit lies before the cutoff (optionally also customers who never came)."""
    cutoff = _cutoff(ctx, node["days"], node["date"])
    attendance = CustomerAttendance.customer_id
    if node["visited_before"]:
        lapsed = select(attendance).where(CustomerAttendance.last_visit_at < cutoff)
        return ctx.present(lapsed, attendance)
    recent = select(attendance).where(CustomerAttendance.last_visit_at >= cutoff)
    return ctx.absent(recent, attendance)


def _product_sql(node: dict, ctx: _Context) -> ColumnElement[bool]:
    where = []
    if node["product_ids"]:
        where.append(CustomerProduct.product_id.in_(node["product_ids"]))
    active = [
        CustomerProduct.status == ProductStatus.ACTIVE,
        CustomerProduct.starts_on <= ctx.today,
        or_(CustomerProduct.ends_on.is_(None), CustomerProduct.ends_on >= ctx.today),
    ]
    op = node["op"]
    if op in ("has_active", "has_no_active"):
        where += active
    elif op == "expired_within":
        where += [
            CustomerProduct.status.in_((ProductStatus.ACTIVE, ProductStatus.EXPIRED)),
            CustomerProduct.ends_on < ctx.today,
            CustomerProduct.ends_on >= ctx.today - timedelta(days=node["days"]),
        ]
    elif op == "credits_at_most":
        where += [
            *active,
            CustomerProduct.credits_left.is_not(None),
            CustomerProduct.credits_left <= node["credits"],
        ]
    stmt = select(CustomerProduct.customer_id).where(*where)
    if op == "has_no_active":
        return ctx.absent(stmt, CustomerProduct.customer_id)
    return ctx.present(stmt, CustomerProduct.customer_id)


def _first_visit_sql(node: dict, ctx: _Context) -> ColumnElement[bool]:
    cutoff = ctx.now - timedelta(days=node["days"])
    attendance = CustomerAttendance.customer_id
    newcomers = select(attendance).where(CustomerAttendance.first_visit_at >= cutoff)
    return ctx.present(newcomers, attendance)


def _created_sql(node: dict, ctx: _Context) -> ColumnElement[bool]:
    return Customer.created_at >= ctx.now - timedelta(days=node["days"])


def _home_location_sql(node: dict, ctx: _Context) -> ColumnElement[bool]:
    inside = Customer.home_location_id.in_(node["location_ids"])
    if node["op"] == "in":
        return inside
    return or_(Customer.home_location_id.is_(None), ~inside)


def _contact_sql(node: dict, ctx: _Context) -> ColumnElement[bool]:
    column = Customer.email if node["field"] == "email" else Customer.mobile
    present = and_(column.is_not(None), column != "")
    return present if node["op"] == "has" else ~present


def _consent_sql(node: dict, ctx: _Context) -> ColumnElement[bool]:
    opted_out = CONSENT_FLAGS[node["kind"]]
    return opted_out.is_(false()) if node["op"] == "subscribed" else opted_out.is_(true())


_COMPILERS: dict[str, Callable[[dict, _Context], ColumnElement[bool]]] = {
    "tag": _tag_sql,
    "visits": _visits_sql,
    "visit_count": _visit_count_sql,
    "no_visit_since": _no_visit_since_sql,
    "product": _product_sql,
    "first_visit": _first_visit_sql,
    "created": _created_sql,
    "home_location": _home_location_sql,
    "contact": _contact_sql,
    "consent": _consent_sql,
}


# --- Evaluating ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    count: int
    page: CustomerPage


def count_customers(definition: dict, scope: ColumnElement[bool]) -> int:
    condition = customer_condition(definition)
    return db.session.scalar(select(func.count()).select_from(Customer).where(scope, condition))


def preview(definition: dict, scope: ColumnElement[bool], page_size: int = 20) -> Preview:
    """The live count and the first page of matching customers (by name), in one query.

    The matching customers are collected once in a materialised CTE, then counted and cut to
    a page. Asked for "the first page by name" directly, both planners walk the name index and
    test the segment's subqueries customer by customer, which is far slower than evaluating
    the segment as a set.
    """
    matched = (
        select(Customer.id, Customer.last_name, Customer.first_name)
        .where(scope, customer_condition(definition))
        .cte("matched")
        .prefix_with("MATERIALIZED")
    )
    by_name = (matched.c.last_name, matched.c.first_name, matched.c.id)
    first = select(matched).order_by(*by_name).limit(page_size + 1).subquery()
    total = select(func.count()).select_from(matched).scalar_subquery().label("total")
    rows = db.session.execute(
        select(Customer, total)
        .join(first, first.c.id == Customer.id)
        .order_by(first.c.last_name, first.c.first_name, first.c.id)
    ).all()
    customers = [row[0] for row in rows[:page_size]]
    has_more = len(rows) > page_size
    count = rows[0].total if rows else 0
    return Preview(count, CustomerPage(customers, customers[-1].id if has_more else None))


def customer_ids(definition: dict, scope: ColumnElement[bool]) -> list[int]:
    """Every matching customer's id, in id order (the recipients of "Contact customers")."""
    condition = customer_condition(definition)
    return list(
        db.session.scalars(select(Customer.id).where(scope, condition).order_by(Customer.id))
    )


def ids_subquery(
    definition: dict, scope: ColumnElement[bool], *, materialized: bool = False
) -> Select:
    """`SELECT id` of the segment's customers, to filter other lists (a tab's customers, its inbox).

    `materialized` collects the segment once in a CTE first: for a list sorted by name, which
    the planner would otherwise walk testing the segment customer by customer. The inbox's
    thread list does better with the plain subquery, which both databases hash once.
    """
    members = select(Customer.id).where(scope, customer_condition(definition))
    if not materialized:
        return members
    matched = members.cte("segment_members").prefix_with("MATERIALIZED")
    return select(matched.c.id)


def definition_of(segment: Segment) -> dict:
    """A stored definition in normal form; ids deleted since it was saved simply match nothing."""
    return parse_definition(segment.definition)


def segments_containing(customer_id: int) -> list[Segment]:
    """The saved segments this customer is in (one narrow query per segment)."""
    result = []
    for segment in list_segments():
        try:
            condition = customer_condition(definition_of(segment), customer_id=customer_id)
        except SegmentError:
            continue
        if db.session.scalar(select(Customer.id).where(Customer.id == customer_id, condition)):
            result.append(segment)
    return result


# --- Saved segments -----------------------------------------------------------------------


def list_segments() -> list[Segment]:
    return list(db.session.scalars(select(Segment).order_by(Segment.position, Segment.id)))


def _clean_name(name: str, exclude_id: int | None = None) -> str:
    name = " ".join((name or "").split())[:MAX_NAME]
    if not name:
        raise SegmentError(_("Give the segment a name."), incomplete=True)
    clash = select(Segment.id).where(func.lower(Segment.name) == name.lower())
    if exclude_id is not None:
        clash = clash.where(Segment.id != exclude_id)
    if db.session.scalar(clash) is not None:
        raise SegmentError(
            _("A segment called '%(name)s' exists already.", name=name), incomplete=True
        )
    return name


def _next_position() -> int:
    return (db.session.scalar(select(func.max(Segment.position))) or 0) + 1


def create_segment(name: str, raw_definition: str | dict, created_by_id: int | None) -> Segment:
    """:raise SegmentError: bad name or definition; nothing is stored then."""
    definition = validate(raw_definition)
    segment = Segment(
        name=_clean_name(name),
        definition=json.dumps(definition),
        position=_next_position(),
        created_by_id=created_by_id,
    )
    db.session.add(segment)
    db.session.flush()
    return segment


def update_segment(segment: Segment, name: str, raw_definition: str | dict) -> Segment:
    definition = validate(raw_definition)
    segment.name = _clean_name(name, exclude_id=segment.id)
    segment.definition = json.dumps(definition)
    db.session.flush()
    return segment


def rename_segment(segment: Segment, name: str) -> Segment:
    segment.name = _clean_name(name, exclude_id=segment.id)
    db.session.flush()
    return segment


def duplicate_segment(segment: Segment, created_by_id: int | None) -> Segment:
    base = _("%(name)s (copy)", name=segment.name)[: MAX_NAME - 4]
    name, n = base, 2
    while db.session.scalar(select(Segment.id).where(func.lower(Segment.name) == name.lower())):
        name, n = f"{base} {n}", n + 1
    copy = Segment(
        name=name,
        definition=segment.definition,
        position=_next_position(),
        created_by_id=created_by_id,
    )
    db.session.add(copy)
    db.session.flush()
    return copy


def scheduled_uses(segment_id: int) -> list[str]:
    """Sends to this segment that have not gone out yet, described for the person deleting it."""
    now = utcnow()
    rows = db.session.execute(
        select(SendBatch.id, SendBatch.description, func.min(Delivery.next_attempt_at))
        .join(Message, Message.batch_id == SendBatch.id)
        .join(Delivery, Delivery.message_id == Message.id)
        .where(
            SendBatch.segment_id == segment_id,
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.next_attempt_at > now,
        )
        .group_by(SendBatch.id, SendBatch.description)
        .order_by(SendBatch.id)
    ).all()
    return [
        _(
            "the scheduled send #%(id)d '%(description)s' due %(due)s (UTC)",
            id=batch_id,
            description=description or _("without a description"),
            due=due.strftime("%Y-%m-%d %H:%M"),
        )
        for batch_id, description, due in rows
    ]


def delete_segment(segment: Segment) -> None:
    """:raise SegmentInUse: a scheduled send still goes to it; cancel or send that first."""
    uses = scheduled_uses(segment.id)
    if uses:
        raise SegmentInUse(
            _(
                "'%(name)s' cannot be deleted: it is used by %(uses)s.",
                name=segment.name,
                uses="; ".join(uses),
            ),
            uses,
        )
    db.session.delete(segment)
    db.session.flush()


def reorder_segments(ordered_ids: Sequence[int]) -> list[Segment]:
    """Store the tab order; every saved segment must be named exactly once.

    :raise SegmentError: an unknown, missing or repeated id (a stale page or a tampered post).
    """
    segments = {s.id: s for s in list_segments()}
    if len(set(ordered_ids)) != len(ordered_ids) or set(ordered_ids) != set(segments):
        raise SegmentError(_("The order does not match the saved segments: reload the page."))
    for position, segment_id in enumerate(ordered_ids, start=1):
        db.session.execute(
            update(Segment).where(Segment.id == segment_id).values(position=position)
        )
    db.session.expire_all()
    return list_segments()
