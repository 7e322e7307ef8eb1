"""Kill -9 workers and stop Redis during a 5,000-email send; count at the sink what was lost or sent twice."""

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

# The package is not necessarily installed in the venv, so import it from this checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _outbox_bench as bench  # noqa: E402

QUEUE = "crashbench"
WORKERS = 2
RESTART_AFTER_SECONDS = 1.0  # what systemd's RestartSec would be
MAX_RESTARTS = 40
REDIS_DOWN_SECONDS = 10.0
TIME_LIMIT_SECONDS = 300.0
FINAL = ("sent", "failed", "skipped")
# (share of the deliveries sent, what happens then); kills alternate between the two kinds.
EVENTS = [
    (0.10, "kill work horse"),
    (0.30, "stop redis"),
    (0.55, "kill worker"),
    (0.80, "kill work horse"),
]


class Supervisor:
    """Keeps WORKERS worker processes running, restarting any that died, as systemd would."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.every: list[subprocess.Popen] = []
        self.slots: list[subprocess.Popen] = []
        self.died_at: dict[int, float] = {}
        self.restarts: list[str] = []

    def start(self) -> None:
        self.slots = [self._spawn() for _ in range(WORKERS)]

    def _spawn(self) -> subprocess.Popen:
        worker = bench.start_worker(self.env, self.logs, len(self.every))
        self.every.append(worker)
        return worker

    def tend(self, killed: set[int]) -> None:
        for slot, worker in enumerate(self.slots):
            if worker.poll() is None:
                continue
            died = self.died_at.setdefault(worker.pid, time.monotonic())
            if (
                time.monotonic() - died < RESTART_AFTER_SECONDS
                or len(self.restarts) >= MAX_RESTARTS
            ):
                continue
            why = (
                "killed by the bench" if worker.pid in killed else f"exit code {worker.returncode}"
            )
            self.slots[slot] = self._spawn()
            self.restarts.append(f"worker {worker.pid} ({why}) -> {self.slots[slot].pid}")

    def stop(self) -> None:
        for worker in self.every:
            bench.end_session(worker)


class Redis:
    """A private redis-server without persistence: a restart loses every queued job."""

    def __init__(self, port: int, logs: Path) -> None:
        self.port = port
        self.logs = logs
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no"]
        self.process = bench.start_process(args, dict(os.environ), self.logs / "redis.log")
        try:
            bench.wait_for_port(self.port)
        except RuntimeError:
            bench.end_session(self.process)
            raise

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        subprocess.run(
            ["redis-cli", "-p", str(self.port), "shutdown", "nosave"],
            capture_output=True,
            timeout=10,
        )
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            bench.end_session(self.process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--recipients", type=int, default=5_000)
    args = parser.parse_args()
    recipients = args.recipients
    logs = Path(tempfile.mkdtemp(prefix="crashbench-logs-"))
    record = logs / "message-ids.txt"
    smtp_port, redis_port = bench.free_port(), bench.free_port()
    env = bench.configure(
        args.database,
        Path(f"/tmp/sendbench-{args.database}"),
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        RQ_QUEUE=QUEUE,
        SMTP_PORT=smtp_port,
        SENDING_TIMEOUT_SECONDS=10,
        REQUEUE_AFTER_SECONDS=5,
        SWEEP_INTERVAL_SECONDS=2,
        SEND_RETRY_BASE_SECONDS=1,
    )
    print(f"database={args.database} recipients={recipients} workers={WORKERS} logs={logs}")

    from commsapp import create_app
    from commsapp.extensions import db

    app = create_app()
    redis = Redis(redis_port, logs)
    sink = None
    supervisor = Supervisor(env, logs)
    killed: set[int] = set()
    kills: list[str] = []
    try:
        redis.start()
        sink = bench.start_recording_sink(smtp_port, record, logs / "sink.log")
        bench.fresh_schema(env)
        with app.app_context():
            ids = bench.seed_customers(recipients)
            result = _send(ids)
            db.session.remove()
            print(f"outbox: {result.queued} deliveries queued")

            started = time.monotonic()
            supervisor.start()
            events = list(EVENTS)
            redis_back_at = None
            counts: dict[str, int] = {}
            while time.monotonic() - started < TIME_LIMIT_SECONDS:
                counts = bench.status_counts(db.engine)
                if sum(counts.get(status, 0) for status in FINAL) == recipients:
                    break
                now = time.monotonic() - started
                if redis_back_at is not None and now >= redis_back_at:
                    redis.start()
                    redis_back_at = None
                    print(f"t={now:5.1f}s redis started again (empty)")
                if events and counts.get("sent", 0) >= events[0][0] * recipients:
                    _, what = events.pop(0)
                    if what == "stop redis":
                        redis.stop()
                        redis_back_at = now + REDIS_DOWN_SECONDS
                        print(
                            f"t={now:5.1f}s redis stopped for {REDIS_DOWN_SECONDS:.0f} s, {counts}"
                        )
                    else:
                        kills.append(_kill(supervisor, what, killed))
                        print(f"t={now:5.1f}s {kills[-1]}, {counts}")
                supervisor.tend(killed)
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            finished = sum(counts.get(status, 0) for status in FINAL) == recipients
            print(
                f"deliveries: {counts} after {elapsed:.1f} s{'' if finished else ' (TIME LIMIT)'}"
            )
            time.sleep(1)  # let the last replies and records settle
            expected, marked_sent = _expected_message_ids()
    finally:
        supervisor.stop()
        if sink is not None:
            bench.end_session(sink)
        redis.stop()

    received = [m for m in bench.recorded_message_ids(record) if m in expected]
    copies = Counter(received)
    sent = len(copies)
    lost = len(expected) - sent
    duplicates = len(received) - sent
    for line in supervisor.restarts:
        print(f"restart: {line}")
    twice = sorted((expected[m] for m, n in copies.items() if n > 1))
    print(f"sent twice (delivery ids): {twice}")
    sent_not_received = sorted(expected[m] for m in marked_sent if m not in copies)
    print(f"marked sent in the database but never received: {sent_not_received}")
    print(f"sent={sent} lost={lost} duplicates={duplicates} kills={len(kills)}")
    return 0


def _send(customer_ids: list[int]):
    from commsapp.services import outbox

    return outbox.send(bench.marketing_email(), customer_ids)


def _kill(supervisor: Supervisor, what: str, killed: set[int]) -> str:
    """kill -9 a running work horse (waiting a little for one) or a worker's main process."""
    if what == "kill work horse":
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for candidate in supervisor.slots:
                # RQ puts each work horse in its own process group, unlike the scheduler process.
                for horse in bench.children_of(candidate.pid):
                    with contextlib.suppress(ProcessLookupError):
                        if os.getpgid(horse) == horse:
                            os.kill(horse, signal.SIGKILL)
                            return f"kill -9 work horse {horse} of worker {candidate.pid}"
            time.sleep(0.02)
    alive = [w for w in supervisor.slots if w.poll() is None]
    if not alive:
        return "no worker alive to kill"
    worker = alive[0]
    killed.add(worker.pid)
    os.kill(worker.pid, signal.SIGKILL)
    return f"kill -9 worker {worker.pid} (its work horse, if any, runs on)"


def _expected_message_ids() -> tuple[dict[str, int], set[str]]:
    """Each delivery's Message-ID (as compose_email derives it), and those marked sent."""
    from sqlalchemy import select

    from commsapp.extensions import db
    from commsapp.models import BusinessSettings, Delivery, DeliveryStatus
    from commsapp.services.email_compose import message_id_for
    from commsapp.services.outbox import _sender

    sender = _sender(BusinessSettings.get())
    rows = db.session.execute(select(Delivery.id, Delivery.status)).all()
    expected = {message_id_for(delivery_id, sender): delivery_id for delivery_id, _ in rows}
    marked_sent = {
        message_id_for(delivery_id, sender)
        for delivery_id, status in rows
        if status == DeliveryStatus.SENT
    }
    return expected, marked_sent


if __name__ == "__main__":
    sys.exit(main())
