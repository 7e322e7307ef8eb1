"""`column IN (ids)` for lists of any length, in as few statements as each database allows."""

from collections.abc import Iterator, Sequence

from sqlalchemy import ARRAY, Integer, any_, bindparam
from sqlalchemy.sql.elements import ColumnElement

from commsapp.extensions import db

# SQLite takes at most 32,766 parameters in one statement.
SQLITE_CHUNK = 10_000


def id_conditions(column, ids: Sequence[int]) -> Iterator[ColumnElement[bool]]:
    """One condition per statement to run: PostgreSQL gets all ids as one array parameter.

    A list of 100,000 ids as 100 IN lists of 1,000 cost a send to 100,000 customers a second.
    """
    if not ids:
        return
    if db.session.connection().dialect.name == "postgresql":
        yield column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
        return
    for start in range(0, len(ids), SQLITE_CHUNK):
        yield column.in_(list(ids[start : start + SQLITE_CHUNK]))
