"""Test harness: a throwaway PgBouncer in front of the test server.

Layer: tests (shared helper, not shipped). :func:`running_pgbouncer` starts the Debian
``pgbouncer`` binary on a free loopback port, pointing at the test server (through its
Unix socket directory when the DSN names one, as the embedded server does, or over TCP),
with ``auth_type = trust`` and the given pool mode and size, and stops it afterwards.

PgBouncer refuses to run as root. As root it is started with ``-u <user>``, a user that can
reach the server's socket directory (its owner: the embedded server's OS user), else
``postgres`` or ``nobody``. Callers skip their test when :func:`tests.pg.pgbouncer_path`
finds no binary.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

__all__ = ["Bouncer", "running_pgbouncer"]


@dataclass(frozen=True)
class Bouncer:
    """A running PgBouncer: connect through :meth:`dsn_for`."""

    port: int
    user: str
    log: Path

    def dsn_for(self, dbname: str) -> str:
        return make_conninfo(host="127.0.0.1", port=str(self.port), dbname=dbname, user=self.user)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as(server_host: str) -> str | None:
    """The OS user to run PgBouncer as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    if server_host.startswith("/"):
        owner = pwd.getpwuid(os.stat(server_host).st_uid).pw_name
        if owner != "root":
            return owner
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("pgbouncer refuses to run as root and no other OS user exists to run it as")


def _ini_value(value: str) -> str:
    # PgBouncer's [databases] entries are libpq-style key=value pairs; quote like libpq.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@contextmanager
def running_pgbouncer(
    binary: str, server_dsn: str, *, pool_mode: str = "transaction", pool_size: int = 2
) -> Iterator[Bouncer]:
    """Start PgBouncer in front of the server of *server_dsn*; stop it on exit."""
    params = conninfo_to_dict(server_dsn)
    host = str(params.get("host") or "/var/run/postgresql")
    port = str(params.get("port") or "5432")
    user = str(params.get("user") or "postgres")
    target = [f"host={_ini_value(host)}", f"port={_ini_value(port)}", f"user={_ini_value(user)}"]
    if params.get("password"):
        target.append(f"password={_ini_value(str(params['password']))}")
    listen_port = _free_port()
    run_as = _run_as(host)
    workdir = Path(tempfile.mkdtemp(prefix="pghistory-pgbouncer-"))
    try:
        log = workdir / "pgbouncer.log"
        (workdir / "users.txt").write_text(f'"{user}" ""\n')
        (workdir / "pgbouncer.ini").write_text(
            "\n".join(
                [
                    "[databases]",
                    "* = " + " ".join(target),
                    "[pgbouncer]",
                    "listen_addr = 127.0.0.1",
                    f"listen_port = {listen_port}",
                    "unix_socket_dir =",
                    "auth_type = trust",
                    f"auth_file = {workdir / 'users.txt'}",
                    f"pool_mode = {pool_mode}",
                    f"default_pool_size = {pool_size}",
                    "max_client_conn = 200",
                    f"logfile = {log}",
                    f"pidfile = {workdir / 'pgbouncer.pid'}",
                    "ignore_startup_parameters = extra_float_digits,options",
                    "",
                ]
            )
        )
        command = [binary, str(workdir / "pgbouncer.ini")]
        if run_as is not None:
            entry = pwd.getpwnam(run_as)
            os.chown(workdir, entry.pw_uid, entry.pw_gid)
            for path in workdir.iterdir():
                os.chown(path, entry.pw_uid, entry.pw_gid)
            command[1:1] = ["-u", run_as]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            bouncer = Bouncer(port=listen_port, user=user, log=log)
            _wait_ready(bouncer, process, str(params.get("dbname") or "postgres"))
            yield bouncer
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - pgbouncer stops on SIGTERM
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_ready(bouncer: Bouncer, process: subprocess.Popen[bytes], dbname: str) -> None:
    deadline = time.monotonic() + 15
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            log = bouncer.log.read_text(errors="replace") if bouncer.log.exists() else ""
            raise RuntimeError(f"pgbouncer exited with code {process.returncode}:\n{output}\n{log}")
        try:
            with psycopg.connect(bouncer.dsn_for(dbname), autocommit=True, prepare_threshold=None, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"pgbouncer did not accept connections on port {bouncer.port}: {last}")
