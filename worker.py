"""Starts the RQ worker, with its scheduler and the outbox sweep, inside the commsapp application context."""

import itertools
import logging
import os
import signal
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


class _Worker(Worker):
    """RQ's worker, remembering whether it was asked to stop (RQ's own flag is not always set)."""

    asked_to_stop = False

    def request_stop(self, signum, frame) -> None:
        self.asked_to_stop = True
        super().request_stop(signum, frame)


def work_until_stopped(burst: bool) -> None:
    """Run the RQ worker until asked to stop; after Redis trouble, wait and start it again.

    RQ waits out a short outage while idle, but a longer one, one at start-up or a Redis
    timeout ends `work()`, with an error or quietly. Nothing is lost meanwhile (the outbox is
    in the database and the sweep queues it again), but nothing would be sent either until
    somebody restarted the worker.
    """
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    pause = 1.0
    for incarnation in itertools.count():
        started = time.monotonic()
        worker = None
        try:
            queue = get_queue()
            # A new name each time: the registration of a worker that lost Redis mid-work
            # may still be there, and RQ refuses a second worker of the same name.
            name = f"commsapp-{os.getpid()}" + (f"-{incarnation}" if incarnation else "")
            worker = _Worker([queue], connection=queue.connection, name=name)
            log.info("worker listening on queue %s", queue.name)
            worker.work(with_scheduler=True, burst=burst)
            if burst or worker.asked_to_stop:
                return
            problem = "the RQ worker stopped by itself"
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if burst:
                raise
            if worker is not None and worker.asked_to_stop:
                return  # it stopped as asked; only signing off in Redis failed
            problem = f"Redis is unavailable: {exc}"
        if time.monotonic() - started > MAX_REDIS_PAUSE_SECONDS:
            pause = 1.0  # it ran for a while: this is a new outage
        log.warning("%s; starting the worker again in %.0f s", problem, pause)
        if _stop_requested_within(pause):
            return
        pause = min(pause * 2, MAX_REDIS_PAUSE_SECONDS)


def _stop_requested_within(seconds: float) -> bool:
    """Wait, ending early on SIGINT or SIGTERM (a stopped RQ worker's handlers would raise)."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop.wait(seconds)


if __name__ == "__main__":
    sys.exit(main())
