"""Settings read from the environment, with defaults that are safe for a single studio."""

import os
import secrets
from pathlib import Path

INSTANCE_DIR = Path(
    os.environ.get("COMMSAPP_INSTANCE_DIR", Path(__file__).resolve().parent.parent / "instance")
)


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _persistent_secret_key() -> str:
    """A key that survives restarts without the admin having to invent one.

    Signed unsubscribe links must keep working for months, so a key generated per process
    would break them; it is written once under instance/ with owner-only permissions.
    """
    key_file = INSTANCE_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def database_url_from_env() -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{INSTANCE_DIR / 'commsapp.db'}"
    # Hosting platforms hand out postgres:// URLs; SQLAlchemy needs the driver named.
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class Config:
    """One object holding every setting; the README lists each with its variable."""

    def __init__(self) -> None:
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or _persistent_secret_key()
        self.SQLALCHEMY_DATABASE_URI = database_url_from_env()
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.REDIS_URL = os.environ.get("REDIS_URL", "").strip() or None
        self.RQ_QUEUE = os.environ.get("RQ_QUEUE", "commsapp")

        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _flag("SECURE_COOKIES", True)
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.PERMANENT_SESSION_LIFETIME = int(os.environ.get("SESSION_LIFETIME_SECONDS", 12 * 3600))

        # Image uploads are at most 2 MB; anything much larger is refused before it is read.
        self.MAX_CONTENT_LENGTH = int(os.environ.get("MAX_UPLOAD_BYTES", 3 * 1024 * 1024))
        self.WTF_CSRF_TIME_LIMIT = None  # tied to the session instead, so long forms don't expire
        self.BABEL_DEFAULT_LOCALE = os.environ.get("DEFAULT_LANGUAGE", "en")
        self.BABEL_DEFAULT_TIMEZONE = os.environ.get("DEFAULT_TIME_ZONE", "Europe/Berlin")
        self.LANGUAGES = ("en", "de", "fr", "it")

        self.LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", 5))
        self.LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", 15 * 60))

        self.SMTP_HOST = os.environ.get("SMTP_HOST", "").strip()
        self.SMTP_PORT = int(os.environ.get("SMTP_PORT", 587))
        self.SMTP_SECURITY = os.environ.get("SMTP_SECURITY", "starttls").strip().lower()
        self.SMTP_USER = os.environ.get("SMTP_USER", "")
        self.SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
        self.SMTP_TIMEOUT = float(os.environ.get("SMTP_TIMEOUT", 20))
        self.MAIL_FROM = os.environ.get("MAIL_FROM", "studio@localhost")
        self.MAIL_OUTBOX_DIR = os.environ.get("MAIL_OUTBOX_DIR", str(INSTANCE_DIR / "mail-outbox"))
        self.SMS_OUTBOX_FILE = os.environ.get(
            "SMS_OUTBOX_FILE", str(INSTANCE_DIR / "sms-outbox.jsonl")
        )
        # `local` writes SMS to SMS_OUTBOX_FILE; `twilio` sends them for real.
        self.SMS_PROVIDER = os.environ.get("SMS_PROVIDER", "local").strip().lower() or "local"
        self.TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "").strip()
        self.TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "").strip()
        self.TWILIO_MESSAGING_SERVICE_SID = os.environ.get(
            "TWILIO_MESSAGING_SERVICE_SID", ""
        ).strip()
        self.TWILIO_FROM_NUMBER = os.environ.get("TWILIO_FROM_NUMBER", "").strip()
        self.TWILIO_API_BASE_URL = os.environ.get(
            "TWILIO_API_BASE_URL", "https://api.twilio.com"
        ).rstrip("/")
        self.TWILIO_TIMEOUT = float(os.environ.get("TWILIO_TIMEOUT", 20))
        self.EMAIL_RATE_PER_SECOND = float(os.environ.get("EMAIL_RATE_PER_SECOND", 0))
        self.SMS_RATE_PER_SECOND = float(os.environ.get("SMS_RATE_PER_SECOND", 0))
        self.SEND_BATCH_SIZE = int(os.environ.get("SEND_BATCH_SIZE", 100))
        self.SEND_MAX_ATTEMPTS = int(os.environ.get("SEND_MAX_ATTEMPTS", 8))
        self.SEND_RETRY_BASE_SECONDS = float(os.environ.get("SEND_RETRY_BASE_SECONDS", 30))
        self.SENDING_TIMEOUT_SECONDS = float(os.environ.get("SENDING_TIMEOUT_SECONDS", 300))
        self.REQUEUE_AFTER_SECONDS = float(os.environ.get("REQUEUE_AFTER_SECONDS", 120))
        self.SWEEP_INTERVAL_SECONDS = float(os.environ.get("SWEEP_INTERVAL_SECONDS", 15))

        self.PAGE_SIZE = int(os.environ.get("PAGE_SIZE", 50))
        self.PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip(
            "/"
        )
