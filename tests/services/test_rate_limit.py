"""The sending rate per channel holds across workers, counted in real Redis."""

import threading
import time

from commsapp.models import Channel
from commsapp.services.channel_sessions import RateLimiter


def test_rate_limit_is_shared_by_concurrent_senders(app, redis):
    """Two senders sharing a limit of 3 per second cannot send 9 messages within one second."""
    sent_at: list[float] = []
    lock = threading.Lock()

    def sender(count: int) -> None:
        limiter = RateLimiter(Channel.EMAIL, per_second=3)
        with app.app_context():
            for _ in range(count):
                limiter.wait()
                with lock:
                    sent_at.append(time.time())

    workers = [threading.Thread(target=sender, args=(n,)) for n in (5, 4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=20)
    assert len(sent_at) == 9
    # 9 sends at 3 per calendar second occupy at least three seconds s, s+1, s+2, so the first
    # and the last are more than a second apart (unthrottled they would be microseconds apart).
    assert max(sent_at) - min(sent_at) > 1.0


def test_no_limit_means_no_waiting(app):
    """A rate of 0 sends at full speed."""
    limiter = RateLimiter(Channel.SMS, per_second=0)
    start = time.monotonic()
    for _ in range(1000):
        limiter.wait()
    assert time.monotonic() - start < 0.5
