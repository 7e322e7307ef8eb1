"""A local HTTP server on loopback that answers like Twilio's Messages API, for the tests.

The `twilio` package's own client talks to it over real HTTP, so what is tested is the request
the package builds from our arguments and how we read Twilio's answers, not a stand-in of our code.
"""

import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


class TwilioApiServer:
    """Records every request; answers with queued replies, else with a new queued message."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._replies: deque[tuple[int, str]] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reply(self, status: int, payload: dict | str) -> None:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        with self._lock:
            self._replies.append((status, body))

    def _next_reply(self, form: dict[str, str]) -> tuple[int, str]:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
        sid = "SM" + uuid.uuid4().hex
        return 201, json.dumps(
            {
                "sid": sid,
                "status": "queued",
                "to": form.get("To"),
                "from": form.get("From"),
                "body": form.get("Body"),
                "num_segments": "1",
                "messaging_service_sid": form.get("MessagingServiceSid"),
            }
        )

    def start(self) -> None:
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                with server_self._lock:
                    server_self.requests.append(
                        RecordedRequest("POST", self.path, dict(self.headers), form)
                    )
                status, body = server_self._next_reply(form)
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
