"""RQ job plumbing: every job runs in its own app context and database session."""

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import Flask, current_app, has_app_context

P = ParamSpec("P")
R = TypeVar("R")
_app: Flask | None = None


def _job_app() -> Flask:
    global _app
    if has_app_context():
        return current_app._get_current_object()
    if _app is None:
        from commsapp import create_app

        _app = create_app()
    return _app


def job(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` in a fresh app context, so each job opens and closes its own session."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        from commsapp.extensions import db

        with _job_app().app_context():
            # RQ forks a work horse per job: pooled connections inherited from the parent must not be shared.
            db.engine.dispose(close=False)
            try:
                return func(*args, **kwargs)
            finally:
                db.session.remove()

    return run


@job
def send_deliveries(delivery_ids: list[int]) -> dict[str, int]:
    from commsapp.services import outbox

    return outbox.process(delivery_ids)
