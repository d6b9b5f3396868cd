"""``manage.py pghistory_retention --before TIME [app_label.Model ...]``: delete old events.

Layer: adapter (Django management command) over :func:`pghistory_core.delete_events`.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

import pghistory_core as ph
from pghistory_core.render import CONTEXT_TABLE
from pghistory_core.retention import BATCH_SIZE, parse_before
from pghistory_django.management.commands._shared import confirm, driver_connection, tracked_model, trackings_of

EXAMPLE = "e.g. 2024-05-01T00:00:00+00:00"


class Command(BaseCommand):
    help = (
        "Delete the events created before --before from the event models of the given tracked models "
        "(default: every tracked model), in batches. Append-only event models are refused. Context rows "
        "are kept unless --contexts: then the ones last written before --before that no event references "
        "any more are deleted after the events. Asks before deleting unless --yes; --dry-run only counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("models", nargs="*", help="tracked models as app_label.ModelName (default: all)")
        parser.add_argument("--before", required=True, help=f"ISO 8601 with a time zone offset, {EXAMPLE}")
        parser.add_argument(
            "--contexts",
            action="store_true",
            help="then delete the context rows last written before --before that no event references any more",
        )
        parser.add_argument(
            "--detach",
            action="store_true",
            help="partitioned event models: detach their partitions older than --before (kept as tables) instead of dropping them",
        )
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
        schemas = sorted({t.context_schema for t in trackings if t.context == ph.FK}) if options["contexts"] else []
        if options["contexts"] and not schemas:
            raise CommandError("--contexts: none of the chosen models stores its contexts in the context table")
        conn = driver_connection(options["database"])
        try:
            counts = ph.count_events_before(conn, trackings, before)
            context_counts = {
                schema: ph.count_unreferenced_contexts(conn, before, context_schema=schema, discounting=trackings)
                for schema in schemas
            }
            if options["dry_run"]:
                for name, count in counts.items():
                    self.stdout.write(f"{name}: {count} events before {before}")
                for schema, count in context_counts.items():
                    self.stdout.write(
                        f"{schema}.{CONTEXT_TABLE}: {count} context rows before {before} that no event would reference any more"
                    )
                return
            if not options["yes"]:
                listed = ", ".join(f"{name} ({count})" for name, count in counts.items())
                also = "".join(
                    f", then the unreferenced context rows of {schema}.{CONTEXT_TABLE} ({count})"
                    for schema, count in context_counts.items()
                )
                confirm(f"Delete the events created before {before} from {listed}{also}? This deletes history.",
                        "nothing deleted")
            deleted = ph.delete_events(conn, trackings, before, batch_size=options["batch_size"], detach=options["detach"])
            contexts_deleted = {
                schema: ph.delete_unreferenced_contexts(
                    conn, before, context_schema=schema, batch_size=options["batch_size"]
                )
                for schema in schemas
            }
        except ph.PghistoryError as exc:
            raise CommandError(str(exc)) from None
        for name, count in deleted.items():
            self.stdout.write(f"{name}: {count} events deleted")
        for schema, count in contexts_deleted.items():
            self.stdout.write(f"{schema}.{CONTEXT_TABLE}: {count} context rows deleted")
