"""Event sources: each watches one kind of thing on the host."""
