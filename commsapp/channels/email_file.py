"""Email for development: each message is written as an .eml file instead of being sent."""

from email.message import EmailMessage
from pathlib import Path


class MaildirSession:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def send(self, message: EmailMessage) -> str:
        message_id = message["Message-ID"]
        name = message_id.strip("<>").replace("@", "_at_").replace("/", "_")
        (self.directory / f"{name}.eml").write_bytes(message.as_bytes())
        return message_id

    def close(self) -> None:
        pass
