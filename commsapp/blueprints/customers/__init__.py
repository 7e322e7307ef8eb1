"""The customers area of the UI."""
