"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from commsapp.extensions import db
from commsapp.models.base import described_by_models


def test_upgraded_database_matches_the_models(app):
    """Alembic's comparison of the migrated database against the models finds no difference."""
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "render_as_batch": True,
                "include_name": described_by_models,
            },
        )
        assert compare_metadata(context, db.metadata) == []


def test_migration_history_is_linear(app):
    """One head: two migrations never branch off the same parent."""
    from alembic.script import ScriptDirectory

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_the_triggers_that_keep_summaries_and_search_exist_at_head(app):
    """A table rebuilt by a later batch migration on SQLite silently loses its triggers."""
    expected = {
        ("bookings", f"bookings_attendance_{event}") for event in ("insert", "update", "delete")
    }
    expected |= {
        ("course_attendance", f"course_attendance_class_type_{event}")
        for event in ("insert", "update", "delete")
    }
    expected.add(("courses", "courses_class_type_update"))
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            query = (
                "SELECT c.relname, t.tgname FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
            )
        else:
            query = "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"
            expected |= {
                ("customers", f"customer_search_{event}")
                for event in ("insert", "update", "delete")
            }
        triggers = set(connection.execute(text(query)).all())
    assert expected <= triggers
