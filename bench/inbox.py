"""The inbox's first page with each filter on 100,000 threads and 1,000,000 messages, in process and under load.

    DATABASE_URL=sqlite:////tmp/seg.db .venv/bin/python bench/inbox.py [--load]
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/inbox_bench .venv/bin/python bench/inbox.py --load

Needs the customers of `flask demo seed --customers 100000` (seeded here when the database is
empty). When there are no threads yet it writes one thread per customer and 1,000,000 messages
(inbound and outbound, every kind and channel, over half a year) with bulk inserts. Then it
times `inbox.list_threads` for the first page (50 rows, as the page shows) with each filter;
the last line is `p50_ms=... p95_ms=...`. With `--load` it also serves the app with gunicorn
(2 workers) and requests inbox pages with wrk over 16 connections (`make bench-deps` installs
wrk), printing requests per second.
"""

import argparse
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("COMMSAPP_INSTANCE_DIR", "/tmp/commsapp-bench-instance")
os.environ.setdefault("SECRET_KEY", "inbox-bench-only-secret-key-0123456789")

from sqlalchemy import func, select, true  # noqa: E402

from commsapp import create_app  # noqa: E402
from commsapp.extensions import db  # noqa: E402
from commsapp.models import (  # noqa: E402
    Channel,
    Customer,
    Location,
    Message,
    Role,
    Segment,
    StaffUser,
    Tag,
    Thread,
)
from commsapp.models.base import utcnow  # noqa: E402
from commsapp.services import inbox, segments  # noqa: E402
from commsapp.services.bulk_insert import BulkLoader, timestamp  # noqa: E402
from commsapp.services.inbox import InboxFilters, MessageKind  # noqa: E402

PAGE = 50
MESSAGES = 1_000_000
BENCH_EMAIL = "inbox-bench@studio.example"
BENCH_PASSWORD = "inbox-bench-password"
MESSAGE_COLUMNS = (
    "id",
    "thread_id",
    "content_id",
    "direction",
    "channel",
    "category",
    "is_marketing",
    "audience_size",
    "origin",
    "location_id",
    "created_at",
)
CONTENT_COLUMNS = ("id", "subject", "body_html", "body_text", "sms_text", "created_at")
THREAD_COLUMNS = (
    "id",
    "customer_id",
    "location_id",
    "created_at",
    "last_message_at",
    "last_inbound_at",
    "last_outbound_at",
    "unread",
)
# (direction, category, origin, share): what a studio's threads are made of.
KINDS = (
    ("inbound", "manual", "", 0.22),
    ("outbound", "manual", "inbox", 0.16),
    ("outbound", "transactional", "transactional:booking_confirmation", 0.34),
    ("outbound", "transactional", "transactional:session_cancelled", 0.05),
    ("outbound", "marketing", "sequence:winback", 0.08),
    ("outbound", "marketing", "campaign", 0.07),
    ("outbound", "notification", "notification", 0.08),
)
CHANNELS = (("email", 0.7), ("sms", 0.2), ("in_app", 0.1))
TEXTS = (
    "Kann ich meine Buchung am Donnerstag auf Freitag verschieben?",
    "Danke, bis morgen!",
    "Ist im Kurs am Samstag noch ein Platz frei?",
    "Deine Buchung ist bestätigt. Wir freuen uns auf dich.",
    "Der Kurs fällt heute leider aus, die Lehrerin ist krank.",
    "Wir vermissen dich! Komm mit 20% Rabatt zurück.",
    "Neue Kurse im Herbst: Yoga am Morgen, Pilates für Einsteiger.",
)


def prepare() -> None:
    from flask_migrate import upgrade

    upgrade(revision="heads")
    if not db.session.scalar(select(func.count()).select_from(Customer)):
        from commsapp.services import demo_seed

        print("seeding 100,000 customers (flask demo seed) ...", flush=True)
        demo_seed.seed(customer_count=100_000, seed=1, admin_password="bench", progress=True)
    if not db.session.scalar(select(func.count()).select_from(Thread)):
        write_threads()
    if db.session.scalar(select(StaffUser.id).where(StaffUser.email == BENCH_EMAIL)) is None:
        user = StaffUser(name="Inbox Bench", email=BENCH_EMAIL, role=Role.ADMIN)
        user.set_password(BENCH_PASSWORD)
        db.session.add(user)
        db.session.commit()


def write_threads() -> None:
    """One thread per customer and MESSAGES messages, with the thread timestamps they imply."""
    started = time.perf_counter()
    rng = random.Random(5)
    now = utcnow()
    customers = db.session.execute(select(Customer.id, Customer.home_location_id)).all()
    kinds = [k[:3] for k in KINDS]
    kind_weights = [k[3] for k in KINDS]
    channels = [c for c, _ in CHANNELS]
    channel_weights = [w for _, w in CHANNELS]
    # Messages per thread: most threads are short, a few are long conversations.
    counts = [max(1, int(rng.expovariate(1 / (MESSAGES / len(customers))))) for _ in customers]
    scale = MESSAGES / sum(counts)
    counts = [max(1, round(c * scale)) for c in counts]
    counts[-1] += MESSAGES - sum(counts)
    threads, messages, contents = [], [], []
    shared = {}  # campaign contents are written once and shared, as a group send does
    message_id = content_id = 0
    for thread_id, ((customer_id, location_id), count) in enumerate(
        zip(customers, counts, strict=True), start=1
    ):
        last = {"inbound": None, "outbound": None}
        for _ in range(max(count, 1)):
            direction, category, origin = rng.choices(kinds, kind_weights)[0]
            channel = rng.choices(channels, channel_weights)[0]
            at = now - timedelta(seconds=rng.randrange(180 * 86400))
            key = (origin, channel)
            if category == "marketing" and key in shared:
                content = shared[key]
            else:
                content_id += 1
                body = rng.choice(TEXTS)
                contents.append(
                    (
                        content_id,
                        "" if channel != "email" else body[:40],
                        f"<p>{body}</p>" if channel != "sms" else "",
                        body if channel != "sms" else "",
                        body if channel == "sms" else "",
                        timestamp(at),
                    )
                )
                content = content_id
                if category == "marketing":
                    shared[key] = content
            message_id += 1
            messages.append(
                (
                    message_id,
                    thread_id,
                    content,
                    direction,
                    channel,
                    category,
                    category == "marketing",
                    1 if category in ("manual", "transactional") else 500,
                    origin,
                    location_id,
                    timestamp(at),
                )
            )
            if last[direction] is None or at > last[direction]:
                last[direction] = at
        stamps = [t for t in last.values() if t is not None]
        inbound, outbound = last["inbound"], last["outbound"]
        waiting = inbound is not None and (outbound is None or outbound < inbound)
        threads.append(
            (
                thread_id,
                customer_id,
                location_id,
                timestamp(min(stamps)),
                timestamp(max(stamps)),
                timestamp(inbound) if inbound else None,
                timestamp(outbound) if outbound else None,
                waiting and rng.random() < 0.35,
            )
        )
    connection = db.session.connection()
    with BulkLoader(connection) as loader:
        rebuild = loader.drop_indexes_and_foreign_keys(("threads", "messages"))
        loader.insert("message_contents", CONTENT_COLUMNS, contents)
        loader.insert("threads", THREAD_COLUMNS, threads)
        loader.insert("messages", MESSAGE_COLUMNS, messages)
        loader.execute_all(rebuild)
        loader.reset_sequences(("message_contents", "threads", "messages"))
    db.session.commit()
    BulkLoader(db.session.connection()).analyze()
    db.session.commit()
    print(
        f"wrote {len(threads):,} threads, {len(messages):,} messages, {len(contents):,} contents "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )


def bench_segment() -> Segment:
    segment = db.session.scalar(select(Segment).where(Segment.name == "Bench: VIP"))
    if segment is None:
        vip = db.session.scalar(select(Tag.id).where(Tag.name == "VIP")) or db.session.scalar(
            select(Tag.id)
        )
        condition = {"type": "tag", "op": "has", "tag_ids": [vip]}
        segment = segments.create_segment("Bench: VIP", {"conditions": [condition]}, None)
        db.session.commit()
    return segment


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def in_process(repeat: int) -> list[float]:
    segment = bench_segment()
    berlin = db.session.scalar(select(Location.id).order_by(Location.id))
    scope = Customer.home_location_id == berlin
    cases = {
        "no filter": (true(), InboxFilters()),
        "unread": (true(), InboxFilters(unread=True)),
        "unanswered": (true(), InboxFilters(unanswered=True)),
        "segment tab (tag VIP)": (true(), InboxFilters(segment=segment)),
        "search 'müller'": (true(), InboxFilters(query="müller")),
        "kind: transactional": (true(), InboxFilters(kind=MessageKind.TRANSACTIONAL)),
        "channel: sms, oldest first": (
            true(),
            InboxFilters(channel=Channel.SMS, oldest_first=True),
        ),
        "location-limited staff": (scope, InboxFilters()),
    }
    all_times = []
    for name, (where, filters) in cases.items():
        inbox.list_threads(where, filters, None, PAGE)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            page = inbox.list_threads(where, filters, None, PAGE)
            times.append((time.perf_counter() - started) * 1000)
        db.session.rollback()
        all_times += times
        print(
            f"  {name:<30} {len(page.rows):>3} rows  p50 {statistics.median(times):6.1f} ms"
            f"  p95 {percentile(times, 0.95):6.1f} ms"
        )
    print(
        f"in-process p50_ms={percentile(all_times, 0.5):.1f} p95_ms={percentile(all_times, 0.95):.1f}"
    )
    return all_times


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sign_in(port: int) -> str:
    """The session cookie of the bench admin, signed in through the login form."""
    conn = HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/login")
    response = conn.getresponse()
    body = response.read().decode()
    cookie = response.getheader("Set-Cookie", "").split(";")[0]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', body) or re.search(
        r'name="csrf-token" content="([^"]+)"', body
    )
    form = urlencode(
        {"email": BENCH_EMAIL, "password": BENCH_PASSWORD, "csrf_token": token.group(1)}
    )
    conn.request(
        "POST",
        "/login",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    response = conn.getresponse()
    response.read()
    if response.status != 302:
        raise SystemExit(f"bench sign-in failed with {response.status}")
    return response.getheader("Set-Cookie", "").split(";")[0] or cookie


def under_load(seconds: float, clients: int, segment_id: int) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SECURE_COOKIES": "0",
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"),
        "LOGIN_MAX_FAILURES": "1000",
    }
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "app:create_app()",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        cookie = sign_in(port)
        paths = [
            "/inbox",
            "/inbox?unread=1",
            "/inbox?unanswered=1",
            f"/inbox?segment={segment_id}",
            "/inbox?q=m%C3%BCller",
        ]
        # wrk (C, `make bench-deps`) as the load: Python clients would take the CPU the two
        # gunicorn workers are measured on.
        script = Path(tempfile.mkdtemp(prefix="inbox-bench-")) / "paths.lua"
        script.write_text(
            "local paths = {" + ", ".join(f'"{p}"' for p in paths) + "}\n"
            "local n = 0\n"
            f'wrk.headers["Cookie"] = "{cookie}"\n'
            'wrk.headers["HX-Request"] = "true"\n'
            "request = function()\n"
            "  n = n + 1\n"
            '  return wrk.format("GET", paths[(n % #paths) + 1])\n'
            "end\n"
        )
        done = subprocess.run(
            ["wrk", "-t", "2", "-c", str(clients), "-d", f"{seconds:.0f}s", "--latency"]
            + ["-s", str(script), f"http://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            check=True,
        )
        report = done.stdout
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1))
        p50 = re.search(r"50%\s+(\S+)", report).group(1)
        p99 = re.search(r"99%\s+(\S+)", report).group(1)
        failed = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
        socket_errors = re.search(r"Socket errors: (.*)", report)
        print(
            f"under load (gunicorn -w 2, wrk with {clients} connections, {seconds:.0f} s, htmx "
            f"fragments of {len(paths)} filters): {rate:.0f} requests/s, latency p50 {p50} "
            f"p99 {p99}, {failed.group(1) if failed else 0} failed responses"
            + (f", socket errors: {socket_errors.group(1)}" if socket_errors else "")
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--load", action="store_true", help="also measure under load")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--skip-in-process", action="store_true", help="only the load test")
    args = parser.parse_args()
    app = create_app()
    with app.app_context():
        prepare()
        threads = db.session.scalar(select(func.count()).select_from(Thread))
        messages = db.session.scalar(select(func.count()).select_from(Message))
        print(f"{db.engine.dialect.name}: {threads:,} threads, {messages:,} messages")
        times = [] if args.skip_in_process else in_process(args.repeat)
        segment_id = bench_segment().id
    if args.load:
        under_load(args.seconds, args.clients, segment_id)
    if times:
        print(f"p50_ms={percentile(times, 0.5):.1f} p95_ms={percentile(times, 0.95):.1f}")


if __name__ == "__main__":
    main()
