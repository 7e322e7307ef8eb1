"""In-app messages: the message is already stored for the customer's portal; delivering it only records that."""


class InAppSession:
    def send(self, message_id: int) -> str:
        return f"in-app:{message_id}"

    def close(self) -> None:
        pass
