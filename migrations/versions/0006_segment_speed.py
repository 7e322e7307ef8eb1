"""segment speed: visits per customer and class type kept by triggers, product owners index

Revision ID: 0006_segment_speed
Revises: 0005_templates
Create Date: 2026-11-23 22:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_segment_speed'
down_revision = '0005_templates'
branch_labels = None
depends_on = None


# `class_type_attendance` sums `course_attendance` per (customer, class type): "attended Yoga"
# reads one row per customer and type instead of one per course (54,000 customers of three
# types: 82,000 rows instead of 137,000). It is kept by triggers on `course_attendance`, which
# the bookings triggers of 0004_segments_inbox write, so bookings need no trigger of their own,
# and on `courses`, whose class type may change. Every change recomputes all class types of
# the customers it touched: a customer has a handful of courses, and a deleted course (whose
# type can no longer be looked up) is then simply absent from the sums. On PostgreSQL two
# transactions may recompute one customer at once (two registers marked together); each
# would count without the other's visits, so a transaction first takes a lock per customer
# (held to its end) and then reads what the other committed.
LOCK_SPACE = 6  # pg_advisory_xact_lock(LOCK_SPACE, customer id): this migration's number
COLUMNS = "customer_id, class_type_id, visits, first_visit_at, last_visit_at"


def _sums(customers: str) -> str:
    """The rows of `class_type_attendance` for the customers selected by `customers`."""
    return f"""
        INSERT INTO class_type_attendance ({COLUMNS})
        SELECT a.customer_id, c.class_type_id, sum(a.visits), min(a.first_visit_at),
               max(a.last_visit_at)
        FROM course_attendance a JOIN courses c ON c.id = a.course_id
        WHERE a.customer_id IN ({customers})
        GROUP BY a.customer_id, c.class_type_id;"""


def _recompute(customers: str) -> str:
    return f"""
        DELETE FROM class_type_attendance WHERE customer_id IN ({customers});{_sums(customers)}"""


def _locked_recompute(customers: str) -> str:
    """PostgreSQL: the same, one transaction per customer at a time (in customer order, so
    that two transactions never wait for each other's locks)."""
    return f"""
        PERFORM pg_advisory_xact_lock({LOCK_SPACE}, customer_id)
        FROM (SELECT DISTINCT customer_id FROM ({customers}) AS c ORDER BY customer_id) AS locked;
        {_recompute(customers)}"""


COURSE_CUSTOMERS_SQLITE = "SELECT customer_id FROM course_attendance WHERE course_id = NEW.id"
SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER course_attendance_class_type_insert AFTER INSERT ON course_attendance
    BEGIN{_recompute("NEW.customer_id")}
    END""",
    f"""CREATE TRIGGER course_attendance_class_type_update AFTER UPDATE ON course_attendance
    BEGIN{_recompute("OLD.customer_id, NEW.customer_id")}
    END""",
    f"""CREATE TRIGGER course_attendance_class_type_delete AFTER DELETE ON course_attendance
    BEGIN{_recompute("OLD.customer_id")}
    END""",
    f"""CREATE TRIGGER courses_class_type_update AFTER UPDATE OF class_type_id ON courses
    WHEN OLD.class_type_id IS NOT NEW.class_type_id
    BEGIN{_recompute(COURSE_CUSTOMERS_SQLITE)}
    END""",
)

POSTGRES_FUNCTIONS = (
    f"""
CREATE FUNCTION class_type_attendance_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN{_locked_recompute("SELECT customer_id FROM changed_new")}
    ELSIF TG_OP = 'DELETE' THEN{_locked_recompute("SELECT customer_id FROM changed_old")}
    ELSE{_locked_recompute("SELECT customer_id FROM changed_old UNION SELECT customer_id FROM changed_new")}
    END IF;
    RETURN NULL;
END
$$
""",
    f"""
CREATE FUNCTION class_type_attendance_course_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN{_locked_recompute("SELECT customer_id FROM course_attendance WHERE course_id = NEW.id")}
    RETURN NULL;
END
$$
""",
)
POSTGRES_TRIGGERS = (
    "CREATE TRIGGER course_attendance_class_type_insert AFTER INSERT ON course_attendance "
    "REFERENCING NEW TABLE AS changed_new "
    "FOR EACH STATEMENT EXECUTE FUNCTION class_type_attendance_refresh()",
    "CREATE TRIGGER course_attendance_class_type_update AFTER UPDATE ON course_attendance "
    "REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new "
    "FOR EACH STATEMENT EXECUTE FUNCTION class_type_attendance_refresh()",
    "CREATE TRIGGER course_attendance_class_type_delete AFTER DELETE ON course_attendance "
    "REFERENCING OLD TABLE AS changed_old "
    "FOR EACH STATEMENT EXECUTE FUNCTION class_type_attendance_refresh()",
    # Transition tables cannot go with a column list; a course changes its type rarely.
    "CREATE TRIGGER courses_class_type_update AFTER UPDATE OF class_type_id ON courses "
    "FOR EACH ROW WHEN (OLD.class_type_id IS DISTINCT FROM NEW.class_type_id) "
    "EXECUTE FUNCTION class_type_attendance_course_moved()",
)


def upgrade():
    op.create_table('class_type_attendance',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('class_type_id', sa.Integer(), nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.Column('first_visit_at', sa.DateTime(), nullable=False),
    sa.Column('last_visit_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['class_type_id'], ['class_types.id'], name=op.f('fk_class_type_attendance_class_type_id_class_types'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_class_type_attendance_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', 'class_type_id', name=op.f('pk_class_type_attendance'))
    )
    with op.batch_alter_table('class_type_attendance', schema=None) as batch_op:
        batch_op.create_index('ix_class_type_attendance_type_customer', ['class_type_id', 'customer_id', 'last_visit_at'], unique=False)

    with op.batch_alter_table('customer_products', schema=None) as batch_op:
        batch_op.create_index('ix_customer_products_product_customer', ['product_id', 'customer_id', 'status', 'starts_on', 'ends_on'], unique=False)

    op.execute(_sums("SELECT customer_id FROM course_attendance"))
    # Statistics now, so the planner neither guesses about the new table nor overlooks the index.
    op.execute("ANALYZE class_type_attendance")
    op.execute("ANALYZE customer_products")
    if op.get_bind().dialect.name == "postgresql":
        for statement in (*POSTGRES_FUNCTIONS, *POSTGRES_TRIGGERS):
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, name in (
        ("course_attendance", "course_attendance_class_type_insert"),
        ("course_attendance", "course_attendance_class_type_update"),
        ("course_attendance", "course_attendance_class_type_delete"),
        ("courses", "courses_class_type_update"),
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS class_type_attendance_refresh()")
        op.execute("DROP FUNCTION IF EXISTS class_type_attendance_course_moved()")
    with op.batch_alter_table('customer_products', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_products_product_customer')

    with op.batch_alter_table('class_type_attendance', schema=None) as batch_op:
        batch_op.drop_index('ix_class_type_attendance_type_customer')

    op.drop_table('class_type_attendance')
