"""Translation: SQLAlchemy models and tables to the core's tracking spec, and event classes.

Layer: adapter (translation). ``track`` (class decorator) and ``track_table`` (imperative
``Table``) translate the SQLAlchemy description into a :class:`pghistory_core.Tracking`:

- column SQL types are compiled with the PostgreSQL dialect; ``onupdate`` columns are
  ``auto`` (skipped by ``exclude_auto``), ``Computed`` columns are ``generated``;
- names in ``fields``/``exclude`` and in conditions (``Q`` keys ``old__<name>...``,
  ``F("new__<name>")``, ``AnyChange("<name>")``...) are mapped attribute names (or
  ``Column.key`` for a ``Table``), translated to database column names; a column's
  database name is accepted too;
- a schema of ``None`` means ``public``.

Each tracking gets an event ``Table`` on the same ``MetaData`` whose columns are exactly the
core's event columns (:func:`pghistory_core.render.event_columns`, same names, same SQL
types, same indexes), and a class mapped on the same registry (``<Model>Event``) with
relationships ``pgh_obj`` (the tracked object) and ``pgh_context`` (the shared context row,
FK mode). Neither relationship has a foreign-key constraint: history outlives deleted rows.
The tracked class gets ``pgh_event_model``, ``pgh_event_models`` and an ``events``
relationship (the first tracking's events, ordered by ``pgh_id``).

Mirrored columns keep the Python behaviour of the tracked column's type (``Numeric`` gives
``Decimal``, enums give enum members) but are created with the core's mirrored SQL type,
without length or precision (see :func:`pghistory_core.render.mirror_type`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import TypeCompiler
from sqlalchemy.types import TypeDecorator, TypeEngine

import pghistory_core as ph
from pghistory_core import render
from pghistory_core.spec import DEFAULT_CONTEXT_SCHEMA
from pghistory_core.trackers import map_tracker_columns

__all__ = [
    "MirroredType",
    "TrackedTable",
    "context_model",
    "core_table",
    "track",
    "track_table",
    "tracked_tables",
    "trackings",
]

_INFO_KEY = "pghistory"
_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
_DEFAULT_SCHEMA = "public"

T = TypeVar("T", bound=type)


# ------------------------------------------------------------------------------ types


class MirroredType(TypeDecorator[object]):
    """A tracked column's type in an event table.

    Binds and results behave as the tracked column's type (``original``); DDL is the core's
    mirrored SQL type (``sql_type``), so SQLAlchemy creates exactly the column the core
    expects.
    """

    impl = sa.types.NullType
    cache_ok = True

    def __init__(self, original: TypeEngine[object], sql_type: str) -> None:
        super().__init__()
        self.impl = original  # type: ignore[assignment]
        self.original = original
        self.sql_type = sql_type

    def copy(self, **kw: object) -> MirroredType:
        return MirroredType(self.original, self.sql_type)

    @property
    def python_type(self) -> type:
        return self.original.python_type

    @classmethod
    def ddl(cls, sql_type: str) -> MirroredType:
        """A column type that only knows its DDL (what Alembic migrations render)."""
        return cls(sa.types.NullType(), sql_type)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        # Alembic renders user types as ``<module>.<repr>`` into migration scripts: the DDL
        # is all a migration needs, and it must not depend on the tracked column's type.
        return f"MirroredType.ddl({self.sql_type!r})"


@compiles(MirroredType)
def _compile_mirrored(type_: MirroredType, compiler: TypeCompiler, **kw: object) -> str:
    return type_.sql_type


def sql_type(column: sa.Column[object]) -> str:
    """The SQL type of *column* as the PostgreSQL dialect spells it."""
    return str(column.type.compile(dialect=_DIALECT))


# -------------------------------------------------------------------- registry on MetaData


@dataclasses.dataclass
class TrackedTable:
    """One tracking registered on a ``MetaData``."""

    tracking: ph.Tracking
    table: sa.Table
    event_table: sa.Table
    event_model: type
    model: type | None


@dataclasses.dataclass
class _MetadataState:
    entries: list[TrackedTable] = dataclasses.field(default_factory=list)
    context_models: dict[str, type] = dataclasses.field(default_factory=dict)
    listening: bool = False


def _state(metadata: sa.MetaData) -> _MetadataState:
    state = metadata.info.get(_INFO_KEY)
    if state is None:
        state = metadata.info[_INFO_KEY] = _MetadataState()
    if not state.listening:
        from pghistory_sqlalchemy import ddl  # local: ddl imports this module

        ddl.listen(metadata)
        state.listening = True
    return state


def tracked_tables(metadata: sa.MetaData) -> list[TrackedTable]:
    """Every tracking registered on *metadata*, in registration order."""
    state = metadata.info.get(_INFO_KEY)
    return list(state.entries) if state is not None else []


def trackings(metadata: sa.MetaData) -> list[ph.Tracking]:
    """The core specs of every tracking on *metadata* (for ``ph.install``, the CLI...)."""
    return [entry.tracking for entry in tracked_tables(metadata)]


# ------------------------------------------------------------------------- translation


def core_table(table: sa.Table, schema: str | None = None) -> ph.Table:
    """The core's description of a SQLAlchemy ``Table``."""
    columns = []
    for column in table.columns:
        columns.append(
            ph.Column(
                column.name,
                sql_type(column),
                nullable=bool(column.nullable),
                auto=column.onupdate is not None or column.server_onupdate is not None,
                generated=column.computed is not None,
            )
        )
    return ph.Table(
        table.name,
        tuple(columns),
        primary_key=tuple(column.name for column in table.primary_key.columns),
        schema=schema or table.schema or _DEFAULT_SCHEMA,
    )


class _Names:
    """Attribute names (or column keys) -> database column names for one table."""

    def __init__(self, owner: str, table: sa.Table, attributes: Mapping[str, str]) -> None:
        self.owner = owner
        self.table = table
        self.mapping = dict(attributes)
        for column in table.columns:
            self.mapping.setdefault(column.key, column.name)
            self.mapping.setdefault(column.name, column.name)

    def __call__(self, name: str) -> str:
        if name in self.mapping:
            return self.mapping[name]
        known = ", ".join(sorted(k for k in self.mapping))
        raise ph.UnknownColumnError(f"{self.owner}: no mapped attribute or column {name!r}; known names: {known}")

    def many(self, names: Iterable[str] | None) -> tuple[str, ...] | None:
        if names is None:
            return None
        if isinstance(names, str):
            raise ph.ConfigurationError(f"{self.owner}: expected a list of names, not a single str ({names!r})")
        return tuple(self(name) for name in names)


# ----------------------------------------------------------------------- event classes


def _sa_schema(schema: str) -> str | None:
    # The default schema stays implicit on the SQLAlchemy side, as users write their own
    # tables (Alembic compares an explicit "public" as a different schema).
    return None if schema == _DEFAULT_SCHEMA else schema


def _context_model(metadata: sa.MetaData, registry: orm.registry, schema: str) -> type:
    state = _state(metadata)
    model = state.context_models.get(schema)
    if model is not None:
        return model
    table = sa.Table(
        render.CONTEXT_TABLE,
        metadata,
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("metadata", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=_sa_schema(schema),
        info={_INFO_KEY: "context"},
    )
    model = type(
        "PghistoryContext",
        (),
        {
            "__doc__": "A row of the shared pghistory_context table: the id and metadata grouping changes.",
            "__module__": __name__,
            "__repr__": lambda self: f"PghistoryContext(id={self.id}, metadata={self.metadata!r})",
        },
    )
    registry.map_imperatively(model, table)
    state.context_models[schema] = model
    return model


def context_model(metadata: sa.MetaData, schema: str = DEFAULT_CONTEXT_SCHEMA) -> type | None:
    """The mapped class of the shared context table on *metadata* (None if no FK tracking)."""
    state = metadata.info.get(_INFO_KEY)
    return state.context_models.get(schema) if state is not None else None


def _event_table(metadata: sa.MetaData, tracking: ph.Tracking, table: sa.Table, keys: Mapping[str, str]) -> sa.Table:
    by_name = {column.name: column for column in table.columns}
    pk = by_name[tracking.table.primary_key[0]] if tracking.obj_id_type is not None else None
    partitioned = tracking.partition is not None
    columns: list[sa.Column[object]] = []
    for name, type_ in render.event_columns(tracking):
        if name == "pgh_id":
            columns.append(sa.Column("pgh_id", sa.BigInteger(), sa.Identity(), primary_key=True))
        elif name == "pgh_created_at":
            # A partitioned table's primary key must hold its partition column.
            columns.append(
                sa.Column(
                    "pgh_created_at",
                    sa.DateTime(timezone=True),
                    nullable=False,
                    server_default=sa.func.now(),
                    primary_key=partitioned,
                )
            )
        elif name == "pgh_label":
            columns.append(sa.Column("pgh_label", sa.Text(), nullable=False))
        elif name == "pgh_obj_id":
            assert pk is not None  # obj_id_type is set only with a single-column key
            columns.append(sa.Column("pgh_obj_id", MirroredType(pk.type, type_)))
        elif name == "pgh_context_id":
            columns.append(sa.Column("pgh_context_id", sa.Uuid()))
        elif name == "pgh_context":
            columns.append(sa.Column("pgh_context", postgresql.JSONB()))
        else:
            # Mirrored: nullable, no unique/index/foreign key copied (history repeats values).
            key = keys.get(name, name)
            columns.append(sa.Column(name, MirroredType(by_name[name].type, type_), key=key, nullable=True))
    dialect_options: dict[str, Any] = {"postgresql_partition_by": render.PARTITION_KEY} if partitioned else {}
    event_table = sa.Table(
        tracking.event_table_name,
        metadata,
        *columns,
        schema=_sa_schema(tracking.event_schema_name),
        info={_INFO_KEY: "event"},
        **dialect_options,
    )
    for index_name, column in render.event_indexes(tracking):
        sa.Index(index_name, event_table.c[column])
    return event_table


def _event_model(
    name: str,
    registry: orm.registry,
    tracking: ph.Tracking,
    event_table: sa.Table,
    table: sa.Table,
    model: type | None,
    context_cls: type | None,
) -> type:
    properties: dict[str, object] = {}
    if model is not None and tracking.obj_id_type is not None:
        pk = table.c[_key_of(table, tracking.table.primary_key[0])]
        properties["pgh_obj"] = orm.relationship(
            model,
            primaryjoin=orm.foreign(event_table.c.pgh_obj_id) == pk,
            viewonly=True,
        )
    if context_cls is not None:
        context_table: sa.FromClause = orm.class_mapper(context_cls).local_table
        properties["pgh_context"] = orm.relationship(
            context_cls,
            primaryjoin=orm.foreign(event_table.c.pgh_context_id) == context_table.c.id,
            viewonly=True,
        )
    doc = f"History of {tracking.table.qualified_name} ({', '.join(tracking.labels)}), stored in {event_table.fullname}."
    cls = type(name, (), {"__doc__": doc, "__module__": getattr(model, "__module__", __name__)})
    registry.map_imperatively(cls, event_table, properties=properties)
    return cls


def _key_of(table: sa.Table, column_name: str) -> str:
    return next(column.key for column in table.columns if column.name == column_name)


# ---------------------------------------------------------------------------- public API


def _register(
    table: sa.Table,
    model: type | None,
    registry: orm.registry,
    owner: str,
    attributes: Mapping[str, str],
    trackers: Sequence[ph.Tracker],
    *,
    fields: Iterable[str] | None,
    exclude: Iterable[str] | None,
    obj_field: bool,
    context: ph.ContextMode,
    append_only: bool,
    model_name: str | None,
    table_name: str | None,
    schema: str | None,
    level: ph.Level | None,
    partition: str | None = None,
) -> TrackedTable:
    if table.metadata is not registry.metadata:
        raise ph.ConfigurationError(f"{owner}: its table is on a different MetaData than the registry given")
    names = _Names(owner, table, attributes)
    primary_key = [column.name for column in table.primary_key.columns]
    if obj_field and len(primary_key) != 1:
        # The core's own message names its argument (obj_ref); this adapter's is obj_field.
        raise ph.ConfigurationError(
            f"{owner}: the object reference (pgh_obj_id, pgh_obj, obj.events) needs a single-column "
            f"primary key, the table has {primary_key}; pass obj_field=False"
        )
    tracking = ph.Tracking(
        core_table(table),
        tuple(map_tracker_columns(tracker, names) for tracker in trackers),
        fields=names.many(fields),
        exclude=names.many(exclude) or (),
        event_table=table_name,
        event_schema=schema,
        obj_ref=obj_field,
        context=context,
        append_only=append_only,
        level=level,
        partition=partition,
    )
    state = _state(table.metadata)
    from pghistory_sqlalchemy import ddl  # local: ddl imports this module

    ddl.listen_table(table)
    existing = {(e.tracking.event_schema_name, e.tracking.event_table_name) for e in state.entries}
    if (tracking.event_schema_name, tracking.event_table_name) in existing:
        raise ph.DuplicateLabelError(
            f"{owner}: event table {tracking.event_schema_name}.{tracking.event_table_name} is already used by "
            "another tracking; pass table_name="
        )
    # Labels, trigger names and event tables must be unique together (raises otherwise).
    render.all_artefacts([*(e.tracking for e in state.entries), tracking])
    # Event-class attribute names follow the tracked class (or the Table's column keys).
    keys = {column.name: column.key for column in table.columns}
    keys.update({name: key for key, name in attributes.items()})
    keys = {name: (key if not key.startswith("pgh_") else name) for name, key in keys.items()}
    event_table = _event_table(table.metadata, tracking, table, keys)
    context_cls = _context_model(table.metadata, registry, tracking.context_schema) if tracking.context == ph.FK else None
    if model_name is None:
        model_name = _free_name(registry, (model.__name__ if model is not None else _camel(table.name)) + "Event", tracking)
    event_model = _event_model(model_name, registry, tracking, event_table, table, model, context_cls)
    entry = TrackedTable(tracking, table, event_table, event_model, model)
    state.entries.append(entry)
    return entry


def _free_name(registry: orm.registry, default: str, tracking: ph.Tracking) -> str:
    """*default*, or another name when a class of that name is already mapped on *registry*
    (another tracking of the model, or the user's own ``AccountEvent``): two mapped classes
    of one name make SQLAlchemy's string lookup (``relationship("AccountEvent")``) ambiguous."""
    taken = {mapper.class_.__name__ for mapper in registry.mappers}
    candidates = [default, _camel(tracking.event_table_name)]
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    number = 2
    while f"{candidates[-1]}{number}" in taken:
        number += 1
    return f"{candidates[-1]}{number}"


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace(".", "_").split("_") if part) or "Table"


def track(
    *trackers: ph.Tracker,
    fields: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    obj_field: bool = True,
    context: ph.ContextMode = ph.FK,
    append_only: bool = False,
    model_name: str | None = None,
    table_name: str | None = None,
    schema: str | None = None,
    level: ph.Level | None = None,
    partition: str | None = None,
) -> Callable[[T], T]:
    """Class decorator tracking a mapped (declarative) class.

    Apply it above the mapping (``@track(...)`` then ``class Model(Base)``, or above
    ``@registry.mapped``). Arguments are the core's :class:`~pghistory_core.Tracking` ones
    with django-pghistory's names: ``obj_field`` (``pgh_obj_id``), ``model_name`` (the
    event class name), ``table_name`` (event table), ``schema`` (event table schema).
    ``partition`` (``"day"``, ``"week"``, ``"month"``, ``"year"``) range-partitions the
    event table by ``pgh_created_at`` (``postgresql_partition_by``; its primary key is then
    ``(pgh_id, pgh_created_at)``); ``create_all`` adds its DEFAULT and range partitions.
    """

    def decorate(model: T) -> T:
        mapper: orm.Mapper[object] | None = sa.inspect(model, raiseerr=False)
        if not isinstance(mapper, orm.Mapper):
            raise ph.ConfigurationError(
                f"@track: {model.__name__} is not a mapped class; put @track above the mapping "
                "(a DeclarativeBase subclass, or above @registry.mapped)"
            )
        table = mapper.local_table
        if not isinstance(table, sa.Table):
            raise ph.UnsupportedError(f"@track: {model.__name__} is mapped to {table!r}, not to a Table")
        attributes = {
            prop.key: prop.columns[0].name
            for prop in mapper.column_attrs
            if len(prop.columns) == 1 and isinstance(prop.columns[0], sa.Column) and prop.columns[0].table is table
        }
        entry = _register(
            table,
            model,
            mapper.registry,
            model.__name__,
            attributes,
            trackers,
            fields=fields,
            exclude=exclude,
            obj_field=obj_field,
            context=context,
            append_only=append_only,
            model_name=model_name,
            table_name=table_name,
            schema=schema,
            level=level,
            partition=partition,
        )
        models = [*getattr(model, "pgh_event_models", ()), entry.event_model]
        type.__setattr__(model, "pgh_event_models", tuple(models))
        type.__setattr__(model, "pgh_event_model", models[0])
        if entry.tracking.obj_id_type is not None and not mapper.has_property("events") and "events" not in vars(model):
            pk = table.c[_key_of(table, entry.tracking.table.primary_key[0])]
            mapper.add_property(
                "events",
                orm.relationship(
                    entry.event_model,
                    primaryjoin=pk == orm.foreign(entry.event_table.c.pgh_obj_id),
                    order_by=entry.event_table.c.pgh_id,
                    viewonly=True,
                ),
            )
        return model

    return decorate


def track_table(
    table: sa.Table,
    *trackers: ph.Tracker,
    registry: orm.registry | None = None,
    fields: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    obj_field: bool = True,
    context: ph.ContextMode = ph.FK,
    append_only: bool = False,
    model_name: str | None = None,
    table_name: str | None = None,
    schema: str | None = None,
    level: ph.Level | None = None,
    partition: str | None = None,
) -> type:
    """Track an imperative ``Table``; names are ``Column.key`` (or column names).

    Returns the event class, mapped on *registry* (a new registry over the table's
    ``MetaData`` when not given).
    """
    if not isinstance(table, sa.Table):
        raise ph.ConfigurationError(f"track_table() needs a sqlalchemy Table, got {table!r}")
    registry = registry or orm.registry(metadata=table.metadata)
    entry = _register(
        table,
        None,
        registry,
        f"table {table.fullname}",
        {},
        trackers,
        fields=fields,
        exclude=exclude,
        obj_field=obj_field,
        context=context,
        append_only=append_only,
        model_name=model_name,
        table_name=table_name,
        schema=schema,
        level=level,
        partition=partition,
    )
    return entry.event_model
