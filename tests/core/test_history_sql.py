"""Pure tier: the SQL of history reads and reverts (golden), its safety rules, and the
errors raised when trackings cannot answer. No database.

Layer: tests (pure tier). Golden texts are compared with whitespace collapsed, so they can
be wrapped for reading; the rendered SQL itself is one line.
"""

from __future__ import annotations

import datetime
import uuid

import pytest

import pghistory_core as ph
from pghistory_core import history, revert, sql
from pghistory_core.errors import ConfigurationError, HistoryError
from tests.core.test_sql import INJECTION, code_outside_literals

UTC = datetime.timezone.utc
AT = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CTX = uuid.UUID("00000000-0000-0000-0000-00000000000c")
CASH = ph.Table(
    "cash", (ph.Column("id", "integer"), ph.Column("dollars", "numeric(10,2)"), ph.Column("cents", "integer", generated=True))
)
FULL = ph.Tracking(CASH, (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent()))
MOVES = ph.Tracking(
    CASH, (ph.UpdateEvent("moved"),), fields=("id", "dollars"), event_table="cash_moves", context=ph.DENORMALIZED
)


def same_sql(rendered: sql.Composable, golden: str) -> None:
    text = sql.render(rendered)
    assert " ".join(text.split()) == text, "rendered SQL is a single line with single spaces"
    assert text == " ".join(golden.split())


# ---------------------------------------------------------------------------- golden

OBJECT_HISTORY = """
SELECT "pgh_h"."pgh_id", "pgh_h"."pgh_created_at", "pgh_h"."pgh_label", "pgh_h"."pgh_model",
    "pgh_h"."pgh_obj_model", "pgh_h"."pgh_obj_id"::text AS "pgh_obj_id", "pgh_h"."pgh_context_id",
    "pgh_h"."pgh_context"::text AS "pgh_context", "pgh_h"."pgh_data"::text AS "pgh_data",
    "pgh_h"."pgh_diff"::text AS "pgh_diff"
FROM ((SELECT "pgh_e"."pgh_id", "pgh_e"."pgh_created_at", "pgh_e"."pgh_label", 'public.cash_event'::text
    AS "pgh_model", 'public.cash'::text AS "pgh_obj_model", "pgh_e"."pgh_obj_id",
    "pgh_e"."pgh_context_id", (SELECT "pgh_c"."metadata" FROM "public"."pghistory_context" AS "pgh_c"
    WHERE "pgh_c"."id" = "pgh_e"."pgh_context_id") AS "pgh_context", "pgh_e"."pgh_data", CASE WHEN
    "pgh_e"."pgh_prev" IS NULL THEN NULL ELSE coalesce((SELECT jsonb_object_agg(coalesce(pgh_n.key,
    pgh_o.key), jsonb_build_array(pgh_o.value, pgh_n.value)) FROM jsonb_each("pgh_e"."pgh_data") AS
    pgh_n FULL JOIN jsonb_each("pgh_e"."pgh_prev") AS pgh_o ON pgh_o.key = pgh_n.key WHERE pgh_n.value
    IS DISTINCT FROM pgh_o.value), '{}'::jsonb) END AS "pgh_diff"
FROM (SELECT "pgh_x"."pgh_id", "pgh_x"."pgh_created_at", "pgh_x"."pgh_label",
    to_jsonb("pgh_x"."pgh_obj_id") AS "pgh_obj_id", "pgh_x"."pgh_context_id", NULL::jsonb AS
    "pgh_context", (to_jsonb("pgh_x".*) - ARRAY['pgh_id', 'pgh_created_at', 'pgh_label', 'pgh_obj_id',
    'pgh_context_id', 'pgh_context']::text[]) AS "pgh_data", lag((to_jsonb("pgh_x".*) - ARRAY['pgh_id',
    'pgh_created_at', 'pgh_label', 'pgh_obj_id', 'pgh_context_id', 'pgh_context']::text[])) OVER
    (PARTITION BY "pgh_x"."pgh_obj_id" ORDER BY "pgh_x"."pgh_id") AS "pgh_prev" FROM
    "public"."cash_event" AS "pgh_x" WHERE "pgh_x"."pgh_obj_id" = CAST(5 AS integer)) AS "pgh_e")
UNION ALL (SELECT "pgh_e"."pgh_id", "pgh_e"."pgh_created_at", "pgh_e"."pgh_label",
    'public.cash_moves'::text AS "pgh_model", 'public.cash'::text AS "pgh_obj_model",
    "pgh_e"."pgh_obj_id", "pgh_e"."pgh_context_id", "pgh_e"."pgh_context" AS "pgh_context",
    "pgh_e"."pgh_data", CASE WHEN "pgh_e"."pgh_prev" IS NULL THEN NULL ELSE coalesce((SELECT
    jsonb_object_agg(coalesce(pgh_n.key, pgh_o.key), jsonb_build_array(pgh_o.value, pgh_n.value)) FROM
    jsonb_each("pgh_e"."pgh_data") AS pgh_n FULL JOIN jsonb_each("pgh_e"."pgh_prev") AS pgh_o ON
    pgh_o.key = pgh_n.key WHERE pgh_n.value IS DISTINCT FROM pgh_o.value), '{}'::jsonb) END AS
    "pgh_diff"
FROM (SELECT "pgh_x"."pgh_id", "pgh_x"."pgh_created_at", "pgh_x"."pgh_label",
    to_jsonb("pgh_x"."pgh_obj_id") AS "pgh_obj_id", "pgh_x"."pgh_context_id", "pgh_x"."pgh_context",
    (to_jsonb("pgh_x".*) - ARRAY['pgh_id', 'pgh_created_at', 'pgh_label', 'pgh_obj_id',
    'pgh_context_id', 'pgh_context']::text[]) AS "pgh_data", lag((to_jsonb("pgh_x".*) - ARRAY['pgh_id',
    'pgh_created_at', 'pgh_label', 'pgh_obj_id', 'pgh_context_id', 'pgh_context']::text[])) OVER
    (PARTITION BY "pgh_x"."pgh_obj_id" ORDER BY "pgh_x"."pgh_id") AS "pgh_prev" FROM
    "public"."cash_moves" AS "pgh_x" WHERE "pgh_x"."pgh_obj_id" = CAST(5 AS integer)) AS "pgh_e")) AS
    "pgh_h" ORDER BY "pgh_h"."pgh_created_at" DESC, "pgh_h"."pgh_id" DESC, "pgh_h"."pgh_model" DESC
"""

EVENTS_PAGE = """
SELECT "pgh_h"."pgh_id", "pgh_h"."pgh_created_at", "pgh_h"."pgh_label", "pgh_h"."pgh_model",
    "pgh_h"."pgh_obj_model", "pgh_h"."pgh_obj_id"::text AS "pgh_obj_id", "pgh_h"."pgh_context_id",
    "pgh_h"."pgh_context"::text AS "pgh_context", "pgh_h"."pgh_data"::text AS "pgh_data",
    "pgh_h"."pgh_diff"::text AS "pgh_diff"
FROM ((SELECT "pgh_e"."pgh_id", "pgh_e"."pgh_created_at", "pgh_e"."pgh_label", 'public.cash_event'::text
    AS "pgh_model", 'public.cash'::text AS "pgh_obj_model", "pgh_e"."pgh_obj_id",
    "pgh_e"."pgh_context_id", (SELECT "pgh_c"."metadata" FROM "public"."pghistory_context" AS "pgh_c"
    WHERE "pgh_c"."id" = "pgh_e"."pgh_context_id") AS "pgh_context", "pgh_e"."pgh_data", CASE WHEN
    "pgh_p"."pgh_data" IS NULL THEN NULL ELSE coalesce((SELECT jsonb_object_agg(coalesce(pgh_n.key,
    pgh_o.key), jsonb_build_array(pgh_o.value, pgh_n.value)) FROM jsonb_each("pgh_e"."pgh_data") AS
    pgh_n FULL JOIN jsonb_each("pgh_p"."pgh_data") AS pgh_o ON pgh_o.key = pgh_n.key WHERE pgh_n.value
    IS DISTINCT FROM pgh_o.value), '{}'::jsonb) END AS "pgh_diff"
FROM (SELECT "pgh_x"."pgh_id", "pgh_x"."pgh_created_at", "pgh_x"."pgh_label",
    to_jsonb("pgh_x"."pgh_obj_id") AS "pgh_obj_id", "pgh_x"."pgh_context_id", NULL::jsonb AS
    "pgh_context", (to_jsonb("pgh_x".*) - ARRAY['pgh_id', 'pgh_created_at', 'pgh_label', 'pgh_obj_id',
    'pgh_context_id', 'pgh_context']::text[]) AS "pgh_data", "pgh_x"."pgh_obj_id" AS "pgh_key_0" FROM
    (SELECT "pgh_x".* FROM "public"."cash_event" AS "pgh_x" WHERE ("pgh_x"."dollars" = CAST(3 AS numeric)) AND
    "pgh_x"."pgh_label" = ANY(ARRAY['moved']::text[]) AND "pgh_x"."pgh_context_id" =
    '00000000-0000-0000-0000-00000000000c'::uuid AND ("pgh_x"."pgh_created_at", "pgh_x"."pgh_id",
    'public.cash_event') > ('2024-05-01T12:00:00+00:00'::timestamptz, 7, 'public.cash_event') ORDER BY
    "pgh_x"."pgh_created_at", "pgh_x"."pgh_id" LIMIT 10) AS "pgh_x") AS "pgh_e"
LEFT JOIN LATERAL (SELECT (to_jsonb("pgh_y".*) - ARRAY['pgh_id', 'pgh_created_at', 'pgh_label',
    'pgh_obj_id', 'pgh_context_id', 'pgh_context']::text[]) AS "pgh_data" FROM "public"."cash_event" AS
    "pgh_y" WHERE "pgh_y"."pgh_obj_id" = "pgh_e"."pgh_key_0" AND "pgh_y"."pgh_id" < "pgh_e"."pgh_id"
    ORDER BY "pgh_y"."pgh_id" DESC LIMIT 1) AS "pgh_p" ON TRUE)
UNION ALL (SELECT "pgh_e"."pgh_id", "pgh_e"."pgh_created_at", "pgh_e"."pgh_label",
    'public.cash_moves'::text AS "pgh_model", 'public.cash'::text AS "pgh_obj_model",
    "pgh_e"."pgh_obj_id", "pgh_e"."pgh_context_id", "pgh_e"."pgh_context" AS "pgh_context",
    "pgh_e"."pgh_data", CASE WHEN "pgh_p"."pgh_data" IS NULL THEN NULL ELSE coalesce((SELECT
    jsonb_object_agg(coalesce(pgh_n.key, pgh_o.key), jsonb_build_array(pgh_o.value, pgh_n.value)) FROM
    jsonb_each("pgh_e"."pgh_data") AS pgh_n FULL JOIN jsonb_each("pgh_p"."pgh_data") AS pgh_o ON
    pgh_o.key = pgh_n.key WHERE pgh_n.value IS DISTINCT FROM pgh_o.value), '{}'::jsonb) END AS
    "pgh_diff"
FROM (SELECT "pgh_x"."pgh_id", "pgh_x"."pgh_created_at", "pgh_x"."pgh_label",
    to_jsonb("pgh_x"."pgh_obj_id") AS "pgh_obj_id", "pgh_x"."pgh_context_id", "pgh_x"."pgh_context",
    (to_jsonb("pgh_x".*) - ARRAY['pgh_id', 'pgh_created_at', 'pgh_label', 'pgh_obj_id',
    'pgh_context_id', 'pgh_context']::text[]) AS "pgh_data", "pgh_x"."pgh_obj_id" AS "pgh_key_0" FROM
    (SELECT "pgh_x".* FROM "public"."cash_moves" AS "pgh_x" WHERE ("pgh_x"."dollars" = CAST(3 AS numeric)) AND
    "pgh_x"."pgh_label" = ANY(ARRAY['moved']::text[]) AND "pgh_x"."pgh_context_id" =
    '00000000-0000-0000-0000-00000000000c'::uuid AND ("pgh_x"."pgh_created_at", "pgh_x"."pgh_id",
    'public.cash_moves') > ('2024-05-01T12:00:00+00:00'::timestamptz, 7, 'public.cash_event') ORDER BY
    "pgh_x"."pgh_created_at", "pgh_x"."pgh_id" LIMIT 10) AS "pgh_x") AS "pgh_e"
LEFT JOIN LATERAL (SELECT (to_jsonb("pgh_y".*) - ARRAY['pgh_id', 'pgh_created_at', 'pgh_label',
    'pgh_obj_id', 'pgh_context_id', 'pgh_context']::text[]) AS "pgh_data" FROM "public"."cash_moves" AS
    "pgh_y" WHERE "pgh_y"."pgh_obj_id" = "pgh_e"."pgh_key_0" AND "pgh_y"."pgh_id" < "pgh_e"."pgh_id"
    ORDER BY "pgh_y"."pgh_id" DESC LIMIT 1) AS "pgh_p" ON TRUE)) AS "pgh_h" ORDER BY
    "pgh_h"."pgh_created_at", "pgh_h"."pgh_id", "pgh_h"."pgh_model" LIMIT 10
"""

OBJECT_AS_OF = """
SELECT "pgh_x"."pgh_id", "pgh_x"."pgh_created_at", "pgh_x"."pgh_label", "pgh_x"."id", "pgh_x"."dollars",
    "pgh_x"."cents" FROM "public"."cash_event" AS "pgh_x" WHERE "pgh_x"."pgh_obj_id" = CAST(5 AS
    integer) AND "pgh_x"."pgh_created_at" <= '2024-05-01T12:00:00+00:00'::timestamptz AND
    "pgh_x"."pgh_label" = ANY(ARRAY['insert', 'update', 'delete']::text[]) ORDER BY "pgh_x"."pgh_id"
    DESC LIMIT 1
"""

TABLE_AS_OF = """
SELECT "pgh_s"."pgh_id", "pgh_s"."pgh_created_at", "pgh_s"."pgh_label", "pgh_s"."id", "pgh_s"."dollars",
    "pgh_s"."cents"
FROM (SELECT DISTINCT ON ("pgh_x"."pgh_obj_id") "pgh_x"."pgh_id", "pgh_x"."pgh_created_at",
    "pgh_x"."pgh_label", "pgh_x"."id", "pgh_x"."dollars", "pgh_x"."cents" FROM "public"."cash_event" AS
    "pgh_x" WHERE "pgh_x"."pgh_created_at" <= '2024-05-01T12:00:00+00:00'::timestamptz AND
    "pgh_x"."pgh_label" = ANY(ARRAY['insert', 'update', 'delete']::text[]) ORDER BY
    "pgh_x"."pgh_obj_id", "pgh_x"."pgh_id" DESC) AS "pgh_s"
WHERE NOT ("pgh_s"."pgh_label" = ANY(ARRAY['delete']::text[])) ORDER BY "pgh_s"."id"
"""

RESTORE = """
INSERT INTO "public"."cash" AS "pgh_t" ("id", "dollars")
OVERRIDING SYSTEM VALUE SELECT "pgh_x"."id", "pgh_x"."dollars" FROM "public"."cash_event" AS "pgh_x"
    WHERE "pgh_x"."pgh_id" = ANY(ARRAY[3, 4]::bigint[])
ON CONFLICT ("id") DO UPDATE SET "dollars" = EXCLUDED."dollars"
"""

DELETE = """
DELETE FROM "public"."cash" AS "pgh_t" USING "public"."cash_event" AS "pgh_x" WHERE "pgh_x"."pgh_id" =
    ANY(ARRAY[3, 4]::bigint[]) AND "pgh_t"."id" = "pgh_x"."pgh_obj_id"
"""


def test_object_history_reads_each_event_table_by_object_id_inside_its_branch():
    same_sql(history.object_history_sql([FULL, MOVES], "cash", 5, newest_first=True), OBJECT_HISTORY)


def test_events_page_filters_inside_each_branch_and_looks_up_previous_events():
    query = history.events_sql(
        [FULL, MOVES],
        context_id=CTX,
        labels=["moved"],
        references=history.Reference("dollars", 3),
        limit=10,
        after=history.Cursor(AT, 7, "public.cash_event"),
    )
    same_sql(query, EVENTS_PAGE)


def test_as_of():
    same_sql(history.object_as_of_sql([FULL], CASH, 5, AT), OBJECT_AS_OF)
    same_sql(history.table_as_of_sql([FULL], CASH, AT), TABLE_AS_OF)


def test_revert_writes():
    same_sql(revert.restore_sql(FULL, [3, 4]), RESTORE)
    same_sql(revert.delete_sql(FULL, [3, 4]), DELETE)


# ------------------------------------------------------------------------------ rules


HOSTILE = ph.Table(
    'we"ird ' + INJECTION,
    (ph.Column('i"d', "integer"), ph.Column("val " + INJECTION, "text")),
    primary_key=('i"d',),
    schema="s$$chema",
)
HOSTILE_TRACKING = ph.Tracking(
    HOSTILE, (ph.InsertEvent("ins " + INJECTION), ph.UpdateEvent("$$"), ph.DeleteEvent("d'el")), context=ph.DENORMALIZED
)


def _all_queries() -> list[sql.Composable]:
    trackings = [HOSTILE_TRACKING]
    return [
        history.object_history_sql(trackings, HOSTILE, INJECTION, limit=3),
        history.events_sql(
            trackings,
            obj=(HOSTILE, 1),
            references=history.Reference("val " + INJECTION, INJECTION),
            labels=[INJECTION],
            after=history.Cursor(AT, 1, INJECTION),
            since=AT,
            until=AT,
        ),
        history.events_sql(trackings, labels=[INJECTION], context_id=CTX, limit=5, newest_first=True),
        history.object_as_of_sql(trackings, HOSTILE, INJECTION, AT),
        history.table_as_of_sql(trackings, HOSTILE, AT),
        revert.restore_sql(HOSTILE_TRACKING, [1]),
        revert.delete_sql(HOSTILE_TRACKING, [1]),
    ]


@pytest.mark.parametrize("index", range(7))
def test_names_and_values_never_leave_their_quotes(index):
    text = sql.render(_all_queries()[index])
    code = code_outside_literals(text)
    assert "DROP" not in code and "$$" not in code and "we" not in code.split()
    # Every table reference is schema-qualified.
    assert '"s$$chema"."we""ird x\'); DROP TABLE t; --_event"' in text or '"s$$chema"."we""ird' in text


def test_object_key_is_cast_to_the_key_type_so_the_index_applies():
    text = sql.render(history.object_history_sql([FULL], CASH, "5"))
    assert """"pgh_x"."pgh_obj_id" = CAST('5' AS integer)""" in text


# ----------------------------------------------------------------------------- errors


def _table(**kwargs: object) -> ph.Table:
    return ph.Table("t", (ph.Column("id", "integer"), ph.Column("a", "text"), ph.Column("b", "text")), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tracking", "message"),
    [
        (ph.Tracking(_table(), (ph.InsertEvent(), ph.UpdateEvent())), "deletes not tracked (add DeleteEvent())"),
        (ph.Tracking(_table(), (ph.UpdateEvent(), ph.DeleteEvent())), "inserts not tracked (add InsertEvent())"),
        (ph.Tracking(_table(), (ph.InsertEvent(), ph.DeleteEvent())), "updates not tracked (add UpdateEvent())"),
        (ph.Tracking(_table(), (*(ph.InsertEvent(), ph.DeleteEvent()), ph.UpdateEvent(row=ph.Old))), "updates not tracked"),
        (ph.Tracking(_table(), (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent()), exclude=("b",)), "columns not tracked: b"),
        (
            ph.Tracking(_table(), (ph.InsertEvent(), ph.UpdateEvent(condition=ph.AnyChange("a")), ph.DeleteEvent())),
            "updates are tracked conditionally ('update' has condition AnyChange('a')): only condition=None or "
            "the default AnyChange() over every tracked column records every update",
        ),
        (
            ph.Tracking(_table(), (ph.InsertEvent(), ph.UpdateEvent(condition=ph.Q(new__a="x")), ph.DeleteEvent())),
            "'update' has condition Q(new__a='x')",
        ),
        (
            ph.Tracking(_table(), (ph.InsertEvent(), ph.UpdateEvent(condition=ph.AnyChange(exclude=["b"])), ph.DeleteEvent())),
            "updates are tracked conditionally",
        ),
        (
            ph.Tracking(_table(), (ph.InsertEvent(condition=ph.Q(new__a="x")), ph.UpdateEvent(), ph.DeleteEvent())),
            "inserts are tracked conditionally ('insert' has condition Q(new__a='x')): only condition=None records every one",
        ),
        (
            ph.Tracking(_table(primary_key=("id", "a")), (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent()), obj_ref=False, exclude=("a",)),
            "no object reference and the primary key is not mirrored",
        ),
    ],
)
def test_as_of_says_what_the_tracking_lacks(tracking, message):
    with pytest.raises(HistoryError) as info:
        history.table_as_of_sql([tracking], "t", AT)
    assert str(info.value).startswith(
        "cannot tell the state of public.t at a point in time: no tracking mirrors every column and records every "
        "insert, update and delete. event table public.t_event: "
    )
    assert message in str(info.value)


@pytest.mark.parametrize(
    "condition",
    [None, ph.AnyChange(), ph.AnyChange("id", "a", "b")],
    ids=["always", "default", "every-column"],
)
def test_update_trackers_that_record_every_update(condition):
    tracking = ph.Tracking(_table(), (ph.InsertEvent(), ph.UpdateEvent(condition=condition), ph.DeleteEvent()))
    assert history.state_source([tracking], "t").tracking is tracking
    # One complete tracking is enough, whatever else tracks the table.
    partial = ph.Tracking(_table(), (ph.UpdateEvent("a_changed", condition=ph.AnyChange("a")),), fields=("id", "a"), event_table="t_a")
    assert history.state_source([partial, tracking], "public.t").tracking is tracking


def test_reading_errors():
    with pytest.raises(HistoryError, match="no tracking of table public.other; tracked tables: public.cash"):
        history.object_history_sql([FULL], "public.other", 1)
    with pytest.raises(HistoryError, match="no tracking among the given ones mirrors a column 'nope'"):
        history.events_sql([FULL], references=history.Reference("nope", 1))
    with pytest.raises(HistoryError, match="every tracking uses NO_CONTEXT"):
        history.events_sql([FULL.replace(context=ph.NO_CONTEXT)], context_id=CTX)
    with pytest.raises(HistoryError, match="no trackings given"):
        history.events_sql([])
    with pytest.raises(ConfigurationError, match="limit must be a positive int, got 0"):
        history.events_sql([FULL], limit=0)
    with pytest.raises(ConfigurationError, match="a context id must be a UUID, got 'nope'"):
        history.events_sql([FULL], context_id="nope")
    with pytest.raises(ConfigurationError, match="invalid history cursor 'x'"):
        history.Cursor.parse("x")
    with pytest.raises(ConfigurationError, match="since must be a datetime, got '2024'"):
        history.events_sql([FULL], since="2024")  # type: ignore[arg-type]
    with pytest.raises(HistoryError, match="table name 't' is ambiguous: tracked in schemas a, b"):
        history.trackings_of([ph.Tracking(_table(schema="a")), ph.Tracking(_table(schema="b"))], "t")
    assert history.trackings_of([FULL], "cash") == (FULL,)
    cursor = history.Cursor(AT, 9, "public.cash_event")
    assert history.Cursor.parse(cursor.token) == cursor


def test_object_history_skips_event_tables_that_cannot_name_the_row():
    anonymous = ph.Tracking(CASH, (ph.UpdateEvent("dollars_changed"),), fields=("dollars",), obj_ref=False, event_table="cash_anon")
    text = sql.render(history.object_history_sql([FULL, anonymous], CASH, 5))
    assert "cash_anon" not in text and "cash_event" in text
    with pytest.raises(HistoryError, match=r"has no object reference \(obj_ref=False\) and does not mirror the primary key"):
        history.object_history_sql([anonymous], CASH, 5)


def test_revert_errors():
    with pytest.raises(HistoryError, match=r"event table public.cash_moves does not hold whole rows of public.cash \(columns not tracked: cents\)"):
        revert.revert_to_event_sql(MOVES, 1)
    no_key = ph.Tracking(CASH, (ph.InsertEvent(),), fields=("dollars", "cents"), obj_ref=False)
    with pytest.raises(HistoryError, match="its events carry no primary key"):
        revert.delete_sql(no_key, [1])
