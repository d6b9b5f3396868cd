"""Runtime context: an id and JSON metadata grouping changes, and the ignore switch.

Layer: runtime. State lives in :mod:`contextvars`, so threads and asyncio tasks never
share or lose it: a thread starts with no context, and a context opened in a task or
thread is its own. Tasks and threads started *inside* a block that copy the caller's
context (``asyncio.create_task``, ``asyncio.to_thread``, ``copy_context().run``) share it,
like a nested block: same id, same metadata. ``context(**metadata)`` is a context manager, an async context manager
and a decorator (sync and async). Nested contexts share the outer id and merge metadata
(inner keys win, and are kept until the outer block ends: the context row only grows).
Calling ``context(key=value)`` without entering adds to the active context and does nothing
when none is active.

How the state reaches Postgres (the transport) is in :mod:`pghistory_core.transport`.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TypeVar, cast

from pghistory_core.errors import ContextError

__all__ = ["ActiveContext", "context", "current", "ignore", "is_idle", "is_ignored"]

F = TypeVar("F", bound=Callable[..., object])


class ActiveContext:
    """The context of the current thread/task: an id and metadata.

    Metadata is serialized once per change (``metadata_json``), not once per statement;
    ``version`` increases on every change so transports know when to resend.

    One object is shared by nested blocks, and by the threads and tasks started inside the
    block that copy the context (``asyncio.create_task``, ``asyncio.to_thread``,
    ``contextvars.copy_context().run``): they all write under the same id. Updates are
    serialized by a lock; the JSON is published before the version, so a reader that
    sees a version also sees its JSON (or a newer one).
    """

    __slots__ = ("id", "_metadata", "_json", "version", "_lock")

    def __init__(self, context_id: uuid.UUID, metadata: Mapping[str, object], metadata_json: str | None = None) -> None:
        self.id = context_id
        self._metadata: dict[str, object] = {}
        self._json = "{}"
        self.version = 0
        self._lock = threading.Lock()
        if metadata and metadata_json is not None:
            # Already serialized by the caller (context() validates its metadata that way).
            self._metadata = dict(metadata)
            self._json = metadata_json
            self.version = 1
        else:
            self.update(metadata)

    @property
    def metadata(self) -> dict[str, object]:
        return dict(self._metadata)

    @property
    def metadata_json(self) -> str:
        return self._json

    def update(self, metadata: Mapping[str, object]) -> None:
        """Merge *metadata* (its keys win); a no-op when nothing changes."""
        with self._lock:
            if not metadata or all(k in self._metadata and self._metadata[k] == v for k, v in metadata.items()):
                return
            merged = {**self._metadata, **metadata}
            self._json = dumps_metadata(merged)
            self._metadata = merged
            self.version += 1

    def __repr__(self) -> str:
        return f"ActiveContext(id={self.id}, metadata={self._metadata!r})"


def dumps_metadata(metadata: Mapping[str, object]) -> str:
    """Serialize metadata, raising :class:`ContextError` before any SQL runs."""
    for key in metadata:
        if not isinstance(key, str):
            raise ContextError(f"context metadata keys must be str, got {key!r}")
    try:
        text = json.dumps(metadata, ensure_ascii=False, separators=(",", ":"), allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ContextError(f"context metadata must be JSON-serializable: {exc} (metadata: {metadata!r})") from None
    if "\x00" in text or "\\u0000" in text:
        raise ContextError(f"context metadata cannot contain NUL characters: {metadata!r}")
    return text


_current: contextvars.ContextVar[ActiveContext | None] = contextvars.ContextVar("pghistory_context", default=None)
_ignored: contextvars.ContextVar[bool] = contextvars.ContextVar("pghistory_ignore", default=False)


def current() -> ActiveContext | None:
    """The active context of this thread/task, or None."""
    return _current.get()


def is_idle() -> bool:
    """No context and no ignore switch in this thread/task: nothing for a transport to send
    (the hot path of every statement outside contexts)."""
    return _current.get() is None and not _ignored.get()


def is_ignored() -> bool:
    """Whether tracking is switched off for this thread/task (see :func:`ignore`)."""
    return _ignored.get()


class context:  # noqa: N801 - lower case like contextlib helpers and upstream's API
    """Group changes under one context with *metadata*.

    ``with context(user=1): ...``, ``async with context(...)``, ``@context(...)`` on sync
    or async functions, or ``context(key=value)`` alone to add to the active context.
    """

    def __init__(self, **metadata: object) -> None:
        self._json = dumps_metadata(metadata)  # fail early on metadata that is not JSON
        self.metadata = metadata
        self._tokens: list[contextvars.Token[ActiveContext | None]] = []
        active = _current.get()
        if active is not None:
            # Called without entering: add to the active context right away.
            active.update(metadata)

    def __enter__(self) -> ActiveContext:
        active = _current.get()
        if active is None:
            active = ActiveContext(uuid.uuid4(), self.metadata, self._json)
            self._tokens.append(_current.set(active))
        else:
            active.update(self.metadata)
            self._tokens.append(_current.set(active))
        return active

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _current.reset(self._tokens.pop())

    async def __aenter__(self) -> ActiveContext:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        metadata = self.metadata
        kind = type(self)
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: object, **kwargs: object) -> object:
                async with kind(**metadata):
                    return await cast(Callable[..., Awaitable[object]], func)(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: object, **kwargs: object) -> object:
            with kind(**metadata):
                return func(*args, **kwargs)

        return cast(F, wrapper)


class new_context(context):  # noqa: N801
    """A context with its own id even inside another one; the outer context is active
    again after the block and never sees this one's metadata.

    For work that must be told apart from the request or job running it, such as a revert
    (recorded under a new context naming the reverted one).
    """

    def __init__(self, **metadata: object) -> None:
        self._json = dumps_metadata(metadata)
        self.metadata = metadata
        self._tokens = []

    def __enter__(self) -> ActiveContext:
        active = ActiveContext(uuid.uuid4(), self.metadata, self._json)
        self._tokens.append(_current.set(active))
        return active


class ignore:  # noqa: N801
    """Switch tracking off inside the block, for this thread/task.

    Integrations send the switch with the context (``pghistory.ignore``, transaction-local);
    with a plain connection use :func:`pghistory_core.transport.apply` inside the
    transaction.
    """

    def __init__(self) -> None:
        self._tokens: list[contextvars.Token[bool]] = []

    def __enter__(self) -> None:
        self._tokens.append(_ignored.set(True))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _ignored.reset(self._tokens.pop())

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: object, **kwargs: object) -> object:
                async with ignore():
                    return await cast(Callable[..., Awaitable[object]], func)(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: object, **kwargs: object) -> object:
            with ignore():
                return func(*args, **kwargs)

        return cast(F, wrapper)
