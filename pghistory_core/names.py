"""Generated names: deterministic, within Postgres' 63-byte limit.

Layer: description. Every name this library invents (event tables, trigger functions,
triggers, indexes) comes from here. A name longer than 63 bytes (UTF-8) would be
truncated silently by Postgres, so two long names could collide; instead we cut it and
append a stable hash of the full name, so the result is unique and the same on every run.
"""

from __future__ import annotations

import hashlib

from pghistory_core.errors import InvalidNameError

__all__ = ["MAX_IDENTIFIER_BYTES", "fit", "validate_explicit", "stable_hash"]

#: NAMEDATALEN - 1 in a default Postgres build.
MAX_IDENTIFIER_BYTES = 63
_HASH_CHARS = 8


def stable_hash(text: str, length: int = _HASH_CHARS) -> str:
    """A short hex digest of *text*, the same on every machine and Python version."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def _cut_utf8(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")[:max_bytes]
    # Drop a partial trailing multi-byte character.
    return encoded.decode("utf-8", errors="ignore")


def fit(*parts: str, separator: str = "_") -> str:
    """Join *parts* and shorten the result to a valid identifier.

    A result within the limit is returned unchanged; a longer one is cut and suffixed
    with ``_`` and a hash of the whole name.
    """
    name = separator.join(part for part in parts if part)
    if not name:
        raise InvalidNameError("cannot generate a name from empty parts")
    if "\x00" in name:
        raise InvalidNameError(f"a name cannot contain a NUL byte: {name!r}")
    if len(name.encode("utf-8")) <= MAX_IDENTIFIER_BYTES:
        return name
    suffix = "_" + stable_hash(name)
    return _cut_utf8(name, MAX_IDENTIFIER_BYTES - len(suffix)) + suffix


def validate_explicit(name: object, what: str) -> str:
    """Check a name given by the user; it is never shortened silently."""
    if not isinstance(name, str):
        raise InvalidNameError(f"{what} must be a str, got {type(name).__name__}: {name!r}")
    if not name.strip():
        raise InvalidNameError(f"{what} cannot be empty or blank: {name!r}")
    if "\x00" in name:
        raise InvalidNameError(f"{what} cannot contain a NUL byte: {name!r}")
    size = len(name.encode("utf-8"))
    if size > MAX_IDENTIFIER_BYTES:
        raise InvalidNameError(
            f"{what} {name!r} is {size} bytes long; Postgres allows {MAX_IDENTIFIER_BYTES}. "
            "Choose a shorter name (generated names are shortened automatically)."
        )
    return name
