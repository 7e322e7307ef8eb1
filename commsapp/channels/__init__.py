"""How a message leaves the system: one small interface, one module per channel."""
