"""Sentinels shared by the Django adapter's public API.

Layer: adapter (Django). ``UNSET`` marks an argument that was not given (the setting or
the built-in default applies); ``DEFAULT`` asks for Django's own default of a field
argument (the key is dropped from the field's keyword arguments), as in django-pghistory.
"""

from __future__ import annotations

__all__ = ["DEFAULT", "UNSET", "Sentinel"]


class Sentinel:
    """A named singleton compared by identity."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        # Pickled and deep-copied as the module attribute, so identity survives.
        return self.name


UNSET = Sentinel("UNSET")
DEFAULT = Sentinel("DEFAULT")
