"""Shared column helpers for the models."""

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Enum


def utcnow() -> datetime:
    """Naive UTC: both SQLite and PostgreSQL store it the same way, and time zones are a display concern."""
    return datetime.now(UTC).replace(tzinfo=None)


def str_enum(enum_cls: type[StrEnum], name: str) -> Enum:
    """A portable enum column: stored as VARCHAR with a CHECK, holding the enum's values."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


# SQLite's customer search index (migration 0008): an FTS5 table and the shadow tables FTS5
# keeps beside it, filled by triggers. No model describes them, so comparisons of the
# database with the models (autogenerate, the migration test) leave them out.
SEARCH_INDEX_TABLE = "customer_search"
_SEARCH_INDEX_TABLES = {SEARCH_INDEX_TABLE} | {
    f"{SEARCH_INDEX_TABLE}_{shadow}" for shadow in ("data", "idx", "content", "docsize", "config")
}


def described_by_models(name: str | None, type_: str, _parent_names: dict) -> bool:
    """Alembic's include_name hook: everything but the search index tables."""
    return not (type_ == "table" and name in _SEARCH_INDEX_TABLES)
