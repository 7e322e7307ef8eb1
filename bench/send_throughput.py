"""Emails per second through the outbox and two RQ workers to Postfix's smtp-sink, against plain smtplib."""

import argparse
import math
import multiprocessing
import os
import smtplib
import sys
import tempfile
import time
from pathlib import Path

# The package is not necessarily installed in the venv, so import it from this checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _outbox_bench as bench  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/9"
QUEUE = "sendbench"
WORKERS = 2
OUTBOX_RECIPIENTS = 100_000
SWEEP_INTERVAL_SECONDS = 1

# Filled before the raw loops fork, so the children inherit the messages instead of pickling them.
_raw_messages: list = []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, help="SEND_BATCH_SIZE (default: the app's)")
    args = parser.parse_args()
    if args.batch_size:
        os.environ["SEND_BATCH_SIZE"] = str(args.batch_size)
    recipients = args.recipients
    logs = Path(tempfile.mkdtemp(prefix="sendbench-logs-"))
    port = bench.free_port()
    env = bench.configure(
        args.database,
        Path(f"/tmp/sendbench-{args.database}"),
        REDIS_URL=REDIS_URL,
        RQ_QUEUE=QUEUE,
        SMTP_PORT=port,
        SWEEP_INTERVAL_SECONDS=SWEEP_INTERVAL_SECONDS,
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"database={args.database} recipients={recipients} workers={WORKERS} "
        f"batch_size={os.environ.get('SEND_BATCH_SIZE', 'default')} logs={logs}"
    )
    print(f"load average before the run: {load} on {os.cpu_count()} CPUs")

    from redis import Redis

    from commsapp import create_app
    from commsapp.extensions import db

    app = create_app()
    batch_size = app.config["SEND_BATCH_SIZE"]
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    sink = None
    workers = []
    try:
        sink = bench.start_smtp_sink(port, logs / "smtp-sink.log")
        outbox_100k_s, own_cpu, database_cpu = _time_outbox(app, env, OUTBOX_RECIPIENTS)
        redis.flushdb()
        print(
            f"outbox_100k: send() to {OUTBOX_RECIPIENTS:,} customers, jobs queued: "
            f"{outbox_100k_s:.2f} s; CPU: this process {own_cpu:.2f} s"
            + (f", its PostgreSQL backend {database_cpu:.2f} s" if database_cpu else "")
        )

        bench.fresh_schema(env)
        with app.app_context():
            ids = bench.seed_customers(recipients)
            started = time.perf_counter()
            result = _send(ids)
            print(
                f"outbox: send() to {recipients:,} customers: {time.perf_counter() - started:.2f} s, "
                f"{result.queued} deliveries queued in {math.ceil(result.queued / batch_size)} jobs"
            )
            db.session.remove()
            sink_before = bench.smtp_sink_messages(logs / "smtp-sink.log")

            cpu_before = bench.children_cpu_seconds()
            started = time.perf_counter()
            workers = [bench.start_worker(env, logs, n) for n in range(WORKERS)]

            def all_sent() -> bool:
                return bench.status_counts(db.engine).get("sent", 0) == recipients

            finished = bench.wait_until(all_sent, timeout=max(120.0, recipients / 20))
            elapsed = time.perf_counter() - started
            for worker in workers:
                bench.end_session(worker)
            workers = []
            worker_cpu = bench.children_cpu_seconds() - cpu_before
            counts = bench.status_counts(db.engine)
            time.sleep(0.5)  # smtp-sink prints its counters as sessions end
            at_sink = bench.smtp_sink_messages(logs / "smtp-sink.log") - sink_before
            print(
                f"workers: {counts} after {elapsed:.2f} s"
                f"{'' if finished else ' (TIME LIMIT)'}; the sink received {at_sink}"
            )
            connections = math.ceil(recipients / batch_size)
            _build_raw_messages(recipients)
        msgs_per_s = counts.get("sent", 0) / elapsed

        sink_before = bench.smtp_sink_messages(logs / "smtp-sink.log")
        cpu_before = bench.children_cpu_seconds()
        raw_s = _raw_send(port, connections, _compose_and_send_loop)
        raw_cpu = bench.children_cpu_seconds() - cpu_before
        wire_s = _raw_send(port, connections, _wire_only_loop)
        time.sleep(0.5)
        at_sink = bench.smtp_sink_messages(logs / "smtp-sink.log") - sink_before
        raw_msgs_per_s = recipients / raw_s
        print(
            f"raw: {recipients} messages in {WORKERS} smtplib loops over {connections} connections, "
            f"each built with email.message.EmailMessage and sent with send_message: {raw_s:.2f} s"
        )
        print(
            f"wire only: the same messages as ready-made bytes through smtplib.sendmail: "
            f"{wire_s:.2f} s ({recipients / wire_s:.0f} msgs/s); the sink received {at_sink} "
            f"in both"
        )
        # Comparable when other work shares the machine: the database's and the sink's CPU excluded.
        print(
            f"cpu per message: workers {worker_cpu / recipients * 1000:.2f} ms "
            f"(work horses and the sweeps included), raw loops {raw_cpu / recipients * 1000:.2f} ms"
        )
    finally:
        for worker in workers:
            bench.end_session(worker)
        if sink is not None:
            bench.end_session(sink)
        redis.flushdb()
    print(
        f"msgs_per_s={msgs_per_s:.1f} raw_msgs_per_s={raw_msgs_per_s:.1f} "
        f"ratio={msgs_per_s / raw_msgs_per_s:.2f} outbox_100k_s={outbox_100k_s:.2f}"
    )
    return 0


def _send(customer_ids: list[int]):
    from commsapp.services import outbox

    return outbox.send(bench.marketing_email(), customer_ids)


def _time_outbox(app, env: dict[str, str], count: int) -> tuple[float, float, float]:
    """One send() to `count` customers who have no thread yet, the queueing included.

    Returns its seconds, and the CPU seconds of this process and of its PostgreSQL backend
    (0 on SQLite), which other load on the machine does not inflate.
    """
    from commsapp.extensions import db

    bench.fresh_schema(env)
    with app.app_context():
        ids = bench.seed_customers(count)
        backend = None
        if db.engine.dialect.name == "postgresql":
            # send() runs in the transaction this opens, on the same connection.
            backend = db.session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        database_before = bench.process_cpu_seconds(backend) if backend else 0.0
        own_before = time.process_time()
        started = time.perf_counter()
        _send(ids)
        elapsed = time.perf_counter() - started
        own_cpu = time.process_time() - own_before
        database_cpu = bench.process_cpu_seconds(backend) - database_before if backend else 0.0
        db.session.remove()
        db.engine.dispose()
    return elapsed, own_cpu, database_cpu


def _build_raw_messages(count: int) -> None:
    """What the workers sent to every customer, under unused delivery ids, and its parts.

    The raw loops get the headers, text and HTML, as a plain script would have them, and
    build each message with the standard library while sending, as such a script does.
    """
    import email
    import email.policy

    from sqlalchemy import select

    from commsapp.extensions import db
    from commsapp.models import BusinessSettings, Customer, MessageContent
    from commsapp.services.consent import Audience
    from commsapp.services.email_compose import EmailLayout, EmailRecipient
    from commsapp.services.outbox import _sender

    content = db.session.scalars(select(MessageContent)).one()
    layout = EmailLayout(
        sender=_sender(BusinessSettings.get()),
        subject=content.subject,
        body_html=content.body_html,
        audience=Audience.MARKETING,
    )
    customers = db.session.execute(
        select(Customer.id, Customer.first_name, Customer.last_name, Customer.email)
        .order_by(Customer.id)
        .limit(count)
    ).all()
    _raw_messages[:] = []
    for number, customer in enumerate(customers):
        outgoing = layout.compose(10_000_000 + number, EmailRecipient(*customer))
        parsed = email.message_from_bytes(outgoing.data, policy=email.policy.default)
        headers = [
            (name, str(parsed[name]))
            for name in parsed
            if name not in ("MIME-Version", "Content-Type")
        ]
        text = parsed.get_body(("plain",)).get_content()
        html = parsed.get_body(("html",)).get_content()
        _raw_messages.append((outgoing, headers, text, html))


def _compose_and_send_loop(port: int, messages: range, connections: int, ready) -> None:
    from email.message import EmailMessage

    per_connection = math.ceil(len(messages) / connections)
    ready.wait()
    for start in range(0, len(messages), per_connection):
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
            for index in messages[start : start + per_connection]:
                _, headers, text, html = _raw_messages[index]
                message = EmailMessage()
                for name, value in headers:
                    message[name] = value
                message.set_content(text)
                message.add_alternative(html, subtype="html")
                smtp.send_message(message)


def _wire_only_loop(port: int, messages: range, connections: int, ready) -> None:
    per_connection = math.ceil(len(messages) / connections)
    ready.wait()
    for start in range(0, len(messages), per_connection):
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
            for index in messages[start : start + per_connection]:
                outgoing = _raw_messages[index][0]
                smtp.sendmail(outgoing.envelope_from, [outgoing.envelope_to], outgoing.data)


def _raw_send(port: int, connections: int, body) -> float:
    """Seconds for two plain smtplib loops to send all messages over `connections` connections."""
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(WORKERS + 1)
    count = len(_raw_messages)
    share = math.ceil(count / WORKERS)
    loops = [
        context.Process(
            target=body,
            args=(
                port,
                range(n * share, min(count, (n + 1) * share)),
                math.ceil(connections / WORKERS),
                ready,
            ),
        )
        for n in range(WORKERS)
    ]
    try:
        for loop in loops:
            loop.start()
        ready.wait(timeout=30)
        started = time.perf_counter()
        for loop in loops:
            loop.join(timeout=300)
        elapsed = time.perf_counter() - started
        if any(loop.exitcode != 0 for loop in loops):
            raise SystemExit(f"a raw loop failed: exit codes {[loop.exitcode for loop in loops]}")
        return elapsed
    finally:
        for loop in loops:
            if loop.is_alive():
                loop.kill()
                loop.join()


if __name__ == "__main__":
    sys.exit(main())
