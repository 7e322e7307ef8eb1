"""Jobs that exist only for the tests of the worker itself."""

from sqlalchemy import func, select

from commsapp.extensions import db
from commsapp.jobs import job
from commsapp.models import Customer


@job
def count_customers() -> int:
    return db.session.scalar(select(func.count()).select_from(Customer))


@job
def fail_loudly(reason: str) -> None:
    raise RuntimeError(reason)
