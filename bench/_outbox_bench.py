"""Shared plumbing for the outbox benches: settings, a fresh database, customers, workers and sinks."""

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/commsapp_sendbench"
SECRET_KEY = "sendbench-only-secret-key-0123456789abcdef"
SMTP_SINK = "/usr/sbin/smtp-sink"

SUBJECT = "Neue Kurse im Herbst, {{first_name}}"
BODY_HTML = (
    "<p>Hallo {{first_name}},</p>"
    "<p>ab dem 1. Oktober gibt es bei uns <strong>drei neue Kurse</strong>: Yoga am Morgen, "
    "Pilates für Einsteiger und einen Töpferkurs am Wochenende. Die ersten zehn Anmeldungen "
    "bekommen eine Probestunde gratis.</p>"
    "<ul><li>Yoga: montags und mittwochs, 7:00 bis 8:00</li>"
    "<li>Pilates: dienstags, 18:30 bis 19:30</li>"
    "<li>Töpfern: samstags, 10:00 bis 13:00</li></ul>"
    '<p>Alle Termine und Preise findest du auf <a href="https://studio.example.com/kurse">'
    "unserer Seite</a>. Wir freuen uns auf dich!</p>"
    "<p>Viele Grüße<br>{{business_name}}</p>"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing is listening on 127.0.0.1:{port}")


def configure(database: str, instance_dir: Path, **settings: object) -> dict[str, str]:
    """Point this process at the bench's database, Redis and sink; returns the env for workers.

    Must run before anything from commsapp is imported: the config reads the environment then.
    """
    shutil.rmtree(instance_dir, ignore_errors=True)
    instance_dir.mkdir(parents=True)
    url = PG_URL if database == "postgres" else f"sqlite:///{instance_dir / 'commsapp.db'}"
    env = {
        "DATABASE_URL": url,
        "COMMSAPP_INSTANCE_DIR": str(instance_dir),
        "SECRET_KEY": SECRET_KEY,
        "MAIL_FROM": "studio@bench.example.com",
        "PUBLIC_BASE_URL": "https://studio.example.com",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_SECURITY": "none",
    }
    env.update({name: str(value) for name, value in settings.items()})
    os.environ.update(env)
    return dict(os.environ)


def fresh_schema(env: dict[str, str]) -> None:
    """An empty database built by the migrations, as `flask db upgrade` does in production."""
    url = env["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for leftover in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        ):
            leftover.unlink(missing_ok=True)
    else:
        from sqlalchemy import create_engine, make_url, text

        name = make_url(url).database
        server = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with server.connect() as connection:
            if not connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ):
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        server.dispose()
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade", "heads"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode:
        raise SystemExit(f"flask db upgrade failed:\n{done.stdout}{done.stderr}")


def seed_customers(count: int) -> list[int]:
    """`count` customers with valid addresses, and settings that allow a send to all of them.

    Runs inside an app context.
    """
    from commsapp.extensions import db
    from commsapp.models import BusinessSettings
    from commsapp.services.bulk_insert import BulkLoader

    settings = BusinessSettings.get()
    settings.name = "Studio Lotus"
    settings.address = "Torstraße 1, 10119 Berlin"
    settings.contact_email = "hallo@bench.example.com"
    settings.marketing_suite_enabled = True
    # The abuse guard would lock a bench that sends 100,000 messages to 100,000 customers.
    settings.messaging_lock_exempt = True
    db.session.commit()
    now = datetime.now(UTC).replace(tzinfo=None)
    columns = ("id", "first_name", "last_name", "email", "language", "portal_access", "notes")
    columns += ("marketing_email_opt_out", "transactional_email_opt_out")
    columns += ("marketing_sms_opt_out", "sms_stopped", "created_at")
    rows = (
        (i, f"Kim{i}", f"Muster{i}", f"kunde{i}@example.org", "de", False, "")
        + (False, False, False, False, now)
        for i in range(1, count + 1)
    )
    loader = BulkLoader(db.session.connection())
    loader.insert("customers", columns, rows)
    loader.reset_sequences(["customers"])
    db.session.commit()
    loader = BulkLoader(db.session.connection())
    loader.analyze()
    db.session.commit()
    return list(range(1, count + 1))


def marketing_email():
    from commsapp.models import Category, Channel
    from commsapp.services.outbox import MessageSpec

    return MessageSpec(
        category=Category.MARKETING,
        channel=Channel.EMAIL,
        subject=SUBJECT,
        body_html=BODY_HTML,
        is_marketing=True,
        description="bench",
    )


def status_counts(engine) -> dict[str, int]:
    """Deliveries by status, read on a fresh connection so no snapshot hides new rows."""
    from sqlalchemy import text

    with engine.connect() as connection:
        rows = connection.execute(text("SELECT status, count(*) FROM deliveries GROUP BY status"))
        return {str(status): count for status, count in rows}


def wait_until(
    done: Callable[[], bool], timeout: float, interval: float = 0.2, on_tick=None
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        if on_tick is not None:
            on_tick()
        time.sleep(interval)
    return done()


def children_cpu_seconds() -> float:
    """User and system CPU of every child process this one has waited for (and their waited children)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU a running process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_process(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """A child in its own session, so every process it forks can be found and ended with it."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def start_worker(env: dict[str, str], log_dir: Path, number: int) -> subprocess.Popen:
    return start_process([sys.executable, "worker.py"], env, log_dir / f"worker-{number}.log")


def session_members(session_id: int) -> list[int]:
    """Every live process of a session: a worker, its work horse and scheduler, orphans too."""
    out = subprocess.run(
        ["ps", "-e", "-o", "pid=,sid=,stat="], capture_output=True, text=True, check=True
    ).stdout
    members = []
    for line in out.splitlines():
        pid, sid, stat = line.split(maxsplit=2)
        if int(sid) == session_id and not stat.startswith("Z"):
            members.append(int(pid))
    return members


def children_of(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "--ppid", str(pid), "-o", "pid=,stat="], capture_output=True, text=True
    ).stdout
    return [
        int(line.split()[0]) for line in out.splitlines() if not line.split()[1].startswith("Z")
    ]


def end_session(process: subprocess.Popen, grace: float = 3.0) -> None:
    """SIGTERM (RQ's warm shutdown), then SIGKILL for whatever of the session is still there."""
    session = process.pid
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    deadline = time.monotonic() + 5
    while (members := session_members(session)) and time.monotonic() < deadline:
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    if process.poll() is None:
        process.kill()
    process.wait(5)


def start_smtp_sink(port: int, log_path: Path) -> subprocess.Popen:
    """Postfix's smtp-sink: counts and discards, fast enough never to be the bottleneck."""
    if not Path(SMTP_SINK).exists():
        raise SystemExit(f"{SMTP_SINK} is missing: run `make bench-deps`")
    args = [SMTP_SINK, "-c"]
    if os.geteuid() == 0:
        args += ["-u", "nobody"]
    return _listening(
        start_process(args + [f"127.0.0.1:{port}", "1000"], dict(os.environ), log_path), port
    )


def _listening(server: subprocess.Popen, port: int) -> subprocess.Popen:
    """`server` once it accepts connections; ended if it never does."""
    try:
        wait_for_port(port)
    except RuntimeError:
        end_session(server)
        raise
    return server


def smtp_sink_messages(log_path: Path) -> int:
    """The last `mesg=` counter smtp-sink -c printed."""
    text = log_path.read_text(errors="replace")
    counters = [part for part in text.replace("\r", "\n").split() if part.startswith("mesg=")]
    return int(counters[-1].split("=", 1)[1]) if counters else 0


def start_recording_sink(port: int, record: Path, log_path: Path) -> subprocess.Popen:
    """An aiosmtpd sink in its own process that appends every Message-ID it accepts to `record`."""
    args = [sys.executable, str(Path(__file__).resolve()), "record-sink", str(port), str(record)]
    return _listening(start_process(args, dict(os.environ), log_path), port)


def recorded_message_ids(record: Path) -> list[str]:
    return record.read_text().split() if record.exists() else []


def _record_message_ids(port: int, record: Path) -> None:
    import re
    import threading

    from aiosmtpd.controller import Controller

    message_id = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)

    with open(record, "a") as out:

        class Recorder:
            async def handle_DATA(self, server, session, envelope) -> str:
                headers = envelope.content.split(b"\r\n\r\n", 1)[0]
                found = message_id.search(headers)
                # Written and flushed before the 250 reply: what the client saw accepted is on disk.
                out.write((found.group(1).decode() if found else "<none>") + "\n")
                out.flush()
                return "250 OK"

        controller = Controller(Recorder(), hostname="127.0.0.1", port=port)
        controller.start()
        threading.Event().wait()


if __name__ == "__main__":
    if sys.argv[1:2] == ["record-sink"]:
        _record_message_ids(int(sys.argv[2]), Path(sys.argv[3]))
