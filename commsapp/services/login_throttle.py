"""Slows down password guessing: too many failed sign-ins lock the address and the client for a while."""

import hashlib

import redis

# A shared office IP may host several staff members, so the per-client limit is looser.
CLIENT_LIMIT_FACTOR = 4


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"commsapp:login-failures:{kind}:{digest}"


def seconds_locked(r: redis.Redis, email: str, client: str, max_failures: int) -> int:
    """How long sign-in stays refused for this email or client; 0 when it is allowed."""
    checks = (
        (_key("email", email), max_failures),
        (_key("client", client), max_failures * CLIENT_LIMIT_FACTOR),
    )
    waits = [max(int(r.ttl(key)), 1) for key, limit in checks if int(r.get(key) or 0) >= limit]
    return max(waits, default=0)


def record_failure(r: redis.Redis, email: str, client: str, lockout_seconds: int) -> None:
    with r.pipeline() as pipe:
        for key in (_key("email", email), _key("client", client)):
            pipe.incr(key)
            pipe.expire(key, lockout_seconds)
        pipe.execute()


def record_success(r: redis.Redis, email: str) -> None:
    r.delete(_key("email", email))
