"""`flask users`: staff accounts from the command line."""

import click
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from commsapp.cli import CliError
from commsapp.extensions import db
from commsapp.models import Role, StaffUser
from commsapp.services import staff


@click.group("users", help="Manage staff accounts.")
def users_group() -> None:
    pass


@users_group.command("create-admin")
@click.argument("email")
@click.option("--password", help="The password; asked for (hidden, twice) when omitted.")
@click.option(
    "--name", default="", help="Display name; defaults to the part of the email before @."
)
def create_admin(email: str, password: str | None, name: str) -> None:
    """Create an admin account with EMAIL."""
    try:
        email = validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise CliError(f"'{email}' is not a valid email address: {exc}") from exc
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        raise CliError("The password must have at least 10 characters.")
    try:
        staff.create_staff(name or email.split("@")[0], email, password, Role.ADMIN)
    except staff.StaffError as exc:
        raise CliError(str(exc)) from exc
    db.session.commit()
    click.echo(f"Created admin {email}.")


@users_group.command("list")
def list_users() -> None:
    """List staff accounts with role and pre-filtered location."""
    users = db.session.scalars(select(StaffUser).order_by(StaffUser.email)).all()
    if not users:
        click.echo("No staff accounts yet. Create one with: flask users create-admin EMAIL")
        return
    for user in users:
        location = user.location.name if user.location else "all locations"
        state = "" if user.active else "  (deactivated)"
        click.echo(f"{user.email:40} {user.role.value:8} {location}{state}")


@users_group.command("set-location")
@click.argument("email")
@click.argument("location")
def set_location(email: str, location: str) -> None:
    """Pre-filter EMAIL's account to LOCATION (name or id); 'all' removes the filter."""
    user = db.session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    if user is None:
        raise CliError(f"There is no staff account with the email {email}.")
    if location.strip().lower() == "all":
        user.location_id = None
        label = "all locations"
    else:
        found = staff.find_location(location)
        if found is None:
            raise CliError(
                f"There is no location called '{location}'. 'flask users list' shows who sees what."
            )
        user.location_id = found.id
        label = found.name
    db.session.commit()
    click.echo(f"{user.email} now sees {label}.")
