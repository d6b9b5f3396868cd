"""``python -m pghistory_cli``: the ``pghistory`` command without the console script.

Layer: adapter (operator tool).
"""

from __future__ import annotations

from pghistory_cli.main import cli

if __name__ == "__main__":
    cli(prog_name="pghistory")
