"""Passwords: Argon2id through argon2-cffi's PasswordHasher, at the library's default
parameters (its maintainers follow RFC 9106 and move them with time); a hash made under
older parameters is re-made at the next successful login (`needs_rehash`).

An unknown account costs the same as a wrong password: `verify_unknown` hashes against a
dummy, so the time of a refusal does not tell which names exist.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 1024
"""NIST SP 800-63B: at least 8 characters, long passphrases allowed; the cap only stops a
megabyte "password" from being hashed."""


class PasswordRejected(ValueError):
    """A new password that does not meet the rules; the message never quotes it."""


def check_new(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"the password must have at most {MAX_LENGTH} characters")
    if password != password.strip():
        raise PasswordRejected("the password starts or ends with white space (a paste slip?)")


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    """The PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash) to store."""
    return _hasher().hash(password)


def verify(stored_hash: str, password: str) -> bool:
    """Whether password matches stored_hash; a malformed hash is a mismatch."""
    try:
        return _hasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether stored_hash was made with other parameters than the current defaults."""
    try:
        return _hasher().check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):
        return True


@functools.cache
def _dummy_hash() -> str:
    return _hasher().hash("not-a-password: the cost of an unknown account's refusal")


def verify_unknown(password: str) -> bool:
    """The work of verify() for an account that does not exist (or may not log in);
    always False."""
    verify(_dummy_hash(), password)
    return False
