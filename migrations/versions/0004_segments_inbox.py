"""segments and inbox: saved segments, attendance summaries kept by triggers, inbox indexes

Revision ID: 0004_segments_inbox
Revises: 0003_sms
Create Date: 2026-11-23 19:58:25.928282

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_segments_inbox'
down_revision = '0003_sms'
branch_labels = None
depends_on = None


# `course_attendance` sums attended bookings per (customer, course), `customer_attendance` per
# customer. Triggers on `bookings` keep both exact for every writer (the app, imports, the demo
# seeder's bulk COPY). PostgreSQL: statement-level triggers with transition tables, so a bulk
# insert costs one aggregate per statement. SQLite: the same per row. Inserts add to the sums;
# updates and deletes recompute the (customer, course) pairs and the customers they touched.
COURSE_COLUMNS = "customer_id, course_id, visits, first_visit_at, last_visit_at"
CUSTOMER_COLUMNS = "customer_id, visits, first_visit_at, last_visit_at"


def _sqlite_recompute(customer: str, course: str) -> str:
    return f"""
        DELETE FROM course_attendance WHERE customer_id = {customer} AND course_id = {course};
        INSERT INTO course_attendance ({COURSE_COLUMNS})
            SELECT customer_id, course_id, count(*), min(starts_at), max(starts_at) FROM bookings
            WHERE status = 'attended' AND customer_id = {customer} AND course_id = {course}
            GROUP BY customer_id, course_id;
        DELETE FROM customer_attendance WHERE customer_id = {customer};
        INSERT INTO customer_attendance ({CUSTOMER_COLUMNS})
            SELECT customer_id, sum(visits), min(first_visit_at), max(last_visit_at)
            FROM course_attendance WHERE customer_id = {customer} GROUP BY customer_id;"""


SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER bookings_attendance_insert AFTER INSERT ON bookings
    WHEN NEW.status = 'attended'
    BEGIN
        INSERT INTO course_attendance ({COURSE_COLUMNS})
        VALUES (NEW.customer_id, NEW.course_id, 1, NEW.starts_at, NEW.starts_at)
        ON CONFLICT (customer_id, course_id) DO UPDATE SET
            visits = visits + 1,
            first_visit_at = min(first_visit_at, excluded.first_visit_at),
            last_visit_at = max(last_visit_at, excluded.last_visit_at);
        INSERT INTO customer_attendance ({CUSTOMER_COLUMNS})
        VALUES (NEW.customer_id, 1, NEW.starts_at, NEW.starts_at)
        ON CONFLICT (customer_id) DO UPDATE SET
            visits = visits + 1,
            first_visit_at = min(first_visit_at, excluded.first_visit_at),
            last_visit_at = max(last_visit_at, excluded.last_visit_at);
    END""",
    f"""CREATE TRIGGER bookings_attendance_update
    AFTER UPDATE OF status, starts_at, customer_id, course_id ON bookings
    WHEN OLD.status = 'attended' OR NEW.status = 'attended'
    BEGIN{_sqlite_recompute("OLD.customer_id", "OLD.course_id")}{_sqlite_recompute("NEW.customer_id", "NEW.course_id")}
    END""",
    f"""CREATE TRIGGER bookings_attendance_delete AFTER DELETE ON bookings
    WHEN OLD.status = 'attended'
    BEGIN{_sqlite_recompute("OLD.customer_id", "OLD.course_id")}
    END""",
)

TOUCHED_BY_DELETE = "SELECT DISTINCT customer_id, course_id FROM changed_old WHERE status = 'attended'"
TOUCHED_BY_UPDATE = (
    "SELECT customer_id, course_id FROM changed_old WHERE status = 'attended' "
    "UNION SELECT customer_id, course_id FROM changed_new WHERE status = 'attended'"
)


def _postgres_recompute(touched: str) -> str:
    customers = f"SELECT DISTINCT customer_id FROM ({touched}) p"
    return f"""
        DELETE FROM course_attendance a USING ({touched}) t
            WHERE a.customer_id = t.customer_id AND a.course_id = t.course_id;
        INSERT INTO course_attendance ({COURSE_COLUMNS})
        SELECT b.customer_id, b.course_id, count(*), min(b.starts_at), max(b.starts_at)
        FROM bookings b JOIN ({touched}) t
            ON b.customer_id = t.customer_id AND b.course_id = t.course_id
        WHERE b.status = 'attended' GROUP BY b.customer_id, b.course_id;
        DELETE FROM customer_attendance a USING ({customers}) c WHERE a.customer_id = c.customer_id;
        INSERT INTO customer_attendance ({CUSTOMER_COLUMNS})
        SELECT a.customer_id, sum(a.visits), min(a.first_visit_at), max(a.last_visit_at)
        FROM course_attendance a JOIN ({customers}) c ON a.customer_id = c.customer_id
        GROUP BY a.customer_id;"""


POSTGRES_FUNCTION = f"""
CREATE FUNCTION attendance_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO course_attendance ({COURSE_COLUMNS})
        SELECT customer_id, course_id, count(*), min(starts_at), max(starts_at)
        FROM changed_new WHERE status = 'attended' GROUP BY customer_id, course_id
        ON CONFLICT (customer_id, course_id) DO UPDATE SET
            visits = course_attendance.visits + EXCLUDED.visits,
            first_visit_at = LEAST(course_attendance.first_visit_at, EXCLUDED.first_visit_at),
            last_visit_at = GREATEST(course_attendance.last_visit_at, EXCLUDED.last_visit_at);
        INSERT INTO customer_attendance ({CUSTOMER_COLUMNS})
        SELECT customer_id, count(*), min(starts_at), max(starts_at)
        FROM changed_new WHERE status = 'attended' GROUP BY customer_id
        ON CONFLICT (customer_id) DO UPDATE SET
            visits = customer_attendance.visits + EXCLUDED.visits,
            first_visit_at = LEAST(customer_attendance.first_visit_at, EXCLUDED.first_visit_at),
            last_visit_at = GREATEST(customer_attendance.last_visit_at, EXCLUDED.last_visit_at);
    ELSIF TG_OP = 'DELETE' THEN{_postgres_recompute(TOUCHED_BY_DELETE)}
    ELSE{_postgres_recompute(TOUCHED_BY_UPDATE)}
    END IF;
    RETURN NULL;
END
$$
"""
POSTGRES_TRIGGERS = (
    "CREATE TRIGGER bookings_attendance_insert AFTER INSERT ON bookings "
    "REFERENCING NEW TABLE AS changed_new "
    "FOR EACH STATEMENT EXECUTE FUNCTION attendance_refresh()",
    "CREATE TRIGGER bookings_attendance_update AFTER UPDATE ON bookings "
    "REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new "
    "FOR EACH STATEMENT EXECUTE FUNCTION attendance_refresh()",
    "CREATE TRIGGER bookings_attendance_delete AFTER DELETE ON bookings "
    "REFERENCING OLD TABLE AS changed_old "
    "FOR EACH STATEMENT EXECUTE FUNCTION attendance_refresh()",
)


# The inbox's search: every word anywhere in name, email or mobile. On PostgreSQL a trigram
# index over exactly the expression `services.inbox` searches answers it without lower-casing
# every customer on every search; SQLite scans (its lower() is ASCII-only and cheap).
SEARCH_INDEX = (
    "CREATE INDEX ix_customers_search_trgm ON customers USING gin "
    "((lower(first_name || ' ' || last_name || ' ' || coalesce(email, '') || ' ' "
    "|| coalesce(mobile, ''))) gin_trgm_ops)"
)


def upgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table('segments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_users.id'], name=op.f('fk_segments_created_by_id_staff_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segments')),
    sa.UniqueConstraint('name', name=op.f('uq_segments_name'))
    )
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.create_index('ix_segments_position', ['position', 'id'], unique=False)

    op.create_table('course_attendance',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.Column('first_visit_at', sa.DateTime(), nullable=False),
    sa.Column('last_visit_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_course_attendance_course_id_courses'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_course_attendance_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', 'course_id', name=op.f('pk_course_attendance'))
    )
    with op.batch_alter_table('course_attendance', schema=None) as batch_op:
        batch_op.create_index('ix_course_attendance_course_last', ['course_id', 'last_visit_at', 'customer_id'], unique=False)

    op.create_table('customer_attendance',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.Column('first_visit_at', sa.DateTime(), nullable=False),
    sa.Column('last_visit_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_attendance_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_attendance'))
    )
    with op.batch_alter_table('customer_attendance', schema=None) as batch_op:
        batch_op.create_index('ix_customer_attendance_first', ['first_visit_at', 'customer_id'], unique=False)
        batch_op.create_index('ix_customer_attendance_last', ['last_visit_at', 'customer_id'], unique=False)

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_created', ['created_at', 'id'], unique=False)

    with op.batch_alter_table('send_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('segment_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_send_batches_segment', ['segment_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_send_batches_segment_id_segments'), 'segments', ['segment_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('threads', schema=None) as batch_op:
        batch_op.create_index('ix_threads_unanswered_last', ['last_message_at', 'id'], unique=False, sqlite_where=sa.text('customer_id IS NOT NULL AND last_inbound_at IS NOT NULL AND (last_outbound_at IS NULL OR last_outbound_at < last_inbound_at)'), postgresql_where=sa.text('customer_id IS NOT NULL AND last_inbound_at IS NOT NULL AND (last_outbound_at IS NULL OR last_outbound_at < last_inbound_at)'))
        batch_op.create_index('ix_threads_unread_last', ['last_message_at', 'id'], unique=False, sqlite_where=sa.text('unread = 1 AND customer_id IS NOT NULL'), postgresql_where=sa.text('unread AND customer_id IS NOT NULL'))

    # ### end Alembic commands ###

    op.execute(
        f"INSERT INTO course_attendance ({COURSE_COLUMNS}) "
        "SELECT customer_id, course_id, count(*), min(starts_at), max(starts_at) "
        "FROM bookings WHERE status = 'attended' GROUP BY customer_id, course_id"
    )
    op.execute(
        f"INSERT INTO customer_attendance ({CUSTOMER_COLUMNS}) "
        "SELECT customer_id, sum(visits), min(first_visit_at), max(last_visit_at) "
        "FROM course_attendance GROUP BY customer_id"
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in (POSTGRES_FUNCTION, *POSTGRES_TRIGGERS):
            op.execute(statement)
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(SEARCH_INDEX)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    for kind in ("insert", "update", "delete"):
        op.execute(
            f"DROP TRIGGER IF EXISTS bookings_attendance_{kind}" + (" ON bookings" if postgres else "")
        )
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS attendance_refresh()")
        op.execute("DROP INDEX IF EXISTS ix_customers_search_trgm")
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table('threads', schema=None) as batch_op:
        batch_op.drop_index('ix_threads_unread_last', sqlite_where=sa.text('unread = 1 AND customer_id IS NOT NULL'), postgresql_where=sa.text('unread AND customer_id IS NOT NULL'))
        batch_op.drop_index('ix_threads_unanswered_last', sqlite_where=sa.text('customer_id IS NOT NULL AND last_inbound_at IS NOT NULL AND (last_outbound_at IS NULL OR last_outbound_at < last_inbound_at)'), postgresql_where=sa.text('customer_id IS NOT NULL AND last_inbound_at IS NOT NULL AND (last_outbound_at IS NULL OR last_outbound_at < last_inbound_at)'))

    with op.batch_alter_table('send_batches', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_send_batches_segment_id_segments'), type_='foreignkey')
        batch_op.drop_index('ix_send_batches_segment')
        batch_op.drop_column('segment_id')

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_created')

    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.drop_index('ix_segments_position')

    op.drop_table('segments')
    op.drop_table('customer_attendance')
    op.drop_table('course_attendance')
    # ### end Alembic commands ###
