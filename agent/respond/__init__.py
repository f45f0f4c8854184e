"""Response actions, carried out only on a command from the collector."""
