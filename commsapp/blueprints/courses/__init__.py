"""The courses area of the UI."""
