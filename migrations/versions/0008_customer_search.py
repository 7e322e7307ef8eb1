"""customer search on SQLite: a full-text trigram index kept by triggers

Revision ID: 0008_customer_search
Revises: 0007_outbox_indexes
Create Date: 2026-11-23 23:00:00.000000

PostgreSQL answers customer searches from the pg_trgm index of migration 0004. SQLite had
to read every customer: 30 ms a search at 100,000 customers. FTS5's trigram tokenizer is
the same idea: `haystack LIKE '%word%'` is answered from the index for words of three
characters or more.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008_customer_search'
down_revision = '0007_outbox_indexes'
branch_labels = None
depends_on = None

HAYSTACK = (
    "{row}.first_name || ' ' || {row}.last_name || ' ' || coalesce({row}.email, '') || ' ' "
    "|| coalesce({row}.mobile, '')"
)


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE VIRTUAL TABLE customer_search USING fts5(haystack, tokenize='trigram')")
    op.execute(
        "INSERT INTO customer_search (rowid, haystack) "
        f"SELECT id, {HAYSTACK.format(row='customers')} FROM customers"
    )
    op.execute(
        "CREATE TRIGGER customer_search_insert AFTER INSERT ON customers BEGIN "
        f"INSERT INTO customer_search (rowid, haystack) VALUES (new.id, {HAYSTACK.format(row='new')}); "
        "END"
    )
    op.execute(
        "CREATE TRIGGER customer_search_update "
        "AFTER UPDATE OF id, first_name, last_name, email, mobile ON customers BEGIN "
        "DELETE FROM customer_search WHERE rowid = old.id; "
        f"INSERT INTO customer_search (rowid, haystack) VALUES (new.id, {HAYSTACK.format(row='new')}); "
        "END"
    )
    op.execute(
        "CREATE TRIGGER customer_search_delete AFTER DELETE ON customers BEGIN "
        "DELETE FROM customer_search WHERE rowid = old.id; "
        "END"
    )


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS customer_search_{trigger}")
    op.execute("DROP TABLE IF EXISTS customer_search")
