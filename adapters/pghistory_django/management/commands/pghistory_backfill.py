"""``manage.py pghistory_backfill app_label.Model --label LABEL``: one event per existing row.

Layer: adapter (Django management command) over :func:`pghistory_core.backfill`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

import pghistory_core as ph
from pghistory_core.backfill import BATCH_SIZE
from pghistory_django.management.commands._shared import driver_connection, tracked_model, trackings_of


class Command(BaseCommand):
    help = (
        "Record the rows a tracked model's table already holds, one event per row, into every event "
        "model of it that has a tracker labelled LABEL (usually a ManualEvent). Rows that already have "
        "events are skipped unless --all-rows, so an interrupted backfill can be run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help="the tracked model, as app_label.ModelName")
        parser.add_argument("--label", required=True, help="the label the events get")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help=f"rows per batch (default {BATCH_SIZE})")
        parser.add_argument("--all-rows", action="store_true", help="also record rows that already have events")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="the database alias (default: default)")

    def handle(self, *args: Any, **options: Any) -> None:  # noqa: ANN401 - Django's signature
        model = tracked_model(options["model"])
        label = options["label"]
        trackings = [t for t in trackings_of(model) if label in t.labels]
        if not trackings:
            known = sorted({name for t in trackings_of(model) for name in t.labels})
            raise CommandError(f"no event model of {options['model']} has a tracker labelled {label!r}; its labels: {', '.join(known)}")
        conn = driver_connection(options["database"])
        for tracking in trackings:
            try:
                result = ph.backfill(
                    conn, tracking, label, batch_size=options["batch_size"], skip_existing=not options["all_rows"],
                    progress=lambda done, total: self.stderr.write(f"\r{done}/{total} rows", ending=""),
                )
            except ph.PghistoryError as exc:
                raise CommandError(str(exc)) from None
            self.stderr.write("")
            self.stdout.write(
                f"{tracking.event_schema_name}.{tracking.event_table_name}: {result.rows} rows read, "
                f"{result.events} events written, {result.skipped} skipped"
            )
