"""SMS under Settings: the tier with this month's usage, and the development outbox of the local adapter."""
