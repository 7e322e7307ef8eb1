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
            try:
                return func(*args, **kwargs)
            finally:
                db.session.remove()

    return run
