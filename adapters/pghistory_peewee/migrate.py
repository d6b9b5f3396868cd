"""Install, upgrade, remove and inspect history tracking on an existing database.

Layer: adapter (lifecycle). The ``playhouse.migrate`` counterpart for pghistory: each
function takes the Peewee database and the tracked models (event models are accepted too)
and runs the core's lifecycle (:mod:`pghistory_core.lifecycle`) over ``db.connection()``.
Installed objects carry a content hash in their ``COMMENT``, so ``upgrade`` rewrites only
the triggers and functions whose definition changed, and ``status`` finds drift with one
catalog query.

::

    from pghistory_peewee import migrate
    migrate.install(db, [Account, Payment])     # first time: event tables, triggers, context
    migrate.upgrade(db, [Account, Payment])     # after editing @track(...): changed objects only
    migrate.status(db, [Account])               # [Status(kind, ..., state=installed|outdated|...)]
    migrate.uninstall(db, [Payment])            # triggers and functions; event tables kept
"""

from __future__ import annotations

from collections.abc import Iterable

import peewee

import pghistory_core as ph
from pghistory_peewee.models import EventModel, trackings

__all__ = ["check", "create_tables", "drop_tables", "install", "status", "uninstall", "upgrade"]

Models = Iterable[type[peewee.Model]]


def _trackings(models: Models) -> list[ph.Tracking]:
    result = trackings(models)
    if not result:
        raise ph.ConfigurationError(
            f"none of {[m.__name__ for m in models]} is tracked: decorate models with @pghistory_peewee.track(...)"
        )
    return result


def install(db: peewee.Database, models: Models) -> list[ph.Status]:
    """Create what is missing and rewrite what changed, in one transaction (idempotent).

    Returns the status, before install, of every object that was (re)created.
    """
    return ph.install(db.connection(), _trackings(list(models)))


def upgrade(db: peewee.Database, models: Models) -> list[ph.Status]:
    """Reinstall the objects whose content hash differs from the models' tracking (edited
    trackers, conditions, fields) or that were changed by hand. Event tables gain new
    columns and are never dropped. The same operation as :func:`install`, named for
    migration scripts."""
    return install(db, models)


def uninstall(db: peewee.Database, models: Models, *, drop_event_tables: bool = False) -> list[ph.Status]:
    """Remove the triggers and functions of the models' trackings (and their event tables
    when *drop_event_tables*). The shared context table stays."""
    return ph.uninstall(db.connection(), _trackings(list(models)), drop_event_tables=drop_event_tables)


def status(db: peewee.Database, models: Models) -> list[ph.Status]:
    """The state of every object the models' trackings need (installed, outdated, missing),
    plus orphaned pghistory objects."""
    return ph.status(db.connection(), _trackings(list(models)))


def check(db: peewee.Database, models: Models) -> None:
    """Raise :class:`pghistory_core.DriftError` unless every object is installed as specified."""
    ph.check(db.connection(), _trackings(list(models)))


def create_tables(db: peewee.Database, models: Models, **options: object) -> None:
    """``db.create_tables(models)``, then install the history of the tracked ones.

    Creates the tables of *models* with Peewee (``options`` are passed on, e.g.
    ``safe=False``), then the event tables, triggers and the context table and functions of
    every tracking of those models, through the core, in one transaction. Event models in
    *models* are not given to Peewee: their tables are the core's.
    """
    models = list(models)
    plain = [m for m in models if not (isinstance(m, type) and issubclass(m, EventModel))]
    db.create_tables(plain, **options)
    tracked = trackings(models)
    if tracked:
        ph.install(db.connection(), tracked)


def drop_tables(db: peewee.Database, models: Models, **options: object) -> None:
    """Uninstall the models' history (event tables included), then ``db.drop_tables``."""
    models = list(models)
    tracked = trackings(models)
    if tracked:
        ph.uninstall(db.connection(), tracked, drop_event_tables=True)
    db.drop_tables([m for m in models if not (isinstance(m, type) and issubclass(m, EventModel))], **options)


