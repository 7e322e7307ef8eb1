"""Admin commands, one group per module: `flask users ...`, `flask demo ...`, `flask customers ...`."""

import click
from flask import Flask


class CliError(click.ClickException):
    """Bad input: one clear sentence and exit code 2, never a traceback."""

    exit_code = 2


def register_cli(app: Flask) -> None:
    from commsapp.cli.customers import customers_group
    from commsapp.cli.demo import demo_group
    from commsapp.cli.jobs import jobs_group
    from commsapp.cli.messaging import messaging_group
    from commsapp.cli.users import users_group

    for group in (users_group, demo_group, customers_group, jobs_group, messaging_group):
        app.cli.add_command(group)
