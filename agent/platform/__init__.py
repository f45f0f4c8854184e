"""Thin wrappers over OS facilities the agent needs to behave well on Windows."""

from agent.platform.shared_open import open_shared

__all__ = ["open_shared"]
