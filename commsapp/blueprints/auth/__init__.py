"""The auth area of the UI."""
