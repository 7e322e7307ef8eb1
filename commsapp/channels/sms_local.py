"""SMS for development and tests: appended to a JSON-lines file instead of reaching a carrier."""

import json
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from commsapp.channels import PermanentSendError


@dataclass(frozen=True)
class OutgoingSms:
    to: str
    body: str
    sender: str = ""


class LocalSmsSession:
    _lock = threading.Lock()

    def __init__(self, outbox_file: Path) -> None:
        self.outbox_file = outbox_file
        outbox_file.parent.mkdir(parents=True, exist_ok=True)

    def send(self, sms: OutgoingSms) -> str:
        if not sms.to.startswith("+"):
            raise PermanentSendError(f"{sms.to} is not a number in international format")
        provider_id = f"local-{uuid.uuid4().hex[:16]}"
        line = json.dumps(
            {"id": provider_id, "to": sms.to, "from": sms.sender, "body": sms.body},
            ensure_ascii=False,
        )
        with self._lock, self.outbox_file.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        return provider_id

    def close(self) -> None:
        pass
