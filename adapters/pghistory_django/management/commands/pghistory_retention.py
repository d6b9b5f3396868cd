"""``manage.py pghistory_retention --before TIME [app_label.Model ...]``: delete old events.

Layer: adapter (Django management command) over :func:`pghistory_core.delete_events`.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

import pghistory_core as ph
from pghistory_core.retention import BATCH_SIZE, parse_before
from pghistory_django.management.commands._shared import driver_connection, tracked_model, trackings_of

EXAMPLE = "e.g. 2024-05-01T00:00:00+00:00"


class Command(BaseCommand):
    help = (
        "Delete the events created before --before from the event models of the given tracked models "
        "(default: every tracked model), in batches. Append-only event models are refused; context rows "
        "are kept. Asks before deleting unless --yes; --dry-run only counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("models", nargs="*", help="tracked models as app_label.ModelName (default: all)")
        parser.add_argument("--before", required=True, help=f"ISO 8601 with a time zone offset, {EXAMPLE}")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help=f"events per batch (default {BATCH_SIZE})")
        parser.add_argument("--dry-run", action="store_true", help="only count the events that would be deleted")
        parser.add_argument("--yes", action="store_true", help="do not ask before deleting")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="the database alias (default: default)")

    def handle(self, *args: Any, **options: Any) -> None:  # noqa: ANN401 - Django's signature
        try:
            before = parse_before(options["before"])
        except ph.ConfigurationError as exc:
            raise CommandError(str(exc)) from None
        if options["models"]:
            models = [tracked_model(label) for label in options["models"]]
        else:
            models = [m for m in apps.get_models() if getattr(m, "pgh_event_models", None)]
        trackings = [t for model in models for t in trackings_of(model)]
        conn = driver_connection(options["database"])
        try:
            counts = ph.count_events_before(conn, trackings, before)
            if options["dry_run"]:
                for name, count in counts.items():
                    self.stdout.write(f"{name}: {count} events before {before}")
                return
            if not options["yes"]:
                listed = ", ".join(f"{name} ({count})" for name, count in counts.items())
                answer = input(f"Delete the events created before {before} from {listed}? This deletes history. [y/N] ")
                if answer.strip().lower() not in ("y", "yes"):
                    raise CommandError("nothing deleted")
            deleted = ph.delete_events(conn, trackings, before, batch_size=options["batch_size"])
        except ph.PghistoryError as exc:
            raise CommandError(str(exc)) from None
        for name, count in deleted.items():
            self.stdout.write(f"{name}: {count} events deleted")
