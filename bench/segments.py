"""Segment evaluation on demo data: count + first page for five realistic segments, SQL versus Python.

    DATABASE_URL=sqlite:////tmp/seg.db .venv/bin/python bench/segments.py
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/inbox_bench .venv/bin/python bench/segments.py

An empty database is first filled with `flask demo seed --customers 100000` (about 2M
bookings; `--customers N` changes that). Each segment is evaluated `--repeat` times as the
builder does it (count, then the first page of 50 by name); the naive way loads customers,
tags, bookings and products into Python and filters there, once per segment, and must find
the same customers. The last line is `p50_ms=... p95_ms=... naive_ratio=...`.
"""

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("COMMSAPP_INSTANCE_DIR", "/tmp/commsapp-bench-instance")

from sqlalchemy import func, select, true  # noqa: E402

from commsapp import create_app  # noqa: E402
from commsapp.extensions import db  # noqa: E402
from commsapp.models import (  # noqa: E402
    Booking,
    BookingStatus,
    ClassType,
    Course,
    CourseAttendance,
    Customer,
    CustomerProduct,
    Product,
    ProductKind,
    ProductStatus,
    Tag,
    customer_tags,
)
from commsapp.models.base import utcnow  # noqa: E402
from commsapp.services import segments  # noqa: E402

PAGE = 50


def prepare(customers: int) -> None:
    from flask_migrate import upgrade

    upgrade(revision="heads")
    if db.session.scalar(select(func.count()).select_from(Customer)):
        return
    from commsapp.services import demo_seed

    print(f"seeding {customers} customers (flask demo seed) ...", flush=True)
    print(demo_seed.seed(customer_count=customers, seed=1, admin_password="bench", progress=True))


def realistic_segments() -> dict[str, dict]:
    """Five segments a studio would build, with ids picked from the data."""
    tags = {t.name: t.id for t in db.session.scalars(select(Tag))}
    tag_ids = sorted(tags.values())
    tag_a = tags.get("Stammkunde", tag_ids[0])
    tag_b = tags.get("Mitglied", tag_ids[1])
    memberships = list(
        db.session.scalars(select(Product.id).where(Product.kind == ProductKind.MEMBERSHIP))
    )
    packages = list(
        db.session.scalars(select(Product.id).where(Product.kind == ProductKind.CREDIT_PACKAGE))
    )
    # The two courses (of the 40 with most customers) that most customers attended both of.
    top = (
        select(CourseAttendance.course_id)
        .group_by(CourseAttendance.course_id)
        .order_by(func.count().desc(), CourseAttendance.course_id)
        .limit(40)
    )
    first, second = CourseAttendance.__table__.alias(), CourseAttendance.__table__.alias()
    course_x, course_y = db.session.execute(
        select(first.c.course_id, second.c.course_id)
        .join(second, second.c.customer_id == first.c.customer_id)
        .where(
            first.c.course_id < second.c.course_id,
            first.c.course_id.in_(top),
            second.c.course_id.in_(top),
        )
        .group_by(first.c.course_id, second.c.course_id)
        .order_by(func.count().desc(), first.c.course_id, second.c.course_id)
        .limit(1)
    ).one()
    class_types = list(db.session.scalars(select(ClassType.id).order_by(ClassType.id).limit(3)))

    def visits_of(class_type: int) -> dict:
        return {"type": "visits", "by": "class_type", "ids": [class_type], "match": "any"}

    return {
        ">=5 visits in 30 days, no active membership": {
            "match": "all",
            "conditions": [
                {"type": "visit_count", "op": "at_least", "count": 5, "days": 30},
                {"type": "product", "op": "has_no_active", "product_ids": memberships},
            ],
        },
        "tag A and not tag B": {
            "match": "all",
            "conditions": [
                {"type": "tag", "op": "has", "tag_ids": [tag_a]},
                {"type": "tag", "op": "has_not", "tag_ids": [tag_b]},
            ],
        },
        "attended both course X and course Y": {
            "match": "all",
            "conditions": [
                {"type": "visits", "by": "course", "ids": [course_x, course_y], "match": "all"}
            ],
        },
        "lapsed 60 days, had a package": {
            "match": "all",
            "conditions": [
                {"type": "no_visit_since", "days": 60},
                {"type": "product", "op": "ever", "product_ids": packages},
            ],
        },
        "an OR of three class types": {
            "match": "any",
            "conditions": [visits_of(c) for c in class_types],
        },
    }


def sql_once(definition: dict) -> tuple[float, int, list[int]]:
    started = time.perf_counter()
    result = segments.preview(definition, true(), page_size=PAGE)
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, result.count, [c.id for c in result.page.customers]


class Naive:
    """Everything loaded into Python, then filtered customer by customer."""

    def __init__(self, now) -> None:
        self.now = now
        self.customers = db.session.execute(
            select(Customer.id, Customer.last_name, Customer.first_name)
        ).all()
        self.tags = defaultdict(set)
        for customer_id, tag_id in db.session.execute(select(customer_tags)):
            self.tags[customer_id].add(tag_id)
        course_type = dict(db.session.execute(select(Course.id, Course.class_type_id)).all())
        self.visits = defaultdict(list)
        for customer_id, course_id, starts_at in db.session.execute(
            select(Booking.customer_id, Booking.course_id, Booking.starts_at).where(
                Booking.status == BookingStatus.ATTENDED
            )
        ):
            self.visits[customer_id].append((course_id, course_type[course_id], starts_at))
        self.products = defaultdict(list)
        for row in db.session.execute(
            select(
                CustomerProduct.customer_id,
                CustomerProduct.product_id,
                CustomerProduct.status,
                CustomerProduct.starts_on,
                CustomerProduct.ends_on,
            )
        ):
            self.products[row[0]].append(row[1:])

    def matches(self, customer_id: int, node: dict) -> bool:
        if "conditions" in node and node.get("type", "group") == "group":
            results = (self.matches(customer_id, child) for child in node["conditions"])
            return all(results) if node["match"] == "all" else any(results)
        now, today = self.now, self.now.date()
        visits = [v for v in self.visits[customer_id] if v[2] <= now]
        kind = node["type"]
        if kind == "tag":
            has = bool(self.tags[customer_id] & set(node["tag_ids"]))
            return has if node["op"] == "has" else not has
        if kind == "visit_count":
            since = now - timedelta(days=node["days"])
            return sum(1 for v in visits if v[2] >= since) >= node["count"]
        if kind == "visits":
            column = 0 if node["by"] == "course" else 1
            seen = {v[column] for v in visits}
            wanted = set(node["ids"])
            return wanted <= seen if node["match"] == "all" else bool(wanted & seen)
        if kind == "no_visit_since":
            cutoff = now - timedelta(days=node["days"])
            return any(v[2] < cutoff for v in visits) and not any(v[2] >= cutoff for v in visits)
        if kind == "product":
            chosen = set(node["product_ids"])
            owned = [p for p in self.products[customer_id] if not chosen or p[0] in chosen]
            if node["op"] == "ever":
                return bool(owned)
            active = any(
                p[1] == ProductStatus.ACTIVE and p[2] <= today and (p[3] is None or p[3] >= today)
                for p in owned
            )
            return not active if node["op"] == "has_no_active" else active
        raise ValueError(kind)

    def evaluate(self, definition: dict) -> tuple[int, list[int]]:
        matching = [c for c in self.customers if self.matches(c.id, definition)]
        matching.sort(key=lambda c: (c.last_name, c.first_name, c.id))
        return len(matching), [c.id for c in matching[:PAGE]]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    app = create_app()
    with app.app_context():
        prepare(args.customers)
        engine = db.engine.dialect.name
        total = db.session.scalar(select(func.count()).select_from(Customer))
        bookings = db.session.scalar(select(func.count()).select_from(Booking))
        print(f"{engine}: {total:,} customers, {bookings:,} bookings")
        all_times: list[float] = []
        sql_medians, naive_times = [], []
        for name, raw in realistic_segments().items():
            definition = segments.validate(raw)
            sql_once(definition)  # warm the cache, as a second look at the builder would
            times = []
            for _ in range(args.repeat):
                elapsed, count, first_page = sql_once(definition)
                times.append(elapsed)
            started = time.perf_counter()
            naive = Naive(utcnow())
            naive_count, naive_page = naive.evaluate(definition)
            naive_ms = (time.perf_counter() - started) * 1000
            db.session.rollback()
            if (naive_count, naive_page) != (count, first_page):
                raise SystemExit(f"{name}: SQL found {count}, Python {naive_count}: they disagree")
            all_times += times
            sql_medians.append(statistics.median(times))
            naive_times.append(naive_ms)
            print(
                f"  {name:<45} {count:>7,} customers  sql p50 {statistics.median(times):7.1f} ms"
                f"  p95 {percentile(times, 0.95):7.1f} ms  naive {naive_ms:8.0f} ms"
            )
        ratio = sum(naive_times) / sum(sql_medians)
        print(
            f"p50_ms={percentile(all_times, 0.5):.1f} p95_ms={percentile(all_times, 0.95):.1f} "
            f"naive_ratio={ratio:.0f}"
        )


if __name__ == "__main__":
    main()
