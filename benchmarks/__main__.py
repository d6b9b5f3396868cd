"""``python -m benchmarks``: the same command as ``pghistory bench``."""

from __future__ import annotations

from benchmarks.run import main

if __name__ == "__main__":
    main()
