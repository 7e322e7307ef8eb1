"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

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
