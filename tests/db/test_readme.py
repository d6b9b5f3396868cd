"""The README's quick start runs as printed and prints what the README says it prints.

Layer: tests (database tier). The block is executed unchanged; only the throwaway server it
starts is replaced by the test's fresh database (the README's own advice: "replace the two
server lines" to use your own database), so the test needs no second server.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pghistory_cli import embedded

README = Path(__file__).resolve().parents[2] / "README.md"


def _quick_start() -> tuple[str, str]:
    """The quick start's Python block and the output block that follows "It prints:"."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    printed = re.search(r"It prints:\s*```\n(.*?)```", section, re.S)
    assert code is not None and printed is not None, "README quick start: python block or 'It prints:' block missing"
    return code.group(1), printed.group(1)


class _TestServer:
    """Stands in for the embedded server: the test's fresh database."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


def test_quick_start_prints_what_the_readme_says(
    dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, expected = _quick_start()
    assert "start_embedded()" in code, "the quick start no longer starts a server; update this test"
    server = _TestServer(dsn)
    monkeypatch.setattr(embedded, "start_embedded", lambda: server)

    exec(compile(code, str(README), "exec"), {"__name__": "readme_quick_start"})  # noqa: S102 - the README's own code

    assert capsys.readouterr().out == expected
    assert server.stopped
