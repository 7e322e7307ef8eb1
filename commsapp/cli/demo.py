"""`flask demo`: realistic demo data for trying the app and for benchmarks."""

import click

from commsapp.cli import CliError


@click.group("demo", help="Demo data.")
def demo_group() -> None:
    pass


@demo_group.command("seed")
@click.option(
    "--customers",
    "customer_count",
    default=500,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
)
@click.option("--seed", default=1, show_default=True, type=int, help="Same seed, same data.")
@click.option("--admin-password", default="demo-admin-pass", show_default=True)
def seed(customer_count: int, seed: int, admin_password: str) -> None:
    """Fill an empty database with a studio: locations, staff, customers, a year of courses and bookings."""
    from commsapp.services import demo_seed

    try:
        summary = demo_seed.seed(
            customer_count=customer_count, seed=seed, admin_password=admin_password, progress=True
        )
    except demo_seed.NotEmptyError as exc:
        raise CliError(str(exc)) from exc
    click.echo(summary)
