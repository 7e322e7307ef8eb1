"""A real SMTP server on loopback for the tests: aiosmtpd, keeping every message."""

import asyncio
import email
import email.policy
import socket
import threading
from email.message import Message

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope


class _Handler:
    def __init__(self, sink: "SmtpSink") -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope: Envelope, address: str, rcpt_options):
        refusal = self.sink.refuse.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope: Envelope):
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
            self.sink.raw.append(envelope.content)
        return "250 Message accepted"


class SmtpSink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []
        self.raw: list[bytes] = []  # as received, before parsing
        self.refuse: dict[str, str] = {}
        self.delay = 0.0  # seconds before each message is accepted: a slow server
        self.lock = threading.Lock()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        if self.controller.loop.is_running():
            self.controller.stop()

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for _, rcpts, m in self.messages if address in rcpts]
