"""``manage.py pghistory_partitions [app_label.Model ...] [--convert] [--ahead N] [--since TIME] [--list]``.

Layer: adapter (Django management command) over :mod:`pghistory_core.partitions`. Django's
migrations create an event model's table as an ordinary table; for a model tracked with
``partition=...`` this command partitions it in place (``--convert``, once, after
``migrate``), then creates the partitions ahead of time (run it daily) and lists them.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

import pghistory_core as ph
from pghistory_core import partitions
from pghistory_core.retention import parse_before
from pghistory_django.management.commands._shared import confirm, driver_connection, tracked_model, trackings_of

EXAMPLE = "e.g. 2024-05-01T00:00:00+00:00"


class Command(BaseCommand):
    help = (
        "Create the missing partitions of the partitioned event models of the given tracked models "
        "(default: every tracked model), then list them. --convert first partitions in place the event "
        "tables migrate created unpartitioned (asks unless --yes)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("models", nargs="*", help="tracked models as app_label.ModelName (default: all)")
        parser.add_argument("--ahead", type=int, default=partitions.AHEAD,
                            help=f"periods to create after the current one (default {partitions.AHEAD})")
        parser.add_argument("--since", help=f"also create the partitions from this time on, {EXAMPLE}")
        parser.add_argument("--list", action="store_true", help="only list the partitions, create none")
        parser.add_argument("--convert", action="store_true",
                            help="partition in place the event tables that exist unpartitioned")
        parser.add_argument("--yes", action="store_true", help="do not ask before --convert")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="the database alias (default: default)")

    def handle(self, *args: Any, **options: Any) -> None:  # noqa: ANN401 - Django's signature
        try:
            since = parse_before(options["since"]) if options["since"] else None
        except ph.ConfigurationError as exc:
            raise CommandError(str(exc).replace("--before", "--since")) from None
        if options["models"]:
            models = [tracked_model(label) for label in options["models"]]
        else:
            models = [m for m in apps.get_models() if getattr(m, "pgh_event_models", None)]
        chosen = [t for model in models for t in trackings_of(model) if t.partition is not None]
        if not chosen:
            raise CommandError("none of the chosen models has a partitioned event model (track(..., partition=...))")
        conn = driver_connection(options["database"])
        try:
            if options["convert"]:
                plain = [t for t in chosen if partitions.is_plain(conn, t)]
                if plain and not options["yes"]:
                    listed = ", ".join(f"{t.event_schema_name}.{t.event_table_name}" for t in plain)
                    confirm(f"Partition {listed} in place? Each is locked while it is converted.", "nothing converted")
                for tracking in plain:
                    old = partitions.partition_existing(conn, tracking)
                    self.stdout.write(f"{tracking.event_schema_name}.{tracking.event_table_name}: partitioned, "
                                      f"its events are now in {tracking.event_schema_name}.{old}")
            for tracking in chosen:
                name = f"{tracking.event_schema_name}.{tracking.event_table_name}"
                if not options["list"]:
                    for created in ph.create_partitions(conn, tracking, ahead=options["ahead"], since=since):
                        self.stdout.write(f"{name}: created {tracking.event_schema_name}.{created}")
                for partition in ph.list_partitions(conn, tracking):
                    bounds = "DEFAULT" if partition.is_default else (
                        f"{partition.lower.isoformat() if partition.lower else 'MINVALUE'} to "
                        f"{partition.upper.isoformat() if partition.upper else 'MAXVALUE'}"
                    )
                    self.stdout.write(f"{name}: {partition.name} {bounds}")
        except ph.PghistoryError as exc:
            raise CommandError(str(exc)) from None
