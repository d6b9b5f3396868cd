"""What the adapter's management commands share: resolving models to trackings, the
driver connection of a database alias.

Layer: adapter (Django management commands).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.apps import apps
from django.core.management.base import CommandError
from django.db import connections, models

from pghistory_core import Tracking, db

__all__ = ["confirm", "tracked_model", "trackings_of", "driver_connection"]


def tracked_model(label: str) -> type[models.Model]:
    """The tracked model named ``app_label.ModelName``, or a CommandError that says why not."""
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        raise CommandError(f"no model {label!r}: name a tracked model as app_label.ModelName") from None
    if not getattr(model, "pgh_event_models", None):
        raise CommandError(f"{label} is not tracked by pghistory (it has no event models)")
    return model


def trackings_of(model: type[models.Model]) -> list[Tracking]:
    """The core's spec of each event model of *model* (one per event table)."""
    events: Iterable[type[models.Model]] = {id(e): e for e in model.pgh_event_models.values()}.values()  # type: ignore[attr-defined]
    return [event_model.pgh_tracking() for event_model in events]  # type: ignore[attr-defined]


def driver_connection(alias: str) -> db.Connection:
    """The DB-API connection of the database *alias* (opened if needed)."""
    connection = connections[alias]
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None  # ensure_connection() opened it
    return raw  # type: ignore[no-any-return]


def confirm(question: str, refused: str) -> None:
    """Ask *question* (``[y/N]``) on the terminal; anything but yes raises a CommandError
    saying *refused*. Without a terminal to answer (stdin closed, as in a job), the same
    error says to pass ``--yes``, instead of an ``EOFError`` traceback."""
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        raise CommandError(f"{refused}: no answer to the question (stdin is closed); pass --yes to skip it") from None
    if answer.strip().lower() not in ("y", "yes"):
        raise CommandError(refused)
