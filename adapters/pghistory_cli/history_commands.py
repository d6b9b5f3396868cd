"""The history commands: ``log``, ``as-of``, ``revert``, ``backfill``, ``retention`` and ``partitions``.

Layer: adapter (operator tool). Each command loads the trackings named by ``--spec``,
connects to ``--dsn`` and calls one function of :mod:`pghistory_core.history` or
:mod:`pghistory_core.revert`; this module only presents the result, as a rich table or,
with ``--json``, as JSON on stdout (values JSON cannot hold exactly are strings:
``numeric`` as its digits, timestamps in ISO 8601, uuids and bytes as text).

``revert`` plans first and shows the plan; when other changes happened after the
context it lists them and exits 1 without writing, unless ``--force``. ``backfill`` records
the rows a table already holds (:func:`pghistory_core.backfill`), with a progress bar on
stderr and one summary line per event table on stdout. ``retention`` deletes the events
older than a time (:func:`pghistory_core.delete_events`) after a confirmation (or
``--yes``); ``--dry-run`` only counts them. ``partitions`` creates the missing partitions
of partitioned event tables (:func:`pghistory_core.create_partitions`) and lists them.
Errors exit 2.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import uuid
from collections.abc import Sequence

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from pghistory_cli.options import CliError, connect, dsn_option, err_console, out_console, spec_option, trackings_from
import pghistory_core as ph
from pghistory_core import Tracking, db, history, partitions, revert
from pghistory_core.backfill import BATCH_SIZE
from pghistory_core.retention import BATCH_SIZE as RETENTION_BATCH_SIZE
from pghistory_core.partitions import AHEAD as PARTITIONS_AHEAD
from pghistory_core.render import CONTEXT_TABLE
from pghistory_core.retention import _read_committed as require_read_committed
from pghistory_core.retention import parse_before
from pghistory_core.history import Event, RowVersion
from pghistory_core.revert import RevertPlan
from pghistory_core.trackers import Delete, RowEvent

__all__ = [
    "register", "log_command", "as_of_command", "revert_command", "backfill_command", "retention_command", "to_json",
    "partitions_command",
]

#: Rows of a revert plan shown in the table (all are in --json).
PLAN_ROWS_SHOWN = 50


def _jsonable(value: object) -> object:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def to_json(value: object) -> str:
    """JSON text of *value*, with the conversions described in the module docstring."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=_jsonable)


def _compact(value: object) -> str:
    """A value on one line for the tables: JSON, except that a ``Decimal`` shows its
    digits unquoted, a number as the column holds it (JSON output quotes it)."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_compact(str(k))}: {_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False, default=_jsonable)


def _parse_time(value: str | None) -> datetime.datetime | None:
    return None if value is None else _time(value)


def _time(value: str) -> datetime.datetime:
    try:
        return datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        raise CliError(
            f"invalid timestamp {value!r}: use ISO 8601, e.g. 2024-05-01T12:00:00+00:00 "
            "(without an offset it is read in the server session's time zone)"
        ) from None


def _trackings(specs: Sequence[str], table: str | None) -> list[Tracking]:
    trackings = trackings_from(specs)
    return list(history.trackings_of(trackings, table)) if table else trackings


def _event_json(event: Event) -> dict[str, object]:
    return {
        "pgh_id": event.pgh_id,
        "pgh_created_at": event.pgh_created_at,
        "pgh_label": event.pgh_label,
        "pgh_model": event.pgh_model,
        "pgh_obj_model": event.pgh_obj_model,
        "pgh_obj_id": event.pgh_obj_id,
        "pgh_context_id": event.pgh_context_id,
        "pgh_context": event.pgh_context,
        "pgh_data": event.pgh_data,
        "pgh_diff": event.pgh_diff,
        "cursor": event.cursor.token,
    }


def _cell(value: object) -> Text:
    """A native value (as-of rows) for a table cell: text as is, null dimmed."""
    if value is None:
        return Text("null", style="dim")
    if isinstance(value, str):
        return Text(value)
    if isinstance(value, (dict, list)):
        return Text(_compact(value))
    jsonable = _jsonable(value)
    return Text(jsonable if isinstance(jsonable, str) else str(value))


def _delete_labels(trackings: Sequence[Tracking]) -> set[tuple[str, str]]:
    """(event table, label) of the trackers recording deletes."""
    return {
        (history.model_name(t), tracker.label)
        for t in trackings
        for tracker in t.trackers
        if isinstance(tracker, RowEvent) and tracker.operation == Delete
    }


def _changes(event: Event, deletes: set[tuple[str, str]]) -> Text:
    text = Text()
    if (event.pgh_model, event.pgh_label) in deletes:
        return Text("row deleted", style="red")
    if event.pgh_diff is None:
        # An object's first event in its event table: show the values it recorded.
        for index, (column, value) in enumerate(event.pgh_data.items()):
            if index:
                text.append("\n")
            text.append(column, style="bold")
            text.append(" = " + _compact(value))
        return text
    if not event.pgh_diff:
        return Text("(no change)", style="dim")
    for index, (column, (old, new)) in enumerate(event.pgh_diff.items()):
        if index:
            text.append("\n")
        text.append(column, style="bold")
        text.append(": ")
        text.append(_compact(old), style="red")
        text.append(" → ")
        text.append(_compact(new), style="green")
    return text


def _event_table(events: Sequence[Event], deletes: set[tuple[str, str]]) -> Table:
    table = Table(show_lines=True)
    table.add_column("time", no_wrap=True)
    table.add_column("label")
    table.add_column("event table", overflow="fold")
    table.add_column("object", overflow="fold")
    table.add_column("context", overflow="fold")
    table.add_column("changes", overflow="fold")
    for event in events:
        context = _compact(event.pgh_context) if event.pgh_context is not None else ""
        if event.pgh_context_id is not None and not context:
            context = str(event.pgh_context_id)
        table.add_row(
            event.pgh_created_at.isoformat(sep=" ", timespec="seconds"),
            Text(event.pgh_label),
            Text(event.pgh_model),
            Text(_compact(event.pgh_obj_id)),
            Text(context),
            _changes(event, deletes),
        )
    return table


# --------------------------------------------------------------------------------- log


@click.command("log")
@spec_option()
@dsn_option
@click.option("--table", metavar="SCHEMA.TABLE", help="Only this tracked table's events (a bare name if unambiguous).")
@click.option("--pk", metavar="VALUE", help="Only the events of the row with this primary key (needs --table).")
@click.option("--label", "labels", multiple=True, metavar="LABEL", help="Only events with this label. Repeatable.")
@click.option("--context", "context_id", metavar="UUID", help="Only events recorded under this context id.")
@click.option("--since", metavar="TIMESTAMP", help="Only events created at or after this time (ISO 8601).")
@click.option("--until", metavar="TIMESTAMP", help="Only events created before this time (ISO 8601).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many events.")
@click.option("--after", metavar="CURSOR", help="Continue after this cursor (printed when more events remain).")
@click.option("--oldest-first", is_flag=True, help="Oldest events first (default: newest first).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of events) instead of a table.")
def log_command(
    specs: tuple[str, ...],
    dsn: str | None,
    table: str | None,
    pk: str | None,
    labels: tuple[str, ...],
    context_id: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    after: str | None,
    oldest_first: bool,
    as_json: bool,
) -> None:
    """Show history: events with what changed, across the specs' event tables.

    With --table and --pk, one row's history (read through the object index). Each event
    shows its changes against the previous event of the same row in the same event table.
    """
    if pk is not None and table is None:
        raise CliError("--pk needs --table: the primary key of which table?")
    trackings = _trackings(specs, table)
    with connect(dsn) as conn:
        events = history.events(
            conn,
            trackings,
            obj=(table, pk) if table is not None and pk is not None else None,
            labels=labels or None,
            context_id=context_id,
            since=_parse_time(since),
            until=_parse_time(until),
            after=history.Cursor.parse(after) if after else None,
            limit=limit,
            newest_first=not oldest_first,
        )
    if as_json:
        click.echo(to_json([_event_json(e) for e in events]))
        return
    console = out_console()
    if not events:
        console.print("No events.")
        return
    console.print(_event_table(events, _delete_labels(trackings)))
    if len(events) == limit:
        err_console().print(f"More events may follow: add --after '{events[-1].cursor.token}'")


# ------------------------------------------------------------------------------- as-of


def _version_json(version: RowVersion) -> dict[str, object]:
    return {
        "values": version.values,
        "pgh_id": version.pgh_id,
        "pgh_created_at": version.pgh_created_at,
        "pgh_label": version.pgh_label,
    }


@click.command("as-of")
@spec_option()
@dsn_option
@click.option("--table", required=True, metavar="SCHEMA.TABLE", help="The tracked table.")
@click.option("--at", "at", required=True, metavar="TIMESTAMP", help="The time (ISO 8601).")
@click.option("--pk", metavar="VALUE", help="Only the row with this primary key.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def as_of_command(specs: tuple[str, ...], dsn: str | None, table: str, at: str, pk: str | None, as_json: bool) -> None:
    """Show a table's rows (or one row) as they were at a point in time.

    Needs a tracking of the table that mirrors every column and records every insert,
    update and delete; the error says what is missing otherwise.
    """
    when = _time(at)
    trackings = _trackings(specs, table)
    with connect(dsn) as conn:
        if pk is not None:
            version = history.object_as_of(conn, trackings, table, pk, when)
            versions = [version] if version is not None else []
        else:
            versions = history.table_as_of(conn, trackings, table, when)
    if as_json:
        if pk is not None:
            click.echo(to_json(_version_json(versions[0]) if versions else None))
        else:
            click.echo(to_json([_version_json(v) for v in versions]))
        return
    console = out_console()
    if not versions:
        console.print(f"No row{' with that key' if pk is not None else 's'} at {when.isoformat()}.")
        return
    columns = list(versions[0].values)
    grid = Table(title=f"{history.trackings_of(trackings, table)[0].table.qualified_name} as of {when.isoformat()}", title_justify="left")
    for column in columns:
        grid.add_column(column, overflow="fold")
    grid.add_column("since", style="dim", no_wrap=True)
    for version in versions:
        grid.add_row(
            *[_cell(version.values[c]) for c in columns],
            f"{version.pgh_label} {version.pgh_created_at.isoformat(sep=' ', timespec='seconds')}",
        )
    console.print(grid)
    console.print(f"{len(versions)} row{'s' if len(versions) != 1 else ''}.")


# ------------------------------------------------------------------------------ revert


def _plan_json(plan: RevertPlan) -> dict[str, object]:
    return {
        "context_id": plan.context_id,
        "applied": plan.applied,
        "revert_context_id": plan.revert_context_id,
        "operations": [
            {"kind": op.kind, "table": op.table, "pk": op.pk, "values": op.values, "source_pgh_id": op.source_pgh_id}
            for op in plan.operations
        ],
        "conflicts": [{"table": c.table, "pk": c.pk, "reason": c.reason} for c in plan.conflicts],
    }


def _plan_table(plan: RevertPlan) -> Table:
    table = Table(title=f"Revert of context {plan.context_id}", title_justify="left")
    table.add_column("operation")
    table.add_column("table", overflow="fold")
    table.add_column("key", overflow="fold")
    table.add_column("values written", overflow="fold")
    style = {"insert": "green", "update": "yellow", "delete": "red"}
    for op in plan.operations[:PLAN_ROWS_SHOWN]:
        table.add_row(
            Text(op.kind, style=style[op.kind]),
            Text(op.table),
            Text(_compact(op.pk)),
            Text(_compact(op.values) if op.values is not None else ""),
        )
    return table


def _conflict_table(plan: RevertPlan) -> Table:
    table = Table(title="Changed after the context", title_justify="left")
    table.add_column("table", overflow="fold")
    table.add_column("key", overflow="fold")
    table.add_column("what happened", overflow="fold")
    for conflict in plan.conflicts:
        table.add_row(Text(conflict.table), Text(_compact(conflict.pk)), Text(conflict.reason))
    return table


def _summary(plan: RevertPlan) -> str:
    counts = {kind: sum(1 for op in plan.operations if op.kind == kind) for kind in ("insert", "update", "delete")}
    return f"{counts['insert']} to re-insert, {counts['update']} to update, {counts['delete']} to delete"


@click.command("revert")
@spec_option()
@dsn_option
@click.option("--context", "context_id", required=True, metavar="UUID", help="The context whose changes to undo.")
@click.option("--dry-run", is_flag=True, help="Show what would be written, write nothing.")
@click.option("--force", is_flag=True, help="Overwrite rows that changed after the context.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan (or the result) as JSON.")
@click.pass_context
def revert_command(
    ctx: click.Context, specs: tuple[str, ...], dsn: str | None, context_id: str, dry_run: bool, force: bool, as_json: bool
) -> None:
    """Undo everything recorded under one context, in one transaction.

    Rows the context inserted are deleted, rows it updated get their earlier values back,
    rows it deleted are re-inserted with their primary key. The revert is itself recorded,
    under a new context whose metadata names this one. If rows changed after the context,
    they are listed and nothing is written (exit 1) unless --force.
    """
    trackings = trackings_from(specs)
    console = out_console()
    with connect(dsn) as conn:
        plan = revert.revert_context(conn, trackings, context_id, dry_run=True)
        refused = bool(plan.conflicts) and not force
        if not dry_run and not refused:
            plan = revert.revert_context(conn, trackings, context_id, force=force)
    if as_json:
        click.echo(to_json(_plan_json(plan)))
    else:
        if plan.operations:
            console.print(_plan_table(plan))
            hidden = len(plan.operations) - PLAN_ROWS_SHOWN
            if hidden > 0:
                console.print(f"... and {hidden} more operation{'s' if hidden != 1 else ''} (see --json).")
        if plan.conflicts:
            console.print(_conflict_table(plan))
        if plan.applied:
            console.print(
                f"[green]Reverted[/green] context {plan.context_id}: {_summary(plan)}. "
                f"Recorded under context {plan.revert_context_id}."
            )
        elif refused and dry_run:
            console.print(
                f"Dry run: {len(plan.conflicts)} row{'s' if len(plan.conflicts) != 1 else ''} changed after the "
                "context, so a run without --force would refuse; with --force it would write "
                f"{_summary(plan)}. Nothing was written."
            )
        elif refused:
            err_console().print(
                f"[red]Not reverted[/red]: {len(plan.conflicts)} row{'s' if len(plan.conflicts) != 1 else ''} "
                "changed after the context. Nothing was written; pass --force to overwrite them."
            )
        else:
            console.print(f"Dry run: would write {_summary(plan)}. Nothing was written.")
    if refused and not dry_run:
        ctx.exit(1)


# ---------------------------------------------------------------------------- backfill


@click.command("backfill")
@spec_option()
@dsn_option
@click.option("--table", required=True, metavar="SCHEMA.TABLE", help="The tracked table (a bare name if unambiguous).")
@click.option("--label", required=True, metavar="LABEL",
              help="The label the events get: a tracker of the tracking, usually a ManualEvent such as 'backfill'.")
@click.option("--batch-size", type=click.IntRange(min=1), default=BATCH_SIZE, show_default=True,
              help="Rows per batch (one transaction each).")
@click.option("--all-rows", is_flag=True,
              help="Also record rows that already have events (by default they are skipped, so a re-run continues).")
def backfill_command(specs: tuple[str, ...], dsn: str | None, table: str, label: str, batch_size: int, all_rows: bool) -> None:
    """Record the rows a table already holds, one event per row, in batches.

    Every event table of the table whose tracking has a tracker labelled LABEL gets the
    events. Rows that already have events are skipped unless --all-rows, so an interrupted
    backfill can be run again.
    """
    trackings = [t for t in _trackings(specs, table) if label in t.labels]
    if not trackings:
        known = sorted({name for t in _trackings(specs, table) for name in t.labels})
        raise CliError(f"no tracking of {table} has a tracker labelled {label!r}; its labels: {', '.join(known)}")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    results = []
    with connect(dsn) as conn, Progress(*columns, console=err_console(), transient=True) as progress:
        for tracking in trackings:
            name = history.model_name(tracking)
            task = progress.add_task(name, total=None)

            def step(done: int, total: int, task: object = task) -> None:
                progress.update(task, completed=done, total=total)  # type: ignore[arg-type]

            results.append((name, ph.backfill(conn, tracking, label, batch_size=batch_size,
                                              skip_existing=not all_rows, progress=step)))
    for name, result in results:
        click.echo(f"{name}: {result.rows} rows read, {result.events} events written, {result.skipped} skipped")


# --------------------------------------------------------------------------- retention


@click.command("retention")
@spec_option()
@dsn_option
@click.option("--before", "before_text", required=True, metavar="TIMESTAMP",
              help="Delete the events created before this time: ISO 8601 with a time zone offset.")
@click.option("--table", metavar="SCHEMA.TABLE", help="Only this tracked table's event tables (default: every spec's).")
@click.option("--contexts", is_flag=True,
              help="Then delete the context rows last written before --before that no event (in any table) "
                   "references any more.")
@click.option("--detach", is_flag=True,
              help="Partitioned event tables: detach the partitions older than --before and keep them as "
                   "ordinary tables instead of dropping them.")
@click.option("--batch-size", type=click.IntRange(min=1), default=RETENTION_BATCH_SIZE, show_default=True,
              help="Events (or context rows) per batch, one transaction each.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before deleting.")
def retention_command(
    specs: tuple[str, ...], dsn: str | None, before_text: str, table: str | None, contexts: bool, detach: bool,
    batch_size: int, dry_run: bool, yes: bool,
) -> None:
    """Delete the events older than --before from the specs' event tables.

    Deletes in batches in pgh_id order, each in its own transaction. Partitioned event
    tables first lose their partitions older than --before whole (dropped, or detached
    with --detach). Append-only event tables are refused. Context rows are shared by every
    event table and kept, unless --contexts: then the ones last written before --before
    that no event references any more (in any table of the database) are deleted after the
    events.
    """
    try:
        before = parse_before(before_text)
    except ph.ConfigurationError as exc:
        raise CliError(str(exc)) from None
    trackings = _trackings(specs, table)
    schemas = sorted({t.context_schema for t in trackings if t.context == ph.FK}) if contexts else []
    if contexts and not schemas:
        raise CliError("--contexts: none of the chosen trackings stores its contexts in a context table (context=FK)")
    context_tables = {schema: f"{schema}.{CONTEXT_TABLE}" for schema in schemas}
    with connect(dsn) as conn:
        if schemas:
            # Refuse an isolation level the context deletion cannot run under now, before
            # any event is deleted, not after.
            require_read_committed(conn)
        counts = ph.count_events_before(conn, trackings, before)  # also refuses append-only tables
        context_counts = {
            schema: ph.count_unreferenced_contexts(conn, before, context_schema=schema, discounting=trackings)
            for schema in schemas
        }
        if dry_run:
            for name, count in counts.items():
                click.echo(f"{name}: {count} events before {before}")
            for schema, count in context_counts.items():
                click.echo(f"{context_tables[schema]}: {count} context rows before {before} that no event "
                           "would reference any more")
            return
        if not yes:
            listed = ", ".join(f"{name} ({count})" for name, count in counts.items())
            also = "".join(f", then the unreferenced context rows of {context_tables[schema]} ({count})"
                           for schema, count in context_counts.items())
            click.confirm(f"Delete the events created before {before} from {listed}{also}? This deletes history.",
                          abort=True, err=True)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err_console(), transient=True) as progress:
            tasks = {name: progress.add_task(name, total=count) for name, count in counts.items()}
            deleted = ph.delete_events(conn, trackings, before, batch_size=batch_size, detach=detach,
                                       progress=lambda name, done: progress.update(tasks[name], completed=done))
            contexts_deleted: dict[str, int] = {}
            for schema, count in context_counts.items():
                task = progress.add_task(context_tables[schema], total=count)
                contexts_deleted[schema] = ph.delete_unreferenced_contexts(
                    conn, before, context_schema=schema, batch_size=batch_size,
                    progress=lambda done, task=task: progress.update(task, completed=done),  # type: ignore[misc]
                )
    for name, count in deleted.items():
        if detach:  # the detached partitions' events still exist, in tables of their own
            click.echo(f"{name}: {count} events removed (whole partitions detached and kept as tables, "
                       "the other events deleted)")
        else:
            click.echo(f"{name}: {count} events deleted")
    for schema, count in contexts_deleted.items():
        click.echo(f"{context_tables[schema]}: {count} context rows deleted")


# -------------------------------------------------------------------------- partitions


@click.command("partitions")
@spec_option()
@dsn_option
@click.option("--table", metavar="SCHEMA.TABLE", help="Only this tracked table's event tables (default: every spec's).")
@click.option("--ahead", type=click.IntRange(min=0), default=PARTITIONS_AHEAD, show_default=True,
              help="Periods to create after the current one.")
@click.option("--since", "since_text", metavar="TIMESTAMP",
              help="Also create the partitions from this time on (ISO 8601 with an offset), e.g. for imported history.")
@click.option("--list", "list_only", is_flag=True, help="Only list the partitions, create none.")
@click.option("--convert", is_flag=True,
              help="Partition in place the event tables that exist unpartitioned (their events become the first "
                   "partition).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before --convert.")
def partitions_command(
    specs: tuple[str, ...], dsn: str | None, table: str | None, ahead: int, since_text: str | None, list_only: bool,
    convert: bool, yes: bool,
) -> None:
    """Create the missing partitions of the specs' partitioned event tables, then list them.

    Run it from a scheduled job (daily is plenty): events whose time no partition covers
    wait in the DEFAULT partition and are moved into their partition when it is created.
    With --convert, event tables created before their tracking was partitioned are first
    partitioned in place, in one transaction each (the table is locked meanwhile).
    """
    since = _since(since_text) if since_text else None
    chosen = [t for t in _trackings(specs, table) if t.partition is not None]
    if not chosen:
        raise CliError("none of the chosen trackings has a partitioned event table (partition=...)")
    rows = Table("event table", "partition", "from", "to")
    with connect(dsn) as conn:
        if convert:
            _convert(conn, chosen, yes)
        else:
            plain = [history.model_name(t) for t in chosen if partitions.is_plain(conn, t)]
            if plain:
                raise CliError(
                    f"{', '.join(plain)} exist{'s' if len(plain) == 1 else ''} unpartitioned, but the tracking has "
                    "partition=...: rerun with --convert to partition in place (its events become the first "
                    "partition), or give the tracking a new event_table"
                )
        for tracking in chosen:
            name = history.model_name(tracking)
            if not list_only:
                for created in ph.create_partitions(conn, tracking, ahead=ahead, since=since):
                    err_console().print(f"created {tracking.event_schema_name}.{created}")
            for partition in ph.list_partitions(conn, tracking):
                bounds = ("DEFAULT", "") if partition.is_default else (
                    _bound(partition.lower, "MINVALUE"), _bound(partition.upper, "MAXVALUE"))
                rows.add_row(name, partition.name, *bounds)
    out_console().print(rows)


def _since(text: str) -> datetime.datetime:
    """``--since``: ISO 8601 with an offset (partition bounds are instants, at midnight UTC)."""
    try:
        since = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(f"--since {text!r} is not a timestamp: use ISO 8601 with an offset, "
                       "e.g. 2024-05-01T00:00:00+00:00") from None
    if since.tzinfo is None:
        raise CliError(f"--since {text!r} has no time zone offset: partitions start at midnight UTC, so give an "
                       "exact time, e.g. 2024-05-01T00:00:00+00:00")
    return since


def _convert(conn: db.Connection, trackings: Sequence[Tracking], yes: bool) -> None:
    plain = [t for t in trackings if partitions.is_plain(conn, t)]
    if not plain:
        return
    if not yes:
        listed = ", ".join(history.model_name(t) for t in plain)
        click.confirm(f"Partition {listed} in place? Each is locked while it is converted.", abort=True, err=True)
    for tracking in plain:
        old = partitions.partition_existing(conn, tracking)
        err_console().print(f"partitioned {history.model_name(tracking)}: its events are now in "
                            f"{tracking.event_schema_name}.{old}")


def _bound(value: datetime.datetime | None, missing: str) -> str:
    return missing if value is None else value.isoformat()


def register(group: click.Group) -> None:
    """Add the history commands to *group*."""
    for command in (log_command, as_of_command, revert_command, backfill_command, retention_command,
                    partitions_command):
        group.add_command(command)
