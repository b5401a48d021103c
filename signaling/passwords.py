"""Password and token hashing.

Passwords are hashed with argon2id (argon2-cffi's defaults follow RFC 9106's recommendations), so
a stolen database costs an attacker memory-hard work per guess. Station tokens and session ids
are 256-bit random values: a plain SHA-256 is enough for them and keeps each lookup cheap.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, stored: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)
