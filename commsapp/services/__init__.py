"""Domain logic: no Flask request objects live here."""
