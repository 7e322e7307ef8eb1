"""The settings area of the UI."""
