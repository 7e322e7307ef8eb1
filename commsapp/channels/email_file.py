"""Email for development: each message is written as an .eml file instead of being sent."""

from pathlib import Path

from commsapp.services.email_compose import OutgoingEmail


class MaildirSession:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def send(self, email: OutgoingEmail) -> str:
        message_id = email.message_id
        name = message_id.strip("<>").replace("@", "_at_").replace("/", "_")
        (self.directory / f"{name}.eml").write_bytes(email.data)
        return message_id

    def close(self) -> None:
        pass
