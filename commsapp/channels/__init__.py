"""How a message leaves the system: one small interface, one module per channel.

Channels know nothing of customers or consent: they take a rendered message and an
address, and either return the provider's id or raise one of the two errors below.
"""

from typing import Protocol


class TransientSendError(Exception):
    """Worth retrying later: the server was busy, unreachable or timed out."""


class ChannelUnavailable(TransientSendError):
    """The provider cannot be reached at all: the rest of the batch waits too."""


class PermanentSendError(Exception):
    """Retrying will not help: the address or the message was refused for good."""


class ChannelSession(Protocol):
    """An open connection to a provider, used for a batch of messages and then closed."""

    def send(self, message) -> str:  # returns the provider's id for the message
        ...

    def close(self) -> None: ...
