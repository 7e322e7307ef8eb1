"""`flask users`: creating admins, listing, pre-filtering a location; bad input exits 2 with a sentence."""

from sqlalchemy import func, select

from commsapp.models import Role, StaffUser
from tests import factories


def _count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(StaffUser))


def test_create_admin_with_password_option(app, db):
    """The admin can then sign in; the email is stored lowercased."""
    result = app.test_cli_runner().invoke(
        args=["users", "create-admin", "Chef@Studio.de", "--password", "a-long-password"]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(StaffUser))
    assert (user.email, user.role) == ("chef@studio.de", Role.ADMIN)
    assert user.check_password("a-long-password")


def test_create_admin_prompts_for_the_password_twice(app, db):
    """Without --password the command asks, hidden and confirmed."""
    result = app.test_cli_runner().invoke(
        args=["users", "create-admin", "chef@studio.de"], input="a-long-password\na-long-password\n"
    )
    assert result.exit_code == 0, result.output
    assert _count(db) == 1


def test_create_admin_refuses_bad_input_with_exit_code_2(app, db):
    """Bad email, short password, duplicate and missing arguments: exit 2, one sentence, nothing stored."""
    runner = app.test_cli_runner()
    factories.staff_user(email="taken@studio.de")
    db.session.commit()
    cases = {
        (
            "users",
            "create-admin",
            "not-an-email",
            "--password",
            "a-long-password",
        ): "is not a valid email address",
        ("users", "create-admin", "new@studio.de", "--password", "short"): "at least 10 characters",
        (
            "users",
            "create-admin",
            "taken@studio.de",
            "--password",
            "a-long-password",
        ): "already exists",
        ("users", "create-admin"): "Missing argument",
    }
    for args, message in cases.items():
        result = runner.invoke(args=list(args))
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output
        assert "Traceback" not in result.output
    assert _count(db) == 1


def test_list_shows_role_and_location(app, db):
    """Each account with its role and what it sees."""
    berlin = factories.location("Berlin")
    factories.staff_user(Role.STAFF, email="mara@studio.de", location=berlin)
    db.session.commit()
    output = app.test_cli_runner().invoke(args=["users", "list"]).output
    assert "mara@studio.de" in output and "staff" in output and "Berlin" in output


def test_set_location_by_name_and_back_to_all(app, db):
    """A location name (any case) pre-filters the account; 'all' lifts the filter."""
    berlin = factories.location("Berlin Mitte")
    factories.staff_user(Role.STAFF, email="mara@studio.de")
    db.session.commit()
    runner = app.test_cli_runner()
    assert (
        runner.invoke(args=["users", "set-location", "mara@studio.de", "berlin mitte"]).exit_code
        == 0
    )
    db.session.expire_all()
    assert db.session.scalar(select(StaffUser.location_id)) == berlin.id
    assert runner.invoke(args=["users", "set-location", "mara@studio.de", "all"]).exit_code == 0
    db.session.expire_all()
    assert db.session.scalar(select(StaffUser.location_id)) is None


def test_set_location_refuses_unknown_email_or_location(app, db):
    """Unknown names exit 2 and change nothing."""
    factories.location("Berlin")
    factories.staff_user(Role.STAFF, email="mara@studio.de")
    db.session.commit()
    runner = app.test_cli_runner()
    unknown_user = runner.invoke(args=["users", "set-location", "nobody@studio.de", "Berlin"])
    unknown_place = runner.invoke(args=["users", "set-location", "mara@studio.de", "Atlantis"])
    assert unknown_user.exit_code == unknown_place.exit_code == 2
    assert "no staff account" in unknown_user.output
    assert "no location called 'Atlantis'" in unknown_place.output
    db.session.expire_all()
    assert db.session.scalar(select(StaffUser.location_id)) is None


def test_every_command_has_help(app):
    """`--help` works on every group and command."""
    import click

    runner = app.test_cli_runner()
    ours = {
        name: group
        for name, group in app.cli.commands.items()
        if isinstance(group, click.Group) and name != "db"
    }
    assert {"users", "demo", "customers", "jobs", "messaging"} <= set(ours)
    for name, group in ours.items():
        assert runner.invoke(args=[name, "--help"]).exit_code == 0, name
        for command in group.commands:
            result = runner.invoke(args=[name, command, "--help"])
            assert result.exit_code == 0 and result.output.strip(), (name, command)
