"""Pure tier fixtures."""

from __future__ import annotations

import pytest

from pghistory_core import trackers


@pytest.fixture(autouse=True)
def _core_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pure tier checks the core alone: a converter an adapter registered when it was
    imported by another tier of the same run (``pghistory_django`` registers one for
    django-pgtrigger's values) is set aside for each test."""
    monkeypatch.setattr(trackers, "_converters", [])
