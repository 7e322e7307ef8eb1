"""`flask customers`: import and export the customer list as CSV."""

import io
import sys
from pathlib import Path

import click
from sqlalchemy.exc import IntegrityError

from commsapp.cli import CliError
from commsapp.extensions import db
from commsapp.services import customer_csv


@click.group("customers", help="Import and export customers.")
def customers_group() -> None:
    pass


@customers_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the good rows and list the bad ones, instead of importing nothing.",
)
def import_customers(file: Path, skip_invalid: bool) -> None:
    """Import customers from FILE, a UTF-8 CSV with a header naming its columns.

    The columns are first_name, last_name, email, mobile, language, home_location and tags
    (separated by ';'), in any order; first_name and an email or mobile are required.
    Every row is checked first, and nothing is imported while any row has a problem.
    """
    try:
        result = customer_csv.import_customers(file.read_bytes(), skip_invalid=skip_invalid)
        for problem in result.problems:
            click.echo(str(problem), err=True)
        if not result.imported:
            hint = "" if skip_invalid else "; fix them, or use --skip-invalid to import the rest"
            raise CliError(f"Nothing was imported because of the problems listed above{hint}.")
        db.session.commit()
    except customer_csv.CsvFileError as exc:
        raise CliError(str(exc)) from exc
    except IntegrityError as exc:
        # The emails were free when checked; another import or sign-up took one since.
        raise CliError(
            "Nothing was imported: a customer with one of these emails was added meanwhile; "
            "run the import again."
        ) from exc
    finally:
        # Whatever was not committed goes: never half an import.
        db.session.rollback()
    skipped = len(result.problems)
    note = (
        f" Skipped {skipped} {'row' if skipped == 1 else 'rows'} with problems." if skipped else ""
    )
    click.echo(f"Imported {result.imported} customers.{note}")


@customers_group.command("export")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file (with a byte order mark, so Excel reads it as UTF-8) "
    "instead of standard output.",
)
def export_customers(output: Path | None) -> None:
    """Write every customer as UTF-8 CSV in the format `flask customers import` reads."""
    if output is not None:
        with output.open("w", encoding="utf-8-sig", newline="") as out:
            count = customer_csv.export_customers(out)
        click.echo(f"Exported {count} customers to {output}.")
        return
    sys.stdout.flush()
    out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    try:
        customer_csv.export_customers(out)
    finally:
        out.flush()
        # Leave standard output open for whoever owns it.
        out.detach()
