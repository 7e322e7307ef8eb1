"""commsapp: customer communication for studios. `create_app` builds the Flask application."""

import logging
from typing import Any

from flask import Flask, has_request_context, request
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine

from commsapp.config import INSTANCE_DIR, Config
from commsapp.extensions import babel, csrf, db, htmx, login_manager, migrate
from commsapp.models.base import described_by_models


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(INSTANCE_DIR), instance_relative_config=True)
    app.config.from_object(Config())
    if test_config:
        app.config.update(test_config)
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    from commsapp import models  # noqa: F401  registers every table before migrate sees them

    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(_migrations_dir()),
        render_as_batch=True,
        include_name=described_by_models,
    )
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    login_manager.init_app(app)

    from commsapp import access, queue

    access.init_app(app)
    queue.init_app(app)

    from commsapp.blueprints import register_blueprints

    register_blueprints(app)

    from commsapp.cli import register_cli

    register_cli(app)

    from commsapp.views_support import init_app as init_views

    init_views(app)
    return app


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


def _select_locale() -> str | None:
    from flask import current_app

    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        return None  # jobs and CLI commands: the default language
    if current_user.is_authenticated and current_user.language in languages:
        return current_user.language
    return request.accept_languages.best_match(languages)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite needs foreign keys switched on, and WAL so the worker and web app can share the file."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()
