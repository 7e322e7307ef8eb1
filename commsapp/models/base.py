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
