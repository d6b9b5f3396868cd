"""Transport: how the runtime context reaches the triggers, inside the current transaction.

Layer: runtime. Pure: no driver is imported and nothing is executed here, except by
:func:`apply`. Integrations (the raw driver integration in ``pghistory_psycopg``, the ORM
adapters) execute what the rules below decide, with their own hooks.

What is sent
    One statement, :func:`context_statement`::

        SELECT set_config('pghistory.context_id', '<uuid>', true),
               set_config('pghistory.context_metadata', '<json>', true),
               set_config('pghistory.ignore', 'on' | '', true)

    ``is_local = true`` makes the three settings transaction-local: they vanish at commit
    or rollback (and ``ROLLBACK TO SAVEPOINT`` restores their earlier values), so nothing
    ever outlives the transaction on the server session. That is what keeps PgBouncer in
    transaction mode (and RDS Proxy) safe: no session is pinned, no state leaks to the next
    client.

    In autocommit mode the context travels instead as a comment at the very start of the
    user's statement text (:func:`context_comment`); the triggers read it from
    ``current_query()`` when the transaction received no settings and set the same
    settings from it. Nothing else in the text changes, so server-side binding,
    ``executemany``, ``prepare=True`` and ``%`` in raw SQL keep working untouched.

When it is sent (:class:`TransportState`, one per connection)
    Decided before each statement from the connection's transaction status
    (:class:`TxStatus`), its autocommit flag, the statement text and the caller's context
    (:func:`~pghistory_core.context.current` and
    :func:`~pghistory_core.context.is_ignored`):

    - **No context** active and nothing sent in this transaction: :attr:`Action.PASS`,
      without even looking at the text (zero cost outside contexts).
    - Statements that **cannot run in a transaction block** (``VACUUM``, ``CREATE/DROP
      DATABASE``, ``CREATE/DROP TABLESPACE``, ``ALTER SYSTEM``, ``REINDEX``, ``CLUSTER``,
      ``DISCARD ALL``, subscriptions, any ``CREATE/DROP/ALTER ... CONCURRENTLY``) and
      **transaction control** (``BEGIN``, ``START``, ``COMMIT``, ``END``, ``ROLLBACK``,
      ``ABORT``, ``SAVEPOINT``, ``RELEASE``, ``PREPARE TRANSACTION``, ``COMMIT/ROLLBACK
      PREPARED``): PASS, untouched. Classified by their leading keywords, after comments
      and whitespace, case-insensitive (:func:`classify`). A text holding several
      statements passes through only when every one of them would.
    - **Errored transaction**: PASS; sending anything would only add a second error on top
      of the user's.
    - **Autocommit** (no transaction open): :attr:`Action.TOGETHER`: the plan carries
      :attr:`Plan.comment`, which integrations put in front of the statement's text once
      :meth:`TransportState.comments` says the database's triggers read it
      (:data:`COMMENT_PROBE`). Until then the context statement
      and the user's statement must share one implicit transaction, in one round trip
      (psycopg 2, and psycopg 3 when it would use the simple query protocol: the context
      statement in front of the user's unchanged text, in one simple query; psycopg 3
      with server-side binding: one pipeline). Nothing is remembered: the implicit
      transaction ends with the statement.
    - A transaction is open, or is about to be opened by the driver (not autocommit):
      :attr:`Action.BEFORE`: the context statement first, then the user's statement, once
      per transaction, and again only when the context id, the metadata version or the
      ignore switch changed, or after a ``ROLLBACK TO SAVEPOINT`` (which restores the
      settings as they were when the savepoint was taken). When the context block ended
      but this transaction had received a context, the *clearing* statement (empty
      settings) is sent before the next statement, so a write after the block never
      carries the old context.
    - **Unknown** status (e.g. a pipeline is open, so the status is not settled): BEFORE
      on every statement while a context is active or anything may still be set.

    Integrations call :meth:`TransportState.plan` before the statement and
    :meth:`TransportState.done` after it (also when it failed), and tell the state about
    transaction boundaries and savepoint rollbacks the driver performs without a statement
    passing through them (:meth:`TransportState.transaction_boundary`,
    :meth:`TransportState.savepoint_rolled_back`).

Cost
    At most one extra statement per transaction in explicit transactions (more only if the
    context changes inside the transaction); no extra round trip in autocommit mode; the
    metadata is serialized once per change (:attr:`ActiveContext.metadata_json`) and the
    context statement rendered once per context version per connection.

Known limits (documented in ``docs/context.md``)
    With the context statement in autocommit mode (triggers that cannot read the comment):
    within one text holding several statements, statements after a ``COMMIT`` inside that
    text do not receive the context, and a procedure that commits (``CALL`` with
    transaction control) loses it after its first commit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import re
from collections.abc import Callable, Iterator

from pghistory_core import db, sql
from pghistory_core.context import ActiveContext, current, is_idle, is_ignored
from pghistory_core.render import (
    CONTEXT_COMMENT_PREFIX,
    SETTING_CONTEXT_ID,
    SETTING_CONTEXT_METADATA,
    SETTING_CONTEXT_READ,
    SETTING_IGNORE,
)

__all__ = [
    "applied",
    "Action",
    "CLEAR_STATEMENT",
    "COMMENT_PROBE",
    "context_comment",
    "NOTHING",
    "Plan",
    "StatementKind",
    "TransportState",
    "TxStatus",
    "apply",
    "classify",
    "context_statement",
    "status_from_libpq",
]


_CONTEXT_TEMPLATE = sql.Template(
    sql.SQL("SELECT set_config({}, {}, true), set_config({}, {}, true), set_config({}, {}, true)").format(
        sql.Literal(SETTING_CONTEXT_ID), sql.SLOT, sql.Literal(SETTING_CONTEXT_METADATA), sql.SLOT, sql.Literal(SETTING_IGNORE), sql.SLOT
    )
)


def context_statement(active: ActiveContext | None, ignored: bool = False) -> str:
    """``SELECT set_config(...)`` for *active* (or clearing the settings when None).

    Rendered for every new context (once per transaction, or per statement in autocommit),
    so only the three values are escaped per call (:class:`pghistory_core.sql.Template`).
    """
    if active is None:
        return _CONTEXT_TEMPLATE.fill("", "", "on" if ignored else "")
    return _CONTEXT_TEMPLATE.fill(str(active.id), active.metadata_json, "on" if ignored else "")


#: Empties the three settings for the rest of the transaction.
CLEAR_STATEMENT = context_statement(None)

# JSON never holds "*", "%" or a non-ASCII character outside its strings; inside them a
# \\u escape means the same character. Without "*" the comment cannot be closed (or nested)
# early, without "%" drivers that format parameters ("%s") leave it alone, and in ASCII it
# survives any client encoding.
_COMMENT_ESCAPED = re.compile("[*%\u0080-\U0010ffff]")


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # a UTF-16 surrogate pair, as JSON writes it
        code -= 0x10000
        return "\\u%04x\\u%04x" % (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF))
    return "\\u%04x" % code


def context_comment(active: ActiveContext | None, ignored: bool = False) -> str:
    """The context as a comment to put at the very start of an autocommit statement's text:
    ``/*pghistory:<uuid>:<on|>:<json>*/`` (followed by a space).

    The triggers read it from ``current_query()`` when the transaction received no context
    statement (see ``render._READ_CONTEXT_COMMENT``), so an autocommit write carries its
    context without a second statement, a pipeline or a round trip, whatever the driver's
    parameter binding, and a pooler sees a single statement. The metadata is the context's
    JSON with ``*``, ``%`` and every non-ASCII character written as ``\\u`` escapes (the same
    JSON value), so the text neither ends the comment nor holds a parameter placeholder,
    and is plain ASCII whatever the client encoding.
    """
    ident = str(active.id) if active is not None else ""
    metadata = _COMMENT_ESCAPED.sub(_json_escape, active.metadata_json) if active is not None else ""
    text = CONTEXT_COMMENT_PREFIX[2:] + ident + ":" + ("on" if ignored else "") + ":" + metadata
    return sql.render(sql.block_comment(text)) + " "


#: Whether every trigger function of the database that reads the context settings also
#: reads the context comment (it sets :data:`~pghistory_core.render.SETTING_CONTEXT_READ`).
#: Triggers installed by an older pghistory, or django-pghistory's (``_pgh_attach_context``),
#: would miss a context sent as a comment: integrations send the context statement instead
#: until they are replaced (``pghistory install``, ``migrate``).
COMMENT_PROBE = sql.render(
    sql.SQL(
        "SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_proc "
        "WHERE prorettype = {trigger}::pg_catalog.regtype "
        "AND (prosrc LIKE {context} OR prosrc LIKE {ignore} OR prosrc LIKE {upstream}) "
        "AND prosrc NOT LIKE {read})"
    ).format(
        trigger=sql.Literal("pg_catalog.trigger"),
        context=sql.Literal("%pghistory.context%"),
        ignore=sql.Literal("%" + SETTING_IGNORE + "%"),
        upstream=sql.Literal("%pgh_attach_context%"),
        read=sql.Literal("%" + SETTING_CONTEXT_READ + "%"),
    )
)

# Databases (as the integrations name them) whose triggers all read the comment. Only the
# positive answer is kept for the process: a database whose triggers are replaced later is
# probed again by its next connection.
_COMMENT_READY: set[object] = set()


@contextlib.contextmanager
def applied(conn: db.Connection) -> Iterator[None]:
    """Send the current context for the block (in an open transaction), then put back the
    settings the transaction held before, so statements after the block are unaffected.

    For library code that writes under a context of its own inside a caller's transaction
    (reverts): without the restore, the caller's next writes would carry that context. If
    the block fails, the caller's rollback (or savepoint rollback) undoes the settings.
    """
    names = (SETTING_CONTEXT_ID, SETTING_CONTEXT_METADATA, SETTING_IGNORE)
    before = db.fetch_all(
        conn, sql.SQL("SELECT ") + sql.join(", ", [sql.SQL("current_setting({}, true)").format(sql.Literal(n)) for n in names])
    )[0]
    apply(conn)
    yield
    db.execute(
        conn,
        sql.SQL("SELECT ")
        + sql.join(
            ", ",
            [
                sql.SQL("set_config({}, {}, true)").format(sql.Literal(n), sql.Literal(str(v) if v is not None else ""))
                for n, v in zip(names, before)
            ],
        ),
    )


def apply(conn: db.Connection) -> None:
    """Send the current thread/task's context and ignore switch on *conn*, for the open
    transaction. For connections without an integration; it has no effect in autocommit
    mode (the settings end with the statement)."""
    db.execute(conn, context_statement(current(), is_ignored()))


# ------------------------------------------------------------------ statement classes


@dataclasses.dataclass(frozen=True)
class StatementKind:
    """What the rules need to know about a statement text."""

    #: every statement in the text is transaction control or cannot run in a transaction
    #: block: send nothing with it
    passthrough: bool
    #: some statement may change the settings or end the transaction (``BEGIN``,
    #: ``COMMIT``, ``ROLLBACK [TO SAVEPOINT]``, ``RESET``, ``DISCARD``, ...): what was sent
    #: before is no longer known to hold
    resets: bool
    #: number of statements in the text (psycopg 3 cannot pipeline a text holding several)
    count: int


# Leading keywords of statements that cannot run inside a transaction block (or must not be
# preceded by anything). Matched as a prefix of the statement's leading words.
_NON_TRANSACTIONAL: tuple[tuple[str, ...], ...] = (
    ("VACUUM",),
    ("CREATE", "DATABASE"),
    ("DROP", "DATABASE"),
    ("ALTER", "DATABASE"),
    ("CREATE", "TABLESPACE"),
    ("DROP", "TABLESPACE"),
    ("ALTER", "SYSTEM"),
    ("REINDEX",),
    ("CLUSTER",),
    ("DISCARD", "ALL"),
    ("CREATE", "SUBSCRIPTION"),
    ("ALTER", "SUBSCRIPTION"),
    ("DROP", "SUBSCRIPTION"),
)
_TRANSACTION_CONTROL: tuple[tuple[str, ...], ...] = (
    ("BEGIN",),
    ("START",),
    ("COMMIT",),
    ("END",),
    ("ROLLBACK",),
    ("ABORT",),
    ("SAVEPOINT",),
    ("RELEASE",),
    ("PREPARE", "TRANSACTION"),
)
# Statements after which the settings may differ from what was sent (SAVEPOINT and RELEASE
# keep them; ROLLBACK TO restores older values; RESET/DISCARD clear them).
_RESETTING: tuple[tuple[str, ...], ...] = (
    ("BEGIN",),
    ("START",),
    ("COMMIT",),
    ("END",),
    ("ROLLBACK",),
    ("ABORT",),
    ("PREPARE", "TRANSACTION"),
    ("RESET",),
    ("DISCARD",),
)
# `... CONCURRENTLY` cannot run in a transaction block for these (CREATE INDEX, DROP INDEX,
# REINDEX, ALTER TABLE ... DETACH PARTITION ...).
_CONCURRENT_VERBS = frozenset({"CREATE", "DROP", "ALTER", "REINDEX"})

_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<line>--[^\n]*)
    | (?P<block>/\*)
    | (?P<estring>[Ee]')
    | (?P<string>(?:[BbXxNn]|[Uu]&)?')
    | (?P<ident>(?:[Uu]&)?")
    | (?P<dollar>\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$)
    | (?P<semi>;)
    | (?P<word>[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*)
    | (?P<other>[^\s'"$;/\-A-Za-z_\u0080-\uffff]+|.)
    """,
    re.VERBOSE | re.DOTALL,
)
_STRING_END = re.compile(r"(?:[^']|'')*'", re.DOTALL)
_ESTRING_END = re.compile(r"(?:[^'\\]|\\.|'')*'", re.DOTALL)
_IDENT_END = re.compile(r'(?:[^"]|"")*"', re.DOTALL)
_BLOCK_PART = re.compile(r"/\*|\*/")
_CONCURRENTLY = re.compile("concurrently", re.IGNORECASE)


def _skip_block_comment(text: str, pos: int) -> int:
    # Postgres block comments nest.
    depth = 1
    while depth:
        match = _BLOCK_PART.search(text, pos)
        if match is None:
            return len(text)
        depth += 1 if match.group() == "/*" else -1
        pos = match.end()
    return pos


def _skip(pattern: re.Pattern[str], text: str, pos: int) -> int:
    match = pattern.match(text, pos)
    return match.end() if match is not None else len(text)


def _statements(text: str, head_only: bool) -> list[tuple[tuple[str, ...], bool]]:
    """Each statement's leading keywords (upper case) and whether it says CONCURRENTLY.

    Strings, quoted identifiers, dollar-quoted bodies and comments are skipped, so a ``;``
    or a keyword inside them counts for nothing. With *head_only*, stop after the first
    statement's leading keywords (the caller knows there is only one statement).
    """
    result: list[tuple[tuple[str, ...], bool]] = []
    head: list[str] = []
    in_head = True
    concurrently = False
    empty = True
    pos, end = 0, len(text)
    while pos < end:
        match = _TOKEN.match(text, pos)
        if match is None:  # pragma: no cover - the last alternative matches any character
            break
        kind = match.lastgroup
        pos = match.end()
        if kind == "space" or kind == "line":
            continue
        if kind == "block":
            pos = _skip_block_comment(text, pos)
            continue
        if kind == "semi":
            if not empty:
                result.append((tuple(head), concurrently))
            head, in_head, concurrently, empty = [], True, False, True
            continue
        empty = False
        if kind == "word":
            word = match.group().upper()
            if in_head:
                head.append(word)
            if word == "CONCURRENTLY":
                concurrently = True
            continue
        in_head = False
        if head_only:
            break
        if kind == "string":
            pos = _skip(_STRING_END, text, pos)
        elif kind == "estring":
            pos = _skip(_ESTRING_END, text, pos)
        elif kind == "ident":
            pos = _skip(_IDENT_END, text, pos)
        elif kind == "dollar":
            close = text.find(match.group(), pos)
            pos = end if close < 0 else close + len(match.group())
    if not empty:
        result.append((tuple(head), concurrently))
    return result


def _starts_with(head: tuple[str, ...], prefixes: tuple[tuple[str, ...], ...]) -> bool:
    return any(head[: len(prefix)] == prefix for prefix in prefixes)


def _classify(text: str) -> StatementKind:
    # Fast path: one statement (no `;` but possibly a trailing one) and no CONCURRENTLY
    # anywhere: only the leading keywords are read, however long the text (bulk VALUES).
    semicolon = text.find(";")
    single = semicolon < 0 or (semicolon == len(text.rstrip()) - 1)
    head_only = single and _CONCURRENTLY.search(text) is None
    statements = _statements(text, head_only)
    passthrough = True
    resets = False
    for head, concurrently in statements:
        if _starts_with(head, _RESETTING):
            resets = True
        if not (
            _starts_with(head, _TRANSACTION_CONTROL)
            or _starts_with(head, _NON_TRANSACTIONAL)
            or (concurrently and head[:1] and head[0] in _CONCURRENT_VERBS)
        ):
            passthrough = False
    return StatementKind(passthrough=passthrough, resets=resets, count=len(statements))


#: Texts up to this length are cached (ORMs repeat the same texts); longer ones are not
#: kept alive by the cache.
_CACHE_LIMIT = 4096
_classify_cached = functools.lru_cache(maxsize=1024)(_classify)


def classify(text: str) -> StatementKind:
    """Classify a statement text by its statements' leading keywords (see module doc)."""
    if len(text) <= _CACHE_LIMIT:
        return _classify_cached(text)
    return _classify(text)


# ------------------------------------------------------------------------------ rules


class TxStatus(enum.Enum):
    """The connection's transaction status, as the rules see it."""

    IDLE = "idle"  # no transaction open
    IN_TRANSACTION = "in_transaction"  # a transaction block is open and healthy
    IN_ERROR = "in_error"  # the open transaction failed; only ROLLBACK [TO] is accepted
    UNKNOWN = "unknown"  # not settled (a command or a pipeline is in progress) or broken


# libpq's PGTransactionStatusType: IDLE, ACTIVE, INTRANS, INERROR, UNKNOWN.
_LIBPQ_STATUS = (TxStatus.IDLE, TxStatus.UNKNOWN, TxStatus.IN_TRANSACTION, TxStatus.IN_ERROR, TxStatus.UNKNOWN)


def status_from_libpq(code: int) -> TxStatus:
    """Map libpq's ``PQtransactionStatus`` value (what psycopg 2 and 3 report) to
    :class:`TxStatus`; ``PQTRANS_ACTIVE`` (a command in progress) is UNKNOWN."""
    return _LIBPQ_STATUS[code] if 0 <= code < len(_LIBPQ_STATUS) else TxStatus.UNKNOWN


class Action(enum.Enum):
    """What the integration does with a statement."""

    #: run the statement as is, nothing else
    PASS = "pass"
    #: run :attr:`Plan.statement` first, in the same (open, or about to be opened by the
    #: driver) transaction, then the statement
    BEFORE = "before"
    #: autocommit: run :attr:`Plan.statement` and the statement in one implicit
    #: transaction, in one round trip
    TOGETHER = "together"


class _Unknown:
    """What the settings hold is not known (after ROLLBACK TO, or an unsettled status)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


_UNKNOWN = _Unknown()

# What the server holds: (context, metadata version, ignored); None = empty settings.
_Key = tuple[ActiveContext | None, int, bool]
_Held = _Key | None | _Unknown


@dataclasses.dataclass(frozen=True)
class Plan:
    """The decision for one statement; hand it back to :meth:`TransportState.done`."""

    action: Action
    #: the context statement to send (empty for PASS)
    statement: str = ""
    #: number of statements in the user's text (0 when the text was not read)
    count: int = 0
    #: the statement's text resets what the settings hold (see :class:`StatementKind`)
    resets: bool = False
    #: what the settings hold once the context statement ran
    holds: _Held = None
    #: TOGETHER only: :func:`context_comment`, to put in front of the statement's text
    #: instead of sending :attr:`statement` (see :meth:`TransportState.comments`)
    comment: str = ""


#: The plan outside any context: nothing to do, nothing to remember (see
#: :meth:`TransportState.needs_nothing`).
NOTHING = Plan(Action.PASS)


@functools.lru_cache(maxsize=256)
def _pass_plan(count: int, resets: bool) -> Plan:
    # PASS plans are immutable and few: shared, not rebuilt for every statement.
    return Plan(Action.PASS, count=count, resets=resets)


def _desired() -> _Key | None:
    active = current()
    ignored = is_ignored()
    if active is None and not ignored:
        return None
    # Read the version before the JSON (see ActiveContext): a concurrent update can only
    # make the statement newer than its key, which causes a harmless resend.
    return (active, active.version if active is not None else 0, ignored)


class TransportState:
    """Per-connection transport state: what the current transaction's settings hold.

    Not thread-safe by itself: integrations serialize :meth:`plan`, the execution and
    :meth:`done` per connection.
    """

    __slots__ = ("_held", "_dirty", "_rendered_key", "_rendered", "_comment_key", "_commented", "_comments")

    def __init__(self) -> None:
        self._held: _Held = None
        # Something was sent in this transaction: a ROLLBACK TO may bring it back.
        self._dirty = False
        self._rendered_key: _Key | None = None
        self._rendered = CLEAR_STATEMENT
        self._comment_key: _Key | None = None
        self._commented = ""
        self._comments: bool | None = None

    def comments(self, database: object) -> bool | None:
        """Whether a TOGETHER plan's :attr:`Plan.comment` may replace its statement on this
        connection: True or False once known, None when the integration must run
        :data:`COMMENT_PROBE` (on the connection, in autocommit) and pass the answer to
        :meth:`record_comments`. *database* names the database for the process-wide memory
        of positive answers (e.g. host, port and database name), or is None."""
        if self._comments is None and database is not None and database in _COMMENT_READY:
            self._comments = True
        return self._comments

    def comments_ready(self, database: object, probe: Callable[[str], object]) -> bool:
        """:meth:`comments`, running *probe* (it executes the SQL it is given on the
        connection and returns the single value) when the answer is not known yet."""
        ready = self.comments(database)
        if ready is None:
            ready = self.record_comments(database, bool(probe(COMMENT_PROBE)))
        return ready

    def comments_ready_on(self, conn: db.Connection, database: object) -> bool:
        """:meth:`comments_ready`, probing on *conn*: a plain DB-API connection whose
        cursors are not instrumented (the probe must not be planned itself)."""
        return self.comments_ready(database, lambda statement: next(iter(db.fetch_all(conn, statement)), (None,))[0])

    def record_comments(self, database: object, ready: bool) -> bool:
        """Remember the answer of :data:`COMMENT_PROBE`; returns it."""
        self._comments = bool(ready)
        if self._comments and database is not None:
            _COMMENT_READY.add(database)
        return self._comments

    def needs_nothing(self) -> bool:
        """True when the next statement needs nothing, whatever the connection's status: no
        context, no ignore switch, nothing sent in this transaction. Integrations check it
        first, so statements outside contexts cost two context-variable reads.
        :meth:`plan` would return :data:`NOTHING`."""
        return not self._dirty and is_idle()

    def plan(self, status: TxStatus, autocommit: bool, text: str | Callable[[], str | None] | None) -> Plan:
        """Decide what to do with the next statement.

        *text* is the statement text, or a callable returning it (called only when the
        rules need it: never outside a context), or None when it cannot be known (it is
        then treated as one ordinary statement).
        """
        want = _desired()
        if status is TxStatus.IDLE:
            # No transaction: whatever was sent earlier is gone.
            self._held = None
            self._dirty = False
        if want is None and not self._dirty:
            return NOTHING
        kind = self._kind(text)
        if kind.passthrough or status is TxStatus.IN_ERROR or (status is TxStatus.IN_TRANSACTION and self._held == want):
            return _pass_plan(kind.count, kind.resets)
        statement = self._statement(want)
        if status is TxStatus.UNKNOWN:
            return Plan(Action.BEFORE, statement, kind.count, kind.resets, _UNKNOWN)
        if status is TxStatus.IDLE and autocommit:
            # want is not None here: IDLE cleared _dirty, so the fast path took want=None.
            comment = self._comment(want) if want is not None else ""
            return Plan(Action.TOGETHER, statement, kind.count, kind.resets, want, comment)
        return Plan(Action.BEFORE, statement, kind.count, kind.resets, want)

    def done(self, plan: Plan, status: TxStatus) -> None:
        """Record the outcome of a planned statement; *status* is the status after it
        (call it also when the statement failed)."""
        if plan.action is Action.PASS and not plan.resets:
            # Nothing was sent and the text changed nothing: at most the transaction ended,
            # which the next plan() sees from the IDLE status.
            return
        if status is TxStatus.IDLE:
            self._held = None
            self._dirty = False
            return
        if plan.action is not Action.PASS:
            self._held = plan.holds
            self._dirty = True
        if plan.resets and self._dirty:
            self._held = _UNKNOWN

    def transaction_boundary(self) -> None:
        """The driver began, committed or rolled back a transaction by itself."""
        self._held = None
        self._dirty = False

    def savepoint_rolled_back(self) -> None:
        """The driver rolled back to a savepoint by itself (nested transaction block)."""
        if self._dirty:
            self._held = _UNKNOWN

    @property
    def sent_in_transaction(self) -> bool:
        """Whether a context statement was sent in the current transaction."""
        return self._dirty

    def _kind(self, text: str | Callable[[], str | None] | None) -> StatementKind:
        if callable(text):
            text = text()
        if text is None:
            return _ORDINARY
        return classify(text)

    def _comment(self, want: _Key) -> str:
        if want != self._comment_key:
            self._commented = context_comment(want[0], want[2])
            self._comment_key = want
        return self._commented

    def _statement(self, want: _Key | None) -> str:
        if want is None:
            return CLEAR_STATEMENT
        if want != self._rendered_key:
            self._rendered = context_statement(want[0], want[2])
            self._rendered_key = want
        return self._rendered


_ORDINARY = StatementKind(passthrough=False, resets=False, count=1)
