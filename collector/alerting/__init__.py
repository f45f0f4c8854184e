"""Turning committed events into alerts."""
