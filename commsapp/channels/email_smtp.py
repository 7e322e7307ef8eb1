"""Email over SMTP with the standard library: one persistent connection per batch, STARTTLS or SSL."""

import contextlib
import smtplib
import socket
import ssl
from dataclasses import dataclass

from commsapp.channels import ChannelUnavailable, PermanentSendError, TransientSendError
from commsapp.services.email_compose import OutgoingEmail


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    security: str = "starttls"  # "starttls", "ssl" or "none"
    username: str = ""
    password: str = ""
    timeout: float = 20.0


class SmtpSession:
    """Opens the connection lazily and reopens it after the server drops it."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if s.username:
                smtp.login(s.username, s.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelUnavailable(
                f"the mail server refused the login ({exc.smtp_code}); check SMTP_USER and SMTP_PASSWORD"
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelUnavailable(
                f"could not connect to the mail server {s.host}:{s.port}: {_describe(exc)}"
            ) from exc
        return smtp

    def send(self, email: OutgoingEmail) -> str:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            refused = self._smtp.sendmail(
                email.envelope_from,
                [email.envelope_to],
                email.data,
                # As send_message does: SMTPUTF8 headers are 8-bit data.
                mail_options=("SMTPUTF8", "BODY=8BITMIME") if email.needs_smtputf8 else (),
            )
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentSendError(
                "the mail server does not accept addresses with non-ASCII characters (SMTPUTF8)"
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise _classified(
                code, f"the mail server refused the recipient: {code} {_text(reply)}"
            ) from exc
        except smtplib.SMTPSenderRefused as exc:
            raise _classified(
                exc.smtp_code,
                f"the mail server refused the sender: {exc.smtp_code} {_text(exc.smtp_error)}",
            ) from exc
        except smtplib.SMTPDataError as exc:
            raise _classified(
                exc.smtp_code,
                f"the mail server refused the message: {exc.smtp_code} {_text(exc.smtp_error)}",
            ) from exc
        except smtplib.SMTPResponseException as exc:
            self._drop()
            raise _classified(
                exc.smtp_code, f"the mail server answered {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from exc
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise TransientSendError(
                f"the connection to the mail server broke: {_describe(exc)}"
            ) from exc
        if refused:
            code, reply = next(iter(refused.values()))
            raise _classified(code, f"the mail server refused the recipient: {code} {_text(reply)}")
        return email.message_id

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._drop()


def _classified(code: int, reason: str) -> Exception:
    """SMTP 4xx means try again later, 5xx means never."""
    return TransientSendError(reason) if 400 <= code < 500 else PermanentSendError(reason)


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
