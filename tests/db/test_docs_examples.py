"""The user docs' examples run as written and show what the docs say they show.

Layer: tests (database tier, plus one check that needs no server). Each test takes a block
from README.md or docs/*.md as it is printed and runs it; the test supplies only what the
text says exists (a ``cash`` table, a database in ``$DATABASE_URL`` or ``dsn``). The README's
quick start has its own test (``test_readme.py``).
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import TupleRow

import pghistory_core as ph
from pghistory_core import history

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CASH_DDL = "CREATE TABLE cash (id integer PRIMARY KEY, dollars numeric NOT NULL)"


def _blocks(path: Path, lang: str) -> list[str]:
    """The fenced blocks of *path* whose info string is *lang*, in order."""
    return re.findall(rf"^```{lang}\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M)


def _block_after(path: Path, marker: str, lang: str = "") -> str:
    """The first fenced block of *lang* after the first occurrence of *marker*."""
    text = path.read_text(encoding="utf-8")
    assert marker in text, f"{path.name}: {marker!r} is gone; update this test"
    found = re.search(rf"^```{lang}\n(.*?)^```", text.split(marker, 1)[1], re.S | re.M)
    assert found is not None, f"{path.name}: no ```{lang} block after {marker!r}"
    return found.group(1)


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of *path* (outside code blocks)."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        heading = None if in_code else re.match(r"#{1,6} (.*)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def test_every_relative_link_and_anchor_resolves() -> None:
    broken = []
    for doc in DOCS:
        for link in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", link):
                continue
            path, _, anchor = link.partition("#")
            target = (doc.parent / path).resolve() if path else doc
            if not target.exists():
                broken.append(f"{doc.name}: {link} (no such file)")
            elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
                broken.append(f"{doc.name}: {link} (no such heading in {target.name})")
    assert broken == []


def test_context_page_opening_example_groups_both_writes(dsn: str, conn: psycopg.Connection[TupleRow]) -> None:
    """docs/context.md: both updates carry one context id, whose row holds the metadata."""
    conn.execute(CASH_DDL)
    conn.execute("INSERT INTO cash VALUES (1, 100), (2, 100)")
    cash = ph.Table("cash", (ph.Column("id", "integer"), ph.Column("dollars", "numeric")))
    ph.install(conn, [ph.Tracking(cash, (ph.UpdateEvent(),))])

    code = _blocks(ROOT / "docs" / "context.md", "python")[0]
    exec(compile(code, "docs/context.md", "exec"), {"dsn": dsn})  # noqa: S102 - the page's own code

    rows = conn.execute(
        "SELECT e.pgh_obj_id, e.dollars, e.pgh_context_id, c.metadata"
        "  FROM cash_event e JOIN pghistory_context c ON c.id = e.pgh_context_id ORDER BY e.pgh_id"
    ).fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [
        (1, 90, {"user": "ada", "request": "r-42"}),
        (2, 110, {"user": "ada", "request": "r-42"}),
    ]
    assert rows[0][2] == rows[1][2]


def test_history_page_shows_the_as_of_refusal_as_raised(conn: psycopg.Connection[TupleRow]) -> None:
    """docs/history.md prints the HistoryError of a tracking that cannot answer as-of."""
    conn.execute("CREATE TABLE orders (id integer PRIMARY KEY, status text, user_id integer, total numeric)")
    orders = ph.Table(
        "orders",
        (ph.Column("id", "integer"), ph.Column("status", "text"), ph.Column("user_id", "integer"), ph.Column("total", "numeric")),
    )
    status_only = ph.Tracking(orders, (ph.UpdateEvent(),), fields=("id", "status"), event_table="orders_status")
    ph.install(conn, [status_only])
    printed = " ".join(_block_after(ROOT / "docs" / "history.md", "Otherwise `HistoryError` says").split())

    with pytest.raises(ph.HistoryError) as raised:
        history.table_as_of(conn, [status_only], "orders", datetime.datetime.now(datetime.timezone.utc))
    assert str(raised.value) == printed


def _sh(command: str, cwd: Path, dsn: str) -> subprocess.CompletedProcess[str]:
    """*command* run by bash as a user would, with this Python's `pghistory` first on PATH."""
    env = {**os.environ, "DATABASE_URL": dsn, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PGHISTORY_SPEC", None)
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, check=False)


def test_cli_page_spec_module_and_commands(dsn: str, conn: psycopg.Connection[TupleRow], tmp_path: Path) -> None:
    """docs/cli.md: its myapp/history.py, then its install, check and retention commands."""
    cli_md = ROOT / "docs" / "cli.md"
    module = _block_after(cli_md, "Trackings are Python values, so the command imports them:", "python")
    assert module.startswith("# myapp/history.py\n")
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "history.py").write_text(module, encoding="utf-8")
    conn.execute(CASH_DDL)

    install = _sh(_block_after(cli_md, "the command imports them:", "sh"), tmp_path, dsn)
    assert install.returncode == 0, install.stderr
    assert "Installed in one transaction: 10 created" in install.stdout

    check = _sh(_block_after(cli_md, "### `pghistory check", "sh"), tmp_path, dsn)
    assert (check.returncode, check.stdout.strip()) == (0, "OK: all 10 objects installed and unchanged."), check.stderr

    conn.execute("INSERT INTO cash VALUES (1, 100)")
    retention = _sh(_block_after(cli_md, "### `pghistory retention", "sh"), tmp_path, dsn)
    assert retention.returncode == 0, retention.stderr
    assert "public.cash_event: 0 events deleted" in retention.stdout
    counted = conn.execute("SELECT count(*) FROM cash_event").fetchone()
    assert counted == (1,)
