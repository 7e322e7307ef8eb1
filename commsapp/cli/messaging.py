"""`flask messaging`: the abuse lock on group sending, and the outbox seen from the command line."""

import click
from sqlalchemy import func, select

from commsapp.extensions import db
from commsapp.models import BusinessSettings, Delivery


@click.group("messaging", help="Group sending lock and outbox status.")
def messaging_group() -> None:
    pass


@messaging_group.command("unlock")
@click.option("--relock", is_flag=True, help="Withdraw the exception again, so the guard applies.")
def unlock(relock: bool) -> None:
    """Grant the exception to the abuse guard: group sending works again, whatever the volume."""
    settings = BusinessSettings.get()
    settings.messaging_locked_at = None
    settings.messaging_lock_exempt = not relock
    db.session.commit()
    click.echo(
        "The abuse guard applies again."
        if relock
        else "Group sending is unlocked; the volume guard no longer applies."
    )


@messaging_group.command("status")
def status() -> None:
    """Deliveries in the outbox, counted by channel and status."""
    rows = db.session.execute(
        select(Delivery.channel, Delivery.status, func.count())
        .group_by(Delivery.channel, Delivery.status)
        .order_by(Delivery.channel, Delivery.status)
    ).all()
    settings = BusinessSettings.get()
    if settings.messaging_locked_at and not settings.messaging_lock_exempt:
        click.echo(
            f"Group sending is LOCKED since {settings.messaging_locked_at:%Y-%m-%d %H:%M} UTC."
        )
    if not rows:
        click.echo("The outbox is empty.")
    for channel, delivery_status, count in rows:
        click.echo(f"{channel.value:8} {delivery_status.value:8} {count}")
