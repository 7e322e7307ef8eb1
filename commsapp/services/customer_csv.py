"""Customer CSV import and export: every row is checked before anything is written, and an export re-imports."""

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import insert, select

from commsapp.extensions import db
from commsapp.models import BusinessSettings, Customer, Location, Tag, customer_tags
from commsapp.services.phone import parse_mobile, parse_phone

COLUMNS = ("first_name", "last_name", "email", "mobile", "language", "home_location", "tags")
LANGUAGES = ("de", "en", "fr", "it")
TAG_SEPARATOR = ";"
MAX_LENGTH = {"first_name": 80, "last_name": 80, "email": 254, "mobile": 40, "tag": 80}
# Cells that spreadsheets would run as a formula get an apostrophe in front on export (the
# usual CSV-injection defence); the import takes it off again, so a round trip is exact.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EXPORT_CHUNK = 2_000
LOOKUP_CHUNK = 500


class CsvFileError(ValueError):
    """The file as a whole cannot be used (encoding, header, no rows); the message says how to fix it."""


@dataclass(frozen=True)
class RowProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}"


@dataclass(frozen=True)
class ImportResult:
    imported: int
    problems: list[RowProblem]


@dataclass
class _Row:
    line: int
    first_name: str
    last_name: str
    email: str | None
    mobile: str | None
    language: str
    home_location_id: int | None
    tags: list[str]


def import_customers(data: bytes, skip_invalid: bool = False) -> ImportResult:
    """Check every row of a customer CSV, then add the customers to the session; the caller commits.

    Nothing is added when any row has a problem, unless `skip_invalid`: then the good rows are
    added and the bad ones still reported.

    :raise CsvFileError: when the file cannot be read at all.
    """
    rows, problems = _read(_decode(data))
    if problems and not skip_invalid:
        return ImportResult(0, problems)
    if rows:
        _insert(rows)
    return ImportResult(len(rows), problems)


def _decode(data: bytes) -> str:
    try:
        # utf-8-sig drops the byte order mark Excel writes in front of "CSV UTF-8" files.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CsvFileError(
            f"The file is not UTF-8 (line {line} has a byte that UTF-8 does not allow), so save it "
            "again as UTF-8: in Excel with 'Save as' and the type 'CSV UTF-8', in LibreOffice with "
            "the character set 'Unicode (UTF-8)'."
        ) from exc


def _read(text: str) -> tuple[list[_Row], list[RowProblem]]:
    """The good rows and one problem per bad row, in file order."""
    if not text.strip():
        raise CsvFileError(
            f"The file is empty; its first line must be the header: {','.join(COLUMNS)}."
        )
    header_line = next(line for line in text.splitlines() if line.strip())
    # Excel in German, French and Italian locales separates with semicolons.
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    records = _records(text, delimiter)
    _, header = next(records)
    names = _check_header(header, header_line)
    raw_rows = list(records)
    if not raw_rows:
        raise CsvFileError("The file has a header but no customer rows.")
    return _Validator().check(names, raw_rows)


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Each non-blank record with the physical line it starts on (quoted values may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    line = 1
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                yield line, record
            line = reader.line_num + 1
    except csv.Error as exc:
        raise CsvFileError(f"Line {reader.line_num} cannot be read as CSV: {exc}.") from exc


def _check_header(header: list[str], header_line: str) -> list[str]:
    names = [name.strip().lower() for name in header]
    expected = ", ".join(COLUMNS)
    if not set(names) & set(COLUMNS):
        raise CsvFileError(
            f"The first line must be the header naming the columns ({expected}), "
            f"but it reads '{header_line[:80]}'."
        )
    unknown = [
        name or f"(column {number} has no name)"
        for number, name in enumerate(names, start=1)
        if name not in COLUMNS
    ]
    if unknown:
        raise CsvFileError(
            f"The header has unknown columns: {', '.join(unknown)}; the columns are {expected}."
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise CsvFileError(f"The header names these columns twice: {', '.join(repeated)}.")
    if "first_name" not in names:
        raise CsvFileError("The header has no first_name column, and every customer needs one.")
    if "email" not in names and "mobile" not in names:
        raise CsvFileError("The header needs an email or a mobile column to reach the customers.")
    return names


def _cell_text(value: str) -> str:
    value = value.strip()
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_STARTS) else value


class _Validator:
    """Checks rows against the studio's settings, its locations and tags, and the customers it has."""

    def __init__(self) -> None:
        settings = BusinessSettings.get()
        self.region = settings.default_region
        self.default_language = settings.default_language
        locations = db.session.execute(select(Location.name, Location.id)).all()
        self.location_ids = {name.lower(): location_id for name, location_id in locations}
        self.location_names = sorted(name for name, _ in locations)
        # New tags take the spelling of an existing tag that differs only in case.
        self.tag_names = {name.lower(): name for name in db.session.scalars(select(Tag.name))}

    def check(
        self, names: list[str], raw_rows: list[tuple[int, list[str]]]
    ) -> tuple[list[_Row], list[RowProblem]]:
        reasons: dict[int, list[str]] = defaultdict(list)
        rows = []
        first_line_of: dict[str, int] = {}
        for line, record in raw_rows:
            if len(record) != len(names):
                reasons[line].append(
                    f"has {len(record)} values but the header has {len(names)} columns "
                    "(a value containing the separator must be in double quotes)"
                )
                continue
            row = self._row(
                line, dict(zip(names, map(_cell_text, record), strict=True)), reasons[line]
            )
            if row.email:
                if row.email in first_line_of:
                    reasons[line].append(
                        f"the email {row.email} is already on line {first_line_of[row.email]}"
                    )
                else:
                    first_line_of[row.email] = line
            rows.append(row)
        for email in self._emails_in_database(list(first_line_of)):
            reasons[first_line_of[email]].append(
                f"a customer with the email {email} already exists"
            )
        problems = [
            RowProblem(line, "; ".join(found)) for line, found in sorted(reasons.items()) if found
        ]
        bad = {problem.line for problem in problems}
        return [row for row in rows if row.line not in bad], problems

    def _row(self, line: int, values: dict[str, str], reasons: list[str]) -> _Row:
        for column in ("first_name", "last_name"):
            if len(values.get(column, "")) > MAX_LENGTH[column]:
                reasons.append(f"{column} is longer than {MAX_LENGTH[column]} characters")
        first_name = values["first_name"]
        if not first_name:
            reasons.append("first_name is empty")
        email_text, mobile_text = values.get("email", ""), values.get("mobile", "")
        if not email_text and not mobile_text:
            reasons.append("needs an email or a mobile number")
        return _Row(
            line=line,
            first_name=first_name,
            last_name=values.get("last_name", ""),
            email=self._email(email_text, reasons) if email_text else None,
            mobile=self._mobile(mobile_text, reasons) if mobile_text else None,
            language=self._language(values.get("language", ""), reasons),
            home_location_id=self._location(values.get("home_location", ""), reasons),
            tags=self._tags(values.get("tags", ""), reasons),
        )

    def _email(self, text: str, reasons: list[str]) -> str | None:
        if len(text) > MAX_LENGTH["email"]:
            reasons.append(f"the email is longer than {MAX_LENGTH['email']} characters")
            return None
        try:
            return validate_email(text, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            reasons.append(f"the email '{text}' is not valid: {exc}")
            return None

    def _mobile(self, text: str, reasons: list[str]) -> str | None:
        if len(text) > MAX_LENGTH["mobile"]:
            reasons.append(f"the mobile number is longer than {MAX_LENGTH['mobile']} characters")
            return None
        mobile = parse_mobile(text, self.region)
        if mobile is None:
            if parse_phone(text, self.region):
                reasons.append(f"'{text}' is a landline number, and only mobiles can get SMS")
            else:
                reasons.append(f"'{text}' is not a valid mobile number")
        return mobile

    def _language(self, text: str, reasons: list[str]) -> str:
        language = text.lower()
        if not language:
            return self.default_language
        if language not in LANGUAGES:
            reasons.append(f"the language '{text}' is not one of {', '.join(LANGUAGES)}")
        return language

    def _location(self, text: str, reasons: list[str]) -> int | None:
        if not text:
            return None
        location_id = self.location_ids.get(text.lower())
        if location_id is None:
            known = ", ".join(self.location_names) or "none yet"
            reasons.append(f"there is no location called '{text}' (known: {known})")
        return location_id

    def _tags(self, text: str, reasons: list[str]) -> list[str]:
        tags: dict[str, str] = {}
        for name in filter(None, (part.strip() for part in text.split(TAG_SEPARATOR))):
            if len(name) > MAX_LENGTH["tag"]:
                reasons.append(
                    f"the tag '{name[:20]}...' is longer than {MAX_LENGTH['tag']} characters"
                )
                continue
            tags[name.lower()] = self.tag_names.setdefault(name.lower(), name)
        return list(tags.values())

    @staticmethod
    def _emails_in_database(emails: list[str]) -> list[str]:
        found = []
        for start in range(0, len(emails), LOOKUP_CHUNK):
            chunk = emails[start : start + LOOKUP_CHUNK]
            found += db.session.scalars(select(Customer.email).where(Customer.email.in_(chunk)))
        return sorted(found)


def _insert(rows: list[_Row]) -> None:
    """Add the customers and their tags (creating missing tags) in bulk, in the open transaction."""
    wanted = {name for row in rows for name in row.tags}
    tag_ids = dict(db.session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(wanted))).all())
    new_tags = [Tag(name=name) for name in sorted(wanted - tag_ids.keys())]
    db.session.add_all(new_tags)
    db.session.flush()
    tag_ids.update((tag.name, tag.id) for tag in new_tags)
    customer_ids = db.session.scalars(
        insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
        [
            {
                "first_name": row.first_name,
                "last_name": row.last_name,
                "email": row.email,
                "mobile": row.mobile,
                "language": row.language,
                "home_location_id": row.home_location_id,
            }
            for row in rows
        ],
    ).all()
    links = [
        {"customer_id": customer_id, "tag_id": tag_ids[name]}
        for customer_id, row in zip(customer_ids, rows, strict=True)
        for name in row.tags
    ]
    if links:
        db.session.execute(insert(customer_tags), links)


def export_customers(out: TextIO) -> int:
    """Write every customer to `out` as CSV in the import format, a chunk at a time; return the count."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    locations = dict(db.session.execute(select(Location.id, Location.name)).all())
    stmt = (
        select(
            Customer.id,
            Customer.first_name,
            Customer.last_name,
            Customer.email,
            Customer.mobile,
            Customer.language,
            Customer.home_location_id,
        )
        .order_by(Customer.id)
        .execution_options(yield_per=EXPORT_CHUNK)
    )
    count = 0
    for chunk in db.session.execute(stmt).partitions():
        tags = _tags_between(chunk[0].id, chunk[-1].id)
        writer.writerows(
            (
                _safe(row.first_name),
                _safe(row.last_name),
                _safe(row.email or ""),
                row.mobile or "",
                row.language,
                _safe(locations.get(row.home_location_id, "")),
                _safe(TAG_SEPARATOR.join(tags.get(row.id, ()))),
            )
            for row in chunk
        )
        count += len(chunk)
    return count


def _tags_between(first_id: int, last_id: int) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = defaultdict(list)
    stmt = (
        select(customer_tags.c.customer_id, Tag.name)
        .join(Tag, Tag.id == customer_tags.c.tag_id)
        .where(customer_tags.c.customer_id.between(first_id, last_id))
        .order_by(customer_tags.c.customer_id, Tag.name)
    )
    for customer_id, name in db.session.execute(stmt):
        tags[customer_id].append(name)
    return tags


def _safe(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value
