"""Starts the RQ worker, with its scheduler and the outbox sweep, inside the commsapp application context."""

import itertools
import logging
import os
import sys
import threading
import time

from rq import Worker

from commsapp import create_app
from commsapp.extensions import db
from commsapp.queue import get_queue

log = logging.getLogger("commsapp.worker")

MAX_REDIS_PAUSE_SECONDS = 30.0


def run_sweeps(app, stop: threading.Event) -> None:
    """The outbox sweep lives in the worker process, not in Redis: a flushed Redis cannot lose it."""
    from commsapp.services import outbox

    while not stop.wait(app.config["SWEEP_INTERVAL_SECONDS"]):
        try:
            with app.app_context():
                found = outbox.sweep()
                db.session.remove()
            if any(found.values()):
                log.info("outbox sweep: %s", found)
        except Exception:  # a database or Redis outage must not end the sweeping
            log.exception(
                "outbox sweep failed; trying again in %ss", app.config["SWEEP_INTERVAL_SECONDS"]
            )


def main() -> int:
    app = create_app()
    burst = "--burst" in sys.argv[1:]
    stop = threading.Event()
    if not burst:
        threading.Thread(
            target=run_sweeps, args=(app, stop), name="outbox-sweep", daemon=True
        ).start()
    try:
        with app.app_context():
            # The work horse is forked per job: connections inherited from this process must not be reused there.
            db.engine.dispose()
            work_until_stopped(burst)
    finally:
        stop.set()
    return 0


def work_until_stopped(burst: bool) -> None:
    """Run the RQ worker; when Redis goes away, wait for it and start again instead of exiting.

    RQ waits out a short outage while idle, but a longer one, or one at start-up, ends
    `work()` with an error. Nothing is lost meanwhile (the outbox is in the database and the
    sweep queues it again), but nothing is sent either until somebody restarts the worker.
    """
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    pause = 1.0
    for incarnation in itertools.count():
        started = time.monotonic()
        try:
            queue = get_queue()
            # A new name each time: the registration of a worker that lost Redis mid-work
            # may still be there, and RQ refuses a second worker of the same name.
            name = f"commsapp-{os.getpid()}" + (f"-{incarnation}" if incarnation else "")
            worker = Worker([queue], connection=queue.connection, name=name)
            log.info("worker listening on queue %s", queue.name)
            worker.work(with_scheduler=True, burst=burst)
            return
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if burst:
                raise
            if time.monotonic() - started > MAX_REDIS_PAUSE_SECONDS:
                pause = 1.0  # it worked for a while: this is a new outage
            log.warning("Redis is unavailable (%s); trying again in %.0f s", exc, pause)
            time.sleep(pause)
            pause = min(pause * 2, MAX_REDIS_PAUSE_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
