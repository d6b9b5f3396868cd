"""SQLAlchemy adapter, database tier: Alembic autogenerate, upgrade and downgrade.

Layer: tests (real Postgres). An Alembic environment is written to ``tmp_path`` and driven
with ``alembic.command`` (what ``alembic revision --autogenerate`` / ``upgrade`` /
``downgrade`` run). After every step the core's ``check`` (``pghistory check``) must find
no drift, and autogenerating again must find nothing to do.
"""

from __future__ import annotations

import io
import pathlib
from collections.abc import Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import orm

import pghistory_core as ph
import pghistory_sqlalchemy as pgh
from pghistory_sqlalchemy import migrations
from pghistory_sqlalchemy.bridge import CoreConnection
from tests.sqlalchemy.helpers import event_rows

migrations.register()

_PLUGINS = ["alembic.autogenerate.*", migrations.PLUGIN_NAME]

_ENV = '''
from alembic import context

import pghistory_sqlalchemy.migrations as pgh_migrations

pgh_migrations.register()
config = context.config
if context.is_offline_mode():  # alembic upgrade --sql: the script goes to the buffer
    context.configure(
        url=config.attributes["engine"].url,
        target_metadata=config.attributes["metadata"],
        literal_binds=True,
        output_buffer=config.attributes["buffer"],
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    with config.attributes["engine"].connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=config.attributes["metadata"],
            autogenerate_plugins=["alembic.autogenerate.*", pgh_migrations.PLUGIN_NAME],
            **config.attributes.get("options", {}),
        )
        with context.begin_transaction():
            context.run_migrations()
'''


def _models(version: int) -> tuple[sa.MetaData, type]:
    """v1: cash(id, amount) with inserts tracked; v2 adds a tracked column and an update
    tracker; v3 (tracking removed) keeps the cash table only."""

    class Base(orm.DeclarativeBase):
        pass

    class Cash(Base):
        __tablename__ = "cash"
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        amount: orm.Mapped[Decimal] = orm.mapped_column(sa.Numeric(10, 2))
        if version == 2:
            note: orm.Mapped[str | None] = orm.mapped_column(sa.Text())

    if version == 1:
        pgh.track(pgh.InsertEvent())(Cash)
    elif version == 2:
        pgh.track(pgh.InsertEvent(), pgh.UpdateEvent())(Cash)
    return Base.metadata, Cash


@pytest.fixture
def alembic_env(tmp_path: pathlib.Path, engine: sa.Engine) -> Iterator[Config]:
    script_dir = tmp_path / "migrations"
    config = Config(str(tmp_path / "alembic.ini"))
    command.init(config, str(script_dir))
    config = Config(str(tmp_path / "alembic.ini"))
    config.set_main_option("script_location", str(script_dir))
    (script_dir / "env.py").write_text(_ENV)
    config.attributes["engine"] = engine
    yield config


def _revision(config: Config, metadata: sa.MetaData, message: str) -> str:
    config.attributes["metadata"] = metadata
    script = command.revision(config, message=message, autogenerate=True)
    assert script is not None and not isinstance(script, list)
    return pathlib.Path(script.path).read_text()


def _diff(engine: sa.Engine, metadata: sa.MetaData, **options: object) -> list[tuple[object, ...]]:
    """What autogenerate would do now, as Alembic's diff tuples."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"autogenerate_plugins": _PLUGINS, "target_metadata": metadata, **options}
        )
        return [d if isinstance(d, tuple) else tuple(d) for d in compare_metadata(context, metadata)]


def _check(engine: sa.Engine, metadata: sa.MetaData) -> None:
    with engine.begin() as conn:
        ph.check(CoreConnection(conn), pgh.trackings(metadata))


def _kinds(diff: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Diff entries without SQL/hashes: (what, kind or table, name)."""
    result: list[tuple[object, ...]] = []
    for entry in diff:
        if entry and isinstance(entry[0], tuple):  # grouped column diffs
            entry = entry[0]
        what = entry[0]
        if str(what).endswith("history_object"):
            result.append((what, entry[1], entry[2]))
        elif what in ("add_table", "remove_table"):
            result.append((what, entry[1].name))  # type: ignore[union-attr]
        elif what in ("add_column", "remove_column"):
            result.append((what, entry[2], entry[3].name))  # type: ignore[union-attr]
        elif what in ("add_index", "remove_index"):
            result.append((what, entry[1].name))  # type: ignore[union-attr]
        else:
            result.append(tuple(entry[:3]))
    return sorted(result, key=repr)


def test_autogenerate_upgrade_downgrade(alembic_env: Config, engine: sa.Engine) -> None:
    v1, Cash1 = _models(1)
    v2, Cash2 = _models(2)

    # 1. Empty database: tables, context machinery, event table, trigger and function.
    script = _revision(alembic_env, v1, "v1")
    assert "op.create_history_object(" in script
    assert "op.execute" not in script
    assert "import pghistory_sqlalchemy.migrations" in script
    assert "CREATE TRIGGER" in script and "content_hash=" in script
    command.upgrade(alembic_env, "head")
    _check(engine, v1)
    assert _diff(engine, v1) == []
    with orm.Session(engine) as session, session.begin():
        session.add(Cash1(id=1, amount=Decimal("5")))
    assert [r["pgh_label"] for r in event_rows(engine, "cash_event")] == ["insert"]

    # 2. A tracked column and an update tracker: exactly those changes.
    diff = _kinds(_diff(engine, v2))
    function = ph.Tracking(pgh.core_table(Cash2.__table__), (pgh.InsertEvent(), pgh.UpdateEvent())).resolved_trackers
    insert_fn, update_fn = (r.function_name for r in function)
    insert_tg, update_tg = (r.trigger_name for r in function)
    assert diff == sorted(
        [
            ("add_column", "cash", "note"),
            ("add_column", "cash_event", "note"),
            ("modify_history_object", "table", "public.cash_event"),  # its pghistory comment
            ("modify_history_object", "function", f"public.{insert_fn}"),  # copies the new column
            ("add_history_object", "function", f"public.{update_fn}"),
            ("add_history_object", "trigger", f"public.cash:{update_tg}"),
        ],
        key=repr,
    )
    assert insert_tg not in repr(diff)  # the insert trigger itself is unchanged
    script = _revision(alembic_env, v2, "v2")
    assert "op.replace_history_object(" in script and "previous=dict(" in script
    command.upgrade(alembic_env, "head")
    _check(engine, v2)
    assert _diff(engine, v2) == []
    with orm.Session(engine) as session, session.begin():
        session.get_one(Cash2, 1).note = "hello"
    rows = event_rows(engine, "cash_event", ["note"])
    assert [(r["pgh_label"], r["note"]) for r in rows] == [("insert", None), ("update", "hello")]

    # 3. Downgrade back to v1: the database is exactly v1 again (no drift, nothing to do).
    command.downgrade(alembic_env, "-1")
    _check(engine, v1)
    assert _diff(engine, v1) == []
    with orm.Session(engine) as session, session.begin():
        session.get_one(Cash1, 1).amount = Decimal("6")  # no update tracker in v1
        session.add(Cash1(id=2, amount=Decimal("7")))
    assert [r["pgh_label"] for r in event_rows(engine, "cash_event")] == ["insert", "update", "insert"]

    # 4. Upgrade again, then downgrade to the empty database.
    command.upgrade(alembic_env, "head")
    _check(engine, v2)
    command.downgrade(alembic_env, "base")
    _check(engine, _models(0)[0])
    assert sa.inspect(engine).get_table_names() == ["alembic_version"]


def test_removed_tracking_keeps_event_table_with_rows(alembic_env: Config, engine: sa.Engine) -> None:
    v1, Cash1 = _models(1)
    untracked, _ = _models(3)
    _revision(alembic_env, v1, "v1")
    command.upgrade(alembic_env, "head")

    # No rows yet: removing the tracking drops its triggers, functions and (empty) tables.
    kinds = _kinds(_diff(engine, untracked))
    assert ("remove_table", "cash_event") in kinds
    assert ("remove_history_object", "trigger", f"public.cash:{ph.Tracking(pgh.core_table(Cash1.__table__), (pgh.InsertEvent(),)).resolved_trackers[0].trigger_name}") in kinds

    with pgh.context(user="alice"), orm.Session(engine) as session, session.begin():
        session.add(Cash1(id=1, amount=Decimal("5")))
    kinds = _kinds(_diff(engine, untracked))
    # The event table and the context table hold rows: kept; the triggers and functions go.
    assert not [k for k in kinds if k[0] in ("remove_table", "remove_index")]
    assert {k[1] for k in kinds if k[0] == "remove_history_object"} == {"trigger", "function"}
    script = _revision(alembic_env, untracked, "untrack")
    assert "drop_table" not in script
    command.upgrade(alembic_env, "head")
    _check(engine, untracked)
    assert event_rows(engine, "cash_event") == [{"pgh_label": "insert", "pgh_obj_id": 1}]
    with orm.Session(engine) as session, session.begin():
        session.execute(sa.text("UPDATE cash SET amount = 1"))
    assert len(event_rows(engine, "cash_event")) == 1  # no trigger any more
    command.downgrade(alembic_env, "-1")
    _check(engine, v1)

    # Asked explicitly: the drop is proposed.
    kinds = _kinds(_diff(engine, untracked, **{migrations.ALLOW_DROP_OPTION: True}))
    assert ("remove_table", "cash_event") in kinds


def test_migration_script_is_self_contained(alembic_env: Config, engine: sa.Engine) -> None:
    """The script carries the core's rendered SQL and hashes: it does not depend on the
    models when it runs."""
    v1, _ = _models(1)
    script = _revision(alembic_env, v1, "v1")
    for artefact in ph.all_artefacts(pgh.trackings(v1)):
        assert repr(artefact.content_hash) in script
    alembic_env.attributes["metadata"] = None  # upgrade never reads the models
    command.upgrade(alembic_env, "head")
    _check(engine, v1)


def _offline(config: Config, step: str, revision: str) -> str:
    """The SQL ``alembic upgrade/downgrade --sql`` prints for *revision*."""
    buffer = io.StringIO()
    config.attributes["buffer"] = buffer
    getattr(command, step)(config, revision, sql=True)
    return buffer.getvalue()


def _apply_by_hand(engine: sa.Engine, script: str) -> None:
    """Run *script* as psql would: as text, no parameters (it holds its own BEGIN/COMMIT)."""
    with engine.connect() as conn:
        conn.connection.driver_connection.execute(script)  # type: ignore[union-attr]


def test_offline_sql_applied_by_hand_leaves_no_drift(alembic_env: Config, engine: sa.Engine) -> None:
    """``alembic upgrade --sql``: the printed script, run without Alembic or pghistory (as a
    DBA would with psql), installs the history objects and records them, so ``check``
    finds no drift and autogenerate nothing to do; the downgrade script undoes it."""
    v1, _ = _models(1)
    v2, Cash2 = _models(2)
    _revision(alembic_env, v1, "v1")
    command.upgrade(alembic_env, "head")
    _revision(alembic_env, v2, "v2")
    command.downgrade(alembic_env, "base")
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))  # a database that never saw Alembic

    upgrade = _offline(alembic_env, "upgrade", "head")
    assert "COMMENT ON" in upgrade and "CREATE TRIGGER" in upgrade
    assert sa.inspect(engine).get_table_names() == []  # printing ran nothing
    _apply_by_hand(engine, upgrade)
    _check(engine, v2)
    assert _diff(engine, v2) == []
    with pgh.context(user="dba"), orm.Session(engine) as session, session.begin():
        session.add(Cash2(id=1, amount=Decimal("5")))
    with orm.Session(engine) as session, session.begin():
        session.get_one(Cash2, 1).note = "hello"
    assert [(r["pgh_label"], r["note"]) for r in event_rows(engine, "cash_event", ["note"])] == [
        ("insert", None), ("update", "hello")
    ]

    downgrade = _offline(alembic_env, "downgrade", "head:base")
    _apply_by_hand(engine, downgrade)
    _check(engine, _models(0)[0])
    assert sa.inspect(engine).get_table_names() == ["alembic_version"]


def test_rendered_sql_round_trips() -> None:
    v1, _ = _models(1)
    for artefact in ph.all_artefacts(pgh.trackings(v1)):
        obj = migrations.HistoryObject.from_artefact(artefact)
        rendered = migrations._render_str(obj.create_sql, "    ")
        assert eval(rendered) == obj.create_sql  # noqa: S307 - our own rendering
        assert obj.artefact().content_hash == artefact.content_hash


def test_removed_tracked_model_round_trips(alembic_env: Config, engine: sa.Engine) -> None:
    """Deleting a tracked model: Alembic drops its table, the triggers go with it, and the
    downgrade re-creates the table before its triggers (and keeps the history)."""
    v1, Cash1 = _models(1)
    _revision(alembic_env, v1, "v1")
    command.upgrade(alembic_env, "head")
    with pgh.context(user="alice"), orm.Session(engine) as session, session.begin():
        session.add(Cash1(id=1, amount=Decimal("5")))

    script = _revision(alembic_env, sa.MetaData(), "remove cash")
    assert "op.drop_table('cash')" in script
    command.upgrade(alembic_env, "head")
    assert sorted(sa.inspect(engine).get_table_names()) == ["alembic_version", "cash_event", "pghistory_context"]

    command.downgrade(alembic_env, "-1")
    _check(engine, v1)
    assert _diff(engine, v1) == []
    with orm.Session(engine) as session, session.begin():
        session.add(Cash1(id=2, amount=Decimal("6")))
    assert [(r["pgh_label"], r["pgh_obj_id"]) for r in event_rows(engine, "cash_event")] == [("insert", 1), ("insert", 2)]


def _narrowed(version: int) -> tuple[sa.MetaData, type]:
    """cash(id, amount, note); v1 tracks every column, v2 only id and amount."""

    class Base(orm.DeclarativeBase):
        pass

    class Cash(Base):
        __tablename__ = "cash"
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        amount: orm.Mapped[Decimal] = orm.mapped_column(sa.Numeric(10, 2))
        note: orm.Mapped[str | None] = orm.mapped_column(sa.Text())

    fields = None if version == 1 else ["id", "amount"]
    pgh.track(pgh.InsertEvent(), pgh.UpdateEvent(), fields=fields)(Cash)
    return Base.metadata, Cash


def test_a_column_leaving_fields_keeps_its_history(alembic_env: Config, engine: sa.Engine, caplog: pytest.LogCaptureFixture) -> None:
    v1, Cash1 = _narrowed(1)
    v2, Cash2 = _narrowed(2)
    _revision(alembic_env, v1, "v1")
    command.upgrade(alembic_env, "head")

    # No history yet: the column goes as Alembic proposes.
    assert ("remove_column", "cash_event", "note") in _kinds(_diff(engine, v2))

    with orm.Session(engine) as session, session.begin():
        session.add(Cash1(id=1, amount=Decimal("5"), note="first"))
    kinds = _kinds(_diff(engine, v2))
    assert not [k for k in kinds if k[0] == "remove_column"]
    assert "keeping column note of public.cash_event" in caplog.text
    script = _revision(alembic_env, v2, "narrow")
    assert "drop_column" not in script
    command.upgrade(alembic_env, "head")
    _check(engine, v2)

    with orm.Session(engine) as session, session.begin():
        session.get_one(Cash2, 1).amount = Decimal("6")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT pgh_label, amount, note FROM cash_event ORDER BY pgh_id")).all()
    assert [tuple(r) for r in rows] == [("insert", Decimal("5.00"), "first"), ("update", Decimal("6.00"), None)]

    # Asked explicitly: the drop is proposed.
    assert ("remove_column", "cash_event", "note") in _kinds(_diff(engine, v2, **{migrations.ALLOW_DROP_OPTION: True}))
