"""`make run`: upgrade the database, seed demo data once, then serve the web app and the worker together."""

import os
import signal
import subprocess
import sys
import time

from commsapp.config import INSTANCE_DIR

DEMO_ADMIN_EMAIL = "admin@demo.studio"
DEMO_ADMIN_PASSWORD = "demo-admin-pass"


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "5000")
    env = dict(os.environ)
    env.setdefault("SECURE_COOKIES", "0")  # served over plain http on this machine
    env.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
    embedded_redis = not env.get("REDIS_URL")
    if embedded_redis:
        from commsapp.queue import ensure_embedded_redis

        env["REDIS_URL"] = ensure_embedded_redis()
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], env=env, check=True)
    if _database_is_empty(env):
        print("Empty database: seeding demo data ...", flush=True)
        subprocess.run([*flask, "demo", "seed", "--customers", "500"], env=env, check=True)

    worker = subprocess.Popen([sys.executable, "worker.py"], env=env)
    web = subprocess.Popen([*flask, "run", "--host", host, "--port", port, "--no-reload"], env=env)
    time.sleep(1.0)
    print(
        f"\n  commsapp is running at http://{host}:{port}/\n"
        f"  Demo admin: {DEMO_ADMIN_EMAIL} / {DEMO_ADMIN_PASSWORD}\n"
        f"  Data: {env.get('DATABASE_URL') or INSTANCE_DIR / 'commsapp.db'} · Redis: {env['REDIS_URL']}\n"
        "  Press Ctrl-C to stop the web app and the worker.\n",
        flush=True,
    )
    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and web.poll() is None and worker.poll() is None:
            time.sleep(0.3)
    finally:
        for process in (web, worker):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (web, worker):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if embedded_redis:
            _stop_embedded_redis(env["REDIS_URL"])
    print("Stopped.")
    return 0


def _stop_embedded_redis(url: str) -> None:
    """Queued jobs are saved to instance/redis.rdb and picked up by the next `make run`."""
    import contextlib

    import redis

    # Shutting down closes the connection before Redis can answer.
    with contextlib.suppress(redis.ConnectionError):
        redis.Redis.from_url(url).shutdown(save=True)


def _database_is_empty(env: dict[str, str]) -> bool:
    check = (
        "from commsapp import create_app; from commsapp.extensions import db; from commsapp.models import StaffUser;"
        "app = create_app();\nwith app.app_context(): print(db.session.query(StaffUser).count())"
    )
    out = subprocess.run(
        [sys.executable, "-c", check], env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1] == "0"


if __name__ == "__main__":
    sys.exit(main())
