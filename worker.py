"""Starts the RQ worker, with its scheduler and the outbox sweep, inside the commsapp application context."""

import logging
import os
import sys
import threading

from rq import Worker

from commsapp import create_app
from commsapp.extensions import db
from commsapp.queue import get_queue

log = logging.getLogger("commsapp.worker")


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
    with app.app_context():
        queue = get_queue()
        # The work horse is forked per job: connections inherited from this process must not be reused there.
        db.engine.dispose()
        worker = Worker([queue], connection=queue.connection, name=f"commsapp-{os.getpid()}")
        log.info("worker listening on queue %s", queue.name)
        try:
            worker.work(with_scheduler=True, burst=burst)
        finally:
            stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
