"""Tests of the channels (how messages leave)."""
