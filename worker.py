"""Starts the RQ worker, with its scheduler, inside the commsapp application context."""

import logging
import os
import sys

from rq import Worker

from commsapp import create_app
from commsapp.extensions import db
from commsapp.queue import get_queue


def main() -> int:
    app = create_app()
    with app.app_context():
        queue = get_queue()
        # The work horse is forked per job: connections inherited from this process must not be reused there.
        db.engine.dispose()
        worker = Worker([queue], connection=queue.connection, name=f"commsapp-{os.getpid()}")
        logging.getLogger(__name__).info("worker listening on queue %s", queue.name)
        worker.work(with_scheduler=True, burst="--burst" in sys.argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
