"""`flask customers`: import and export the customer list as CSV."""

import click


@click.group("customers", help="Import and export customers.")
def customers_group() -> None:
    pass
