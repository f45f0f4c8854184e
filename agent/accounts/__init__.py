"""Per-account detections that need each account's history, kept in the agent's state DB."""
