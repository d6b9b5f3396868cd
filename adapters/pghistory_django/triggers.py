"""History triggers as django-pgtrigger triggers, rendered by the core.

Layer: adapter (Django DDL). One :class:`HistoryTrigger` per trigger-installing tracker is
registered on the tracked model (``Meta.triggers``), so pgtrigger carries it into
migrations and ``manage.py pgtrigger ls/install/prune``. The core writes the PL/pgSQL body
and the ``WHEN`` condition (:func:`pghistory_core.render.trigger_parts`); this module only
assembles them.

pgtrigger's own installation template calls ``_pgtrigger_should_ignore()`` on every
trigger invocation, a function with a ``BEGIN ... EXCEPTION`` block, i.e. a subtransaction
per row. History triggers use :class:`HistoryTriggerSql` instead: the same shape (function,
trigger, hash in the trigger's ``COMMENT``, so pgtrigger's status and drift detection keep
working) without that call; the function is schema-qualified and the body dollar-quoted
with a tag checked not to occur in it. ``pgtrigger.ignore()`` therefore does not apply to
history triggers; use ``pghistory_core.ignore()`` (transaction-local).

A condition that cannot run on its table (``Q(new__amount="lots")`` on a numeric column)
must be refused before its trigger is installed: at statement level Postgres parses the
trigger's query only when a write first fires it, so the install would succeed and every
later write to the table fail. :meth:`HistoryTrigger.check_condition` runs the core's
:func:`~pghistory_core.lifecycle.check_conditions` for one trigger; ``install()`` (``manage.py
pgtrigger install``, ``PGTRIGGER_INSTALL_ON_MIGRATE``) calls it first, and during
``migrate`` :class:`ConditionGuard` calls it right before a migration executes a history
trigger's install SQL (migrations hold that SQL, not the tracker).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import pgtrigger
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS
from pgtrigger import compiler

from pghistory_core import lifecycle, render, sql
from pghistory_core import names as core_names
from pghistory_core.trackers import Row
from pghistory_django import config

if TYPE_CHECKING:
    from django.db import models

    from pghistory_core.spec import ResolvedTracker, Tracking

__all__ = ["ConditionGuard", "HistoryTrigger", "HistoryTriggerSql", "pgtrigger_name"]

#: pgtrigger's ids are ``pgtrigger_<name>_<5 hex>`` within 63 bytes.
_MAX_NAME = 63 - len("pgtrigger_") - 6
_NAME_OK = re.compile(r"^[A-Za-z0-9_-]+$")


def pgtrigger_name(label: str, explicit: str | None = None) -> str:
    """A trigger name for a tracker label: letters, digits and ``_`` only.

    pgtrigger accepts ``-`` but writes names unquoted in its SQL (``CREATE TRIGGER a-b``
    is a syntax error and ``--`` starts a comment), so ``-`` is replaced too. A label that
    needs changes ("group.add", quotes, non-ASCII) gets a stable hash suffix, so two labels
    never map to one name.
    """
    if explicit is not None:
        if not re.fullmatch(r"[A-Za-z0-9_]+", explicit):
            raise ImproperlyConfigured(
                f"trigger_name {explicit!r}: django-pgtrigger writes trigger names unquoted, so "
                "use only letters, digits and '_'"
            )
        return explicit
    name = re.sub(r"[^A-Za-z0-9_]", "_", label)
    if name != label or len(name) > _MAX_NAME:
        suffix = "_" + core_names.stable_hash(label, 6)
        name = name[: _MAX_NAME - len(suffix)] + suffix
    return name


class HistoryTriggerSql(compiler.UpsertTriggerSql):
    """pgtrigger's install template without the per-row ignore check (see module doc).

    Versionable like pgtrigger's: migrations reference this class by path and store its
    arguments, so this template must only change in backward-compatible ways.
    """

    def get_template(self) -> str:
        return """
            CREATE OR REPLACE FUNCTION {execute}
            RETURNS TRIGGER LANGUAGE plpgsql AS {func};

            DROP TRIGGER IF EXISTS {pgid} ON {table};
            CREATE {constraint} TRIGGER {pgid}
                {when} {operation} ON {table}
                {timing}
                {referencing}
                FOR EACH {level} {condition}
                EXECUTE PROCEDURE {execute};

            COMMENT ON TRIGGER {pgid} ON {table} IS '{hash}';
        """


class HistoryTrigger(pgtrigger.Trigger):
    """A tracker's trigger: body and condition from the core's :func:`trigger_parts`.

    The spec is read from the event model when the trigger is compiled (migrations,
    install), once every model is loaded.
    """

    when = pgtrigger.After

    def __init__(self, *, name: str, event_model: type[models.Model], label: str, tracking: Tracking) -> None:
        resolved = _resolved(tracking, label)
        parts = render.trigger_parts(tracking, resolved)
        operation = {"INSERT": pgtrigger.Insert, "UPDATE": pgtrigger.Update, "DELETE": pgtrigger.Delete}[parts.operation]
        referencing = None
        level = pgtrigger.Row
        if resolved.level != Row:
            level = pgtrigger.Statement
            referencing = pgtrigger.Referencing(old=parts.old_table, new=parts.new_table)
        self.event_model = event_model
        self.label = label
        super().__init__(name=name, operation=operation, level=level, referencing=referencing)

    def _parts(self) -> render.TriggerParts:
        tracking = self.event_model.pgh_tracking()  # type: ignore[attr-defined]
        return render.trigger_parts(tracking, _resolved(tracking, self.label))

    def get_condition(self, model: type[models.Model]) -> pgtrigger.Condition | None:  # type: ignore[override]
        parts = self._parts()
        return pgtrigger.Condition(parts.when) if parts.when else None

    def get_func(self, model: type[models.Model]) -> str:  # type: ignore[override]
        # The core's body is a complete block (DECLARE ... BEGIN ... END;).
        return sql.render(sql.dollar_quote(self._parts().body))

    def render_execute(self, model: type[models.Model]) -> str:
        return sql.render(sql.Identifier(config.schema(), self.get_pgid(model))) + "()"

    def check_condition(self, database: str | None = None) -> None:
        """Refuse (:class:`~pghistory_core.errors.InvalidConditionError`, naming the tracker)
        a condition that cannot run on the tracked table of *database* as it is now."""
        from pghistory_django.aggregates import driver_connection

        tracking = self.event_model.pgh_tracking()  # type: ignore[attr-defined]
        # Only this trigger's tracker: the others may name columns a later migration adds.
        alone = dataclasses.replace(tracking, trackers=(_resolved(tracking, self.label).tracker,))
        lifecycle.check_conditions(driver_connection(database or DEFAULT_DB_ALIAS), [alone])

    def install(self, model: type[models.Model], database: str | None = None) -> object:
        self.check_condition(database)
        return super().install(model, database=database)

    def compile(self, model: type[models.Model]) -> compiler.Trigger:
        return compiler.Trigger(
            name=self.name,
            sql=HistoryTriggerSql(
                pgid=self.get_pgid(model),
                func=self.render_func(model),
                table=model._meta.db_table,
                when=self.when,
                operation=self.operation,
                referencing=self.referencing or "",
                level=self.level,
                condition=self.render_condition(model),
                execute=self.render_execute(model),
            ),
        )


def _resolved(tracking: Tracking, label: str) -> ResolvedTracker:
    for resolved in tracking.resolved_trackers:
        if resolved.tracker.label == label:
            return resolved
    raise KeyError(label)  # pragma: no cover - labels come from the same spec


class ConditionGuard:
    """A Django execute wrapper (``connection.execute_wrappers``) for the time of a
    ``migrate``: right before the connection runs the install SQL of a history trigger as
    the models define it now, the trigger's condition is checked
    (:meth:`HistoryTrigger.check_condition`), inside the migration's transaction, so a
    refused condition rolls the migration back and installs nothing.

    Migrations hold rendered SQL, not trackers: the SQL is matched exactly against each
    registered history trigger's current install SQL. A migration installing an older
    version of a trigger is not matched (its tracker no longer exists in the code).
    """

    def __init__(self, alias: str, triggers: Mapping[str, HistoryTrigger]) -> None:
        self.alias = alias
        self.triggers = dict(triggers)

    @classmethod
    def for_registered(cls, alias: str) -> ConditionGuard:
        triggers = {}
        for model, trigger in pgtrigger.registered():
            if isinstance(trigger, HistoryTrigger):
                triggers[trigger.compile(model).install_sql] = trigger
        return cls(alias, triggers)

    def __call__(
        self, execute: Callable[..., object], sql_text: object, params: object, many: bool, context: object
    ) -> object:
        trigger = self.triggers.get(sql_text) if isinstance(sql_text, str) else None
        if trigger is not None:
            trigger.check_condition(self.alias)
        return execute(sql_text, params, many, context)
