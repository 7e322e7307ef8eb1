"""The placeholders area of the UI."""
