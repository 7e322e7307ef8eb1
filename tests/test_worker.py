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
