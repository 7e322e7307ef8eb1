"""Bulk loading of generated rows inside the session's transaction: executemany on SQLite, COPY on PostgreSQL."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import islice
from types import TracebackType
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

CHUNK_ROWS = 20_000
# SQLite's page cache while loading (in KiB): a big transaction spills to the WAL once it is full.
SQLITE_CACHE_KIB = 256 * 1024
POSTGRES_SORT_MEMORY = "512MB"


def timestamp(value: datetime) -> str:
    """A naive UTC datetime as row text: what SQLAlchemy stores on SQLite, and what COPY parses.

    Rows hold only ints, strings, booleans and None, so that neither database needs a per-value
    conversion; dates go in as `date.isoformat()`.
    """
    return value.isoformat(" ", "microseconds")


class BulkLoader:
    """Writes many rows with explicit ids through the raw driver connection behind `connection`."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.is_postgres = connection.dialect.name == "postgresql"
        self.driver = connection.connection.driver_connection
        self._cache_size: int | None = None

    def __enter__(self) -> "BulkLoader":
        if self.is_postgres:
            # For this transaction only: sorts for index builds and foreign key checks in memory.
            self.connection.execute(
                text(f"SET LOCAL maintenance_work_mem = '{POSTGRES_SORT_MEMORY}'")
            )
            self.connection.execute(text(f"SET LOCAL work_mem = '{POSTGRES_SORT_MEMORY}'"))
        else:
            self._cache_size = self.driver.execute("PRAGMA cache_size").fetchone()[0]
            self.driver.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
            # SQLite re-evaluates the enum CHECKs' IN lists per row, which doubles the load time;
            # the rows come from code, and reading them back through the enums still validates.
            self.driver.execute("PRAGMA ignore_check_constraints = ON")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._cache_size is not None:
            self.driver.execute("PRAGMA ignore_check_constraints = OFF")
            self.driver.execute(f"PRAGMA cache_size = {self._cache_size}")

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert `rows` (tuples in the order of `columns`) and return how many there were."""
        if self.is_postgres:
            return self._copy(table, columns, rows)
        return self._executemany(table, columns, rows)

    def _copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        count = 0
        with (
            self.driver.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def _executemany(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> int:
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        count = 0
        iterator = iter(rows)
        cursor = self.driver.cursor()
        try:
            while chunk := list(islice(iterator, CHUNK_ROWS)):
                cursor.executemany(sql, chunk)
                count += len(chunk)
        finally:
            cursor.close()
        return count

    def drop_indexes_and_foreign_keys(self, tables: Sequence[str]) -> list[str]:
        """Drop the secondary indexes (and on PostgreSQL the foreign keys) of `tables` before a load.

        Returns the statements that recreate them, for `execute_all` once the rows are in:
        building an index once over all rows is many times faster than updating it row by row,
        and PostgreSQL checks a foreign key with one query per row but with one join when it is
        added back. The definitions are read from the database, so they stay what the migrations
        made; if the load fails, the rollback brings them back.
        """
        rebuild = []
        for table in tables:
            for name, create in self._secondary_indexes(table):
                self.connection.execute(text(f'DROP INDEX "{name}"'))
                rebuild.append(create)
            for name, definition in self._foreign_keys(table):
                self.connection.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
                rebuild.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        return rebuild

    def drop_triggers(self, table: str) -> list[str]:
        """Drop the triggers on `table` and return the statements that recreate them.

        SQLite runs a trigger once per inserted row, and even PostgreSQL's statement-level ones
        double the time of a COPY; the caller then does in one statement what the triggers would
        have done, and must, or the data is left inconsistent.
        """
        if self.is_postgres:
            query = """
                SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
                WHERE tgrelid = CAST(:table AS regclass) AND NOT tgisinternal ORDER BY tgname
            """
            drop = 'DROP TRIGGER "{name}" ON {table}'
        else:
            query = """
                SELECT name, sql FROM sqlite_master
                WHERE type = 'trigger' AND tbl_name = :table ORDER BY name
            """
            drop = 'DROP TRIGGER "{name}"'
        rebuild = []
        for name, create in self.connection.execute(text(query), {"table": table}).all():
            self.connection.execute(text(drop.format(name=name, table=table)))
            rebuild.append(create)
        return rebuild

    def execute_all(self, statements: Sequence[str]) -> None:
        for statement in statements:
            self.connection.execute(text(statement))

    def _secondary_indexes(self, table: str) -> list[tuple[str, str]]:
        if self.is_postgres:
            # Indexes behind PRIMARY KEY and UNIQUE constraints belong to the constraint and stay.
            query = """
                SELECT i.relname, pg_get_indexdef(x.indexrelid)
                FROM pg_index x
                JOIN pg_class i ON i.oid = x.indexrelid
                WHERE x.indrelid = CAST(:table AS regclass)
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
                ORDER BY i.relname
            """
        else:
            # Those have no SQL on SQLite.
            query = """
                SELECT name, sql FROM sqlite_master
                WHERE type = 'index' AND tbl_name = :table AND sql IS NOT NULL
                ORDER BY name
            """
        return [tuple(row) for row in self.connection.execute(text(query), {"table": table})]

    def _foreign_keys(self, table: str) -> list[tuple[str, str]]:
        if not self.is_postgres:
            return []
        query = """
            SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
            WHERE conrelid = CAST(:table AS regclass) AND contype = 'f'
            ORDER BY conname
        """
        return [tuple(row) for row in self.connection.execute(text(query), {"table": table})]

    def reset_sequences(self, tables: Sequence[str]) -> None:
        """After explicit ids, point each PostgreSQL id sequence past the largest id."""
        if not self.is_postgres:
            return
        for table in tables:
            self.connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                )
            )

    def analyze(self) -> None:
        """Fresh planner statistics, so the first queries on the new data pick the right indexes.

        Call it after the load is committed. On PostgreSQL it is `VACUUM (ANALYZE)`: a freshly
        loaded table has an empty visibility map, so until a vacuum every "index-only" scan
        still reads the table's pages (for the segment "5 visits in 30 days", all 20,000 pages
        of the bookings). Autovacuum would get there eventually, but it may be switched off.
        """
        if self.is_postgres:
            # VACUUM cannot run inside a transaction block: a connection of its own, autocommit.
            autocommit = self.connection.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            )
            with autocommit as connection:
                connection.execute(text("VACUUM (ANALYZE)"))
            return
        # A sample per index is enough for the planner and keeps this to seconds.
        self.connection.execute(text("PRAGMA analysis_limit = 2000"))
        self.connection.execute(text("ANALYZE"))
