"""Opens the right channel for the configuration (SMTP or a maildir, local SMS) and paces sending."""

import time
from pathlib import Path

from commsapp.channels.email_file import MaildirSession
from commsapp.channels.email_smtp import SmtpSession, SmtpSettings
from commsapp.channels.in_app import InAppSession
from commsapp.channels.sms_local import LocalSmsSession, OutgoingSms
from commsapp.models import Channel

__all__ = ["OutgoingSms", "RateLimiter", "SessionPool"]


class RateLimiter:
    """At most `per_second` sends per channel across all workers, counted in Redis per second.

    Without Redis the limit is kept per process, which can only send slower, never faster.
    """

    def __init__(self, channel: Channel, per_second: float) -> None:
        self.channel = channel
        self.per_second = per_second
        self._last_local = 0.0

    def wait(self) -> None:
        if self.per_second <= 0:
            return
        from redis.exceptions import RedisError

        from commsapp.queue import get_redis

        try:
            redis = get_redis()
            while True:
                second = int(time.time())
                key = f"commsapp:rate:{self.channel.value}:{second}"
                with redis.pipeline() as pipe:
                    pipe.incr(key)
                    pipe.expire(key, 5)
                    count = pipe.execute()[0]
                if count <= self.per_second:
                    return
                time.sleep(max(0.0, second + 1 - time.time()))
        except RedisError:
            gap = 1.0 / self.per_second
            pause = self._last_local + gap - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            self._last_local = time.monotonic()


class SessionPool:
    """One open session per channel for the duration of a job's batch."""

    def __init__(self, config) -> None:
        self.config = config
        self._sessions: dict[Channel, object] = {}
        self._limits = {
            Channel.EMAIL: RateLimiter(Channel.EMAIL, config["EMAIL_RATE_PER_SECOND"]),
            Channel.SMS: RateLimiter(Channel.SMS, config["SMS_RATE_PER_SECOND"]),
        }

    def throttle(self, channel: Channel) -> None:
        self._limits[channel].wait()

    def email(self):
        if Channel.EMAIL not in self._sessions:
            c = self.config
            if c["SMTP_HOST"]:
                settings = SmtpSettings(
                    c["SMTP_HOST"],
                    c["SMTP_PORT"],
                    c["SMTP_SECURITY"],
                    c["SMTP_USER"],
                    c["SMTP_PASSWORD"],
                    c["SMTP_TIMEOUT"],
                )
                self._sessions[Channel.EMAIL] = SmtpSession(settings)
            else:
                self._sessions[Channel.EMAIL] = MaildirSession(Path(c["MAIL_OUTBOX_DIR"]))
        return self._sessions[Channel.EMAIL]

    def sms(self):
        if Channel.SMS not in self._sessions:
            if self.config.get("SMS_PROVIDER", "local") == "twilio":
                # Raises ChannelUnavailable when unconfigured: the SMS wait and retry.
                from commsapp.channels.sms_twilio import TwilioSettings, TwilioSmsSession

                session = TwilioSmsSession(TwilioSettings.from_config(self.config))
            else:
                session = LocalSmsSession(Path(self.config["SMS_OUTBOX_FILE"]))
            self._sessions[Channel.SMS] = session
        return self._sessions[Channel.SMS]

    def in_app(self):
        if Channel.IN_APP not in self._sessions:
            self._sessions[Channel.IN_APP] = InAppSession()
        return self._sessions[Channel.IN_APP]

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
