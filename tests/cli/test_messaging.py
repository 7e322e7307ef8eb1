"""`flask messaging`: the outbox at a glance and the abuse-guard exception."""

from datetime import datetime

from commsapp.models import BusinessSettings, Category, Channel
from commsapp.services import outbox
from tests import factories


def test_status_counts_deliveries_and_shows_the_lock(app, db):
    """Counts per channel and status, and a visible warning while group sending is locked."""
    customer = factories.customer(email=None)
    db.session.commit()
    outbox.send(
        outbox.MessageSpec(
            category=Category.MANUAL, channel=Channel.EMAIL, subject="Hi", body_html="<p>x</p>"
        ),
        [customer.id],
    )
    BusinessSettings.get().messaging_locked_at = datetime(2026, 11, 1, 9, 30)
    db.session.commit()
    output = app.test_cli_runner().invoke(args=["messaging", "status"]).output
    assert "email    skipped  1" in output
    assert "LOCKED since 2026-11-01 09:30" in output


def test_unlock_then_relock(app, db):
    """The exception can be granted and withdrawn again."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["messaging", "unlock"]).exit_code == 0
    db.session.expire_all()
    assert BusinessSettings.get().messaging_lock_exempt is True
    assert runner.invoke(args=["messaging", "unlock", "--relock"]).exit_code == 0
    db.session.expire_all()
    assert BusinessSettings.get().messaging_lock_exempt is False
