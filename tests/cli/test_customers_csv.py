"""`flask customers import/export`: every row checked before writing, line numbers in errors, round trips."""

import pytest
from sqlalchemy import delete, select

from commsapp.models import BusinessSettings, Customer, Tag, customer_tags
from tests import factories

HEADER = "first_name,last_name,email,mobile,language,home_location,tags\n"


@pytest.fixture
def studio(db):
    """Two locations, one existing tag and one existing customer, as a studio would have."""
    BusinessSettings.get()
    berlin = factories.location("Berlin Mitte")
    factories.location("Zürich Kreis 4")
    factories.tag("Newsletter")
    factories.customer(berlin, first_name="Erika", last_name="Vorhanden", email="erika@example.org")
    db.session.commit()
    return berlin


def _import(app, tmp_path, content: str | bytes, *options: str):
    path = tmp_path / "customers.csv"
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return app.test_cli_runner().invoke(args=["customers", "import", str(path), *options])


def _customers(db) -> list[tuple]:
    db.session.expire_all()
    rows = db.session.execute(
        select(
            Customer.first_name,
            Customer.last_name,
            Customer.email,
            Customer.mobile,
            Customer.language,
            Customer.home_location_id,
        ).order_by(Customer.id)
    )
    return [tuple(row) for row in rows]


def _tags_of(db, email: str) -> list[str]:
    customer = db.session.scalar(select(Customer).where(Customer.email == email))
    return [tag.name for tag in customer.tags]


def test_good_file_imports_every_row_with_tags_and_locations(app, db, tmp_path, studio):
    """Emails are lowercased, mobiles stored in E.164, locations matched by name, tags created."""
    result = _import(
        app,
        tmp_path,
        HEADER
        + "Jürgen,Müller,Juergen.Mueller@Example.org,0151 23456789,,berlin mitte,Newsletter;VIP\n"
        + "Françoise,Lefèvre,,+41 79 123 45 67,fr,Zürich Kreis 4,newsletter\n"
        + "Niccolò,,niccolo@example.org,,it,,\n",
    )
    assert result.exit_code == 0, result.output
    assert "Imported 3 customers." in result.output
    rows = _customers(db)[1:]
    assert rows[0] == (
        "Jürgen",
        "Müller",
        "juergen.mueller@example.org",
        "+4915123456789",
        "de",
        studio.id,
    )
    assert rows[1][2:5] == (None, "+41791234567", "fr")
    assert rows[2] == ("Niccolò", "", "niccolo@example.org", None, "it", None)
    assert _tags_of(db, "juergen.mueller@example.org") == ["Newsletter", "VIP"]
    assert sorted(db.session.scalars(select(Tag.name))) == ["Newsletter", "VIP"]


BAD_FILES = {
    "wrong header": (
        "Anna,Muster,anna@example.org,,de,,\n",
        "The first line must be the header",
    ),
    "unknown column": (
        "first_name,email,birthday\nAnna,anna@example.org,1990-01-01\n",
        "unknown columns: birthday",
    ),
    "missing first_name column": ("last_name,email\nMuster,anna@example.org\n", "no first_name"),
    "bad email": (
        HEADER + "Anna,Muster,anna@example.org,,,,\nBen,Muster,ben@@example,,,,\n",
        "Line 3:",
    ),
    "bad phone": (HEADER + "Anna,Muster,,12345,,,\n", "Line 2: '12345' is not a valid mobile"),
    "landline": (HEADER + "Anna,Muster,,030 12345678,,,\n", "Line 2: '030 12345678' is a landline"),
    "duplicate email in file": (
        HEADER + "Anna,Muster,anna@example.org,,,,\nAnna,Zwei,Anna@Example.org,,,,\n",
        "Line 3: the email anna@example.org is already on line 2",
    ),
    "duplicate email in database": (
        HEADER + "Erika,Neu,ERIKA@example.org,,,,\n",
        "Line 2: a customer with the email erika@example.org already exists",
    ),
    "unknown location": (
        HEADER + "Anna,Muster,anna@example.org,,,Hamburg,\n",
        "Line 2: there is no location called 'Hamburg'",
    ),
    "unknown language": (
        HEADER + "Anna,Muster,anna@example.org,,es,,\n",
        "Line 2: the language 'es'",
    ),
    "no email and no mobile": (HEADER + "Anna,Muster,,,,,\n", "Line 2: needs an email or a mobile"),
    "overlong name": (HEADER + "A" * 81 + ",Muster,anna@example.org,,,,\n", "longer than 80"),
    "wrong number of values": (HEADER + "Anna,Muster,anna@example.org\n", "Line 2: has 3 values"),
    "wrong encoding": (
        (HEADER + "Jörg,Jäger,joerg@example.org,,,,\n").encode("cp1252"),
        "line 2 has a byte that UTF-8 does not allow",
    ),
    "empty file": ("", "The file is empty"),
    "header only": (HEADER, "a header but no customer rows"),
}


@pytest.mark.parametrize("content, message", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_input_exits_2_with_the_reason_and_imports_nothing(
    app, db, tmp_path, studio, content, message
):
    """Each bad file is refused with exit code 2 and a message; the customers stay exactly as they were."""
    before = _customers(db)
    result = _import(app, tmp_path, content)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert _customers(db) == before


def test_one_bad_row_stops_the_good_rows_too(app, db, tmp_path, studio):
    """Without --skip-invalid a single bad row means no row is imported, and the error says so."""
    result = _import(
        app, tmp_path, HEADER + "Anna,Muster,anna@example.org,,,,\nBen,Muster,not-an-email,,,,\n"
    )
    assert result.exit_code == 2
    assert "Nothing was imported" in result.output
    assert "--skip-invalid" in result.output
    assert len(_customers(db)) == 1


def test_import_without_a_file_argument_exits_2(app, db):
    """`flask customers import` alone is a usage error."""
    result = app.test_cli_runner().invoke(args=["customers", "import"])
    assert result.exit_code == 2
    assert "Missing argument" in result.output


def test_skip_invalid_imports_the_good_rows_and_lists_the_bad(app, db, tmp_path, studio):
    """The good rows are imported; every bad one is listed with its line number."""
    result = _import(
        app,
        tmp_path,
        HEADER
        + "Anna,Muster,anna@example.org,,,,\n"
        + "Ben,Muster,not-an-email,,,,\n"
        + '"Carla","Multi\nLine",carla@example.org,,,,\n'
        + "Dora,Muster,,030 12345678,,,\n",
        "--skip-invalid",
    )
    assert result.exit_code == 0, result.output
    assert "Imported 2 customers. Skipped 2 rows with problems." in result.output
    assert "Line 3: the email 'not-an-email' is not valid" in result.output
    # Carla's quoted value spans lines 4 and 5, so Dora is on line 6.
    assert "Line 6: '030 12345678' is a landline" in result.output
    assert [row[0] for row in _customers(db)] == ["Erika", "Anna", "Carla"]


def test_semicolon_separated_excel_file_imports(app, db, tmp_path, studio):
    """Excel in German locales writes semicolons, a byte order mark and CRLF line ends."""
    content = (
        "\ufefffirst_name;last_name;email;tags\r\n"
        'Jörg;Jäger;joerg@example.org;"Newsletter;Eltern"\r\n'
        "Zoë;O'Brien;zoe@example.org;\r\n"
    )
    result = _import(app, tmp_path, content)
    assert result.exit_code == 0, result.output
    assert [row[:3] for row in _customers(db)[1:]] == [
        ("Jörg", "Jäger", "joerg@example.org"),
        ("Zoë", "O'Brien", "zoe@example.org"),
    ]
    assert _tags_of(db, "joerg@example.org") == ["Eltern", "Newsletter"]


def test_export_then_import_into_an_empty_database_reproduces_the_customers(
    app, db, tmp_path, studio
):
    """What export writes, import reads back: names, contacts, language, location and tags."""
    zurich = factories.location("Milano Navigli")
    vip = factories.tag("VIP")
    anna = factories.customer(
        zurich, first_name="Anna-Lena", last_name="Jäger", email="anna@example.org", language="fr"
    )
    anna.tags = [vip, db.session.scalar(select(Tag).where(Tag.name == "Newsletter"))]
    factories.customer(first_name="Ohne", last_name="Mail", email=None, mobile="+393401234567")
    factories.customer(first_name="=HYPERLINK(1)", last_name="-Minus", email="formula@example.org")
    db.session.commit()
    before = _customers(db)
    tags_before = {row[2]: _tags_of(db, row[2]) for row in before if row[2]}
    export = tmp_path / "export.csv"

    result = app.test_cli_runner().invoke(args=["customers", "export", "--output", str(export)])
    assert result.exit_code == 0, result.output
    assert "'=HYPERLINK(1)" in export.read_text(encoding="utf-8-sig")
    db.session.execute(delete(customer_tags))
    db.session.execute(delete(Customer))
    db.session.execute(delete(Tag))
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["customers", "import", str(export)])
    assert result.exit_code == 0, result.output
    assert _customers(db) == before
    assert {email: _tags_of(db, email) for email in tags_before} == tags_before


def test_export_to_standard_output_is_csv_with_a_header(app, db, studio):
    """Without --output the CSV goes to standard output, header first, tags joined with ';'."""
    customer = db.session.scalar(select(Customer))
    customer.tags = [db.session.scalar(select(Tag)), factories.tag("VIP")]
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["customers", "export"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        HEADER.strip(),
        "Erika,Vorhanden,erika@example.org,,de,Berlin Mitte,Newsletter;VIP",
    ]


def test_skip_invalid_with_only_bad_rows_exits_2(app, db, tmp_path, studio):
    """When every row is bad there is nothing to import, so the command fails even when skipping."""
    result = _import(app, tmp_path, HEADER + "Ben,Muster,not-an-email,,,,\n", "--skip-invalid")
    assert result.exit_code == 2
    assert "Line 2:" in result.output and "Nothing was imported" in result.output
    assert len(_customers(db)) == 1
