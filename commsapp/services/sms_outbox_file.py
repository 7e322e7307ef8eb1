"""Reading back the local SMS adapter's JSON-lines file, for the development outbox page."""

import json
from dataclasses import dataclass
from pathlib import Path

from commsapp.services.sms_segments import SmsAnalysis, analyze

# Only the end of the file is read: it grows for as long as the development database lives.
TAIL_BYTES = 1024 * 1024


@dataclass(frozen=True)
class LocalSms:
    provider_id: str
    to: str
    sender: str
    body: str
    analysis: SmsAnalysis


@dataclass(frozen=True)
class LocalOutbox:
    messages: list[LocalSms]  # newest first
    unreadable_lines: int
    exists: bool


def read_local_outbox(path: Path, limit: int = 200) -> LocalOutbox:
    """The last `limit` SMS the local adapter wrote, newest first; broken lines are counted, not shown."""
    if not path.is_file():
        return LocalOutbox([], 0, exists=False)
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - TAIL_BYTES))
        data = handle.read()
    lines = data.decode("utf-8", "replace").splitlines()
    if size > TAIL_BYTES and lines:
        lines = lines[1:]  # the first line was cut in the middle
    messages: list[LocalSms] = []
    unreadable = 0
    for line in reversed(lines):
        if len(messages) >= limit:
            break
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            body = str(entry.get("body", ""))
            messages.append(
                LocalSms(
                    provider_id=str(entry.get("id", "")),
                    to=str(entry.get("to", "")),
                    sender=str(entry.get("from", "")),
                    body=body,
                    analysis=analyze(body),
                )
            )
        except (ValueError, AttributeError):
            unreadable += 1
    return LocalOutbox(messages, unreadable, exists=True)
