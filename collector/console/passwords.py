"""Console passwords: argon2id hashes (argon2-cffi defaults), checked in constant-ish time
whether or not the user exists. Apart from the web layer (``auth``), so that the CLI can
set passwords without importing it."""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from collector.console import data

HASHER = PasswordHasher()
MIN_PASSWORD = 10


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise data.Invalid(f"a password is at least {MIN_PASSWORD} characters")
    return HASHER.hash(password)


@functools.cache
def dummy_hash() -> str:
    """Verified when the username is unknown, so a wrong name costs as long as a wrong
    password and the timing does not tell which names exist. Made when the console starts
    (``create_app``), not on import: one argon2 hash costs a third of a second and 64 MiB,
    which every CLI command and ingest worker would pay."""
    return HASHER.hash(secrets.token_hex(16))


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return HASHER.verify(password_hash or dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    return secrets.token_urlsafe(15)
