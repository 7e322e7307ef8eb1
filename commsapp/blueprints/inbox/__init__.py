"""The inbox area of the UI."""
