"""Loading tracking specs named on the command line as ``module:attribute``.

Layer: adapter (operator tool). ``--spec myapp.history:TRACKINGS`` imports ``myapp.history``
(with the current directory on ``sys.path``, like ``python -m``) and reads ``TRACKINGS``.
The attribute may be a dotted path (``module:Holder.trackings``) and may hold:

- a :class:`pghistory_core.Tracking`;
- an iterable of them (list, tuple, generator, ...);
- a callable taking no arguments that returns either of the above.

Every problem is reported as a :class:`SpecError` whose message names the ``--spec`` value
and says what was found instead, so the operator can fix the call without a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Sequence

from pghistory_core import PghistoryError, Tracking

__all__ = ["SpecError", "load_spec", "load_specs"]


class SpecError(Exception):
    """A ``--spec`` value cannot be turned into trackings."""


_EXAMPLE = "e.g. --spec myapp.history:TRACKINGS"


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(value).__name__}: {text}"


def _import(spec: str, module_name: str) -> object:
    # Like `python -m`: modules next to where the operator stands are importable.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == module_name or module_name.startswith(missing + "."):
            raise SpecError(
                f"--spec {spec!r}: no module named {missing!r} (looked in the current directory {cwd} "
                "and on sys.path)"
            ) from None
        raise SpecError(f"--spec {spec!r}: importing {module_name!r} failed: {exc}") from exc
    except PghistoryError as exc:
        # A Tracking built at import time was invalid: its message names the problem.
        raise SpecError(f"--spec {spec!r}: {module_name!r} defines an invalid spec: {exc}") from exc
    except SystemExit as exc:
        # A module that exits (argparse at import time, a settings check) must not end the
        # command with its own status: exit 0 would pass `pghistory check` unchecked.
        raise SpecError(f"--spec {spec!r}: importing {module_name!r} failed: {_exited(exc)}") from None
    except Exception as exc:
        raise SpecError(f"--spec {spec!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc


def _exited(exc: SystemExit) -> str:
    return f"it called sys.exit({exc.code!r})"


def _candidates(module: object) -> list[str]:
    """Public attributes of *module* that look like specs, to suggest in an error."""
    found = []
    for name in sorted(vars(module)):
        if name.startswith("_"):
            continue
        value = getattr(module, name)
        if isinstance(value, Tracking) or (
            isinstance(value, (list, tuple)) and value and all(isinstance(v, Tracking) for v in value)
        ):
            found.append(name)
    return found


def _resolve(spec: str, module: object, module_name: str, attribute: str) -> object:
    value: object = module
    walked = module_name
    for part in attribute.split("."):
        if not part.isidentifier():
            raise SpecError(f"--spec {spec!r}: {attribute!r} is not a valid attribute path ({_EXAMPLE})")
        if not hasattr(value, part):
            hint = ""
            if value is module:
                names = _candidates(module)
                hint = f"; specs it defines: {', '.join(names)}" if names else "; it defines no Tracking"
            raise SpecError(f"--spec {spec!r}: {walked!r} has no attribute {part!r}{hint}")
        value = getattr(value, part)
        walked = f"{walked}.{part}" if walked != module_name else f"{module_name}:{part}"
    return value


def _as_trackings(spec: str, value: object) -> list[Tracking]:
    if isinstance(value, Tracking):
        return [value]
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise SpecError(
            f"--spec {spec!r} is a {_describe(value)}. Expected a pghistory_core.Tracking, "
            "an iterable of them, or a callable returning either"
        )
    if isinstance(value, dict):
        raise SpecError(f"--spec {spec!r} is a dict; pass a list of pghistory_core.Tracking (e.g. list(d.values()))")
    result: list[Tracking] = []
    for index, item in enumerate(value):
        if not isinstance(item, Tracking):
            raise SpecError(f"--spec {spec!r}: item {index} is not a pghistory_core.Tracking but a {_describe(item)}")
        result.append(item)
    if not result:
        raise SpecError(f"--spec {spec!r} holds no Tracking (an empty spec would treat everything as orphaned)")
    return result


def load_spec(spec: str) -> list[Tracking]:
    """The trackings named by one ``module:attribute`` value."""
    module_name, sep, attribute = spec.partition(":")
    module_name, attribute = module_name.strip(), attribute.strip()
    if not sep or not module_name or not attribute:
        raise SpecError(f"--spec {spec!r}: expected MODULE:ATTRIBUTE ({_EXAMPLE})")
    module = _import(spec, module_name)
    value = _resolve(spec, module, module_name, attribute)
    if callable(value) and not isinstance(value, Tracking):
        try:
            value = value()
        except PghistoryError as exc:
            raise SpecError(f"--spec {spec!r}: the callable built an invalid spec: {exc}") from exc
        except SystemExit as exc:
            raise SpecError(f"--spec {spec!r}: calling it failed: {_exited(exc)}") from None
        except Exception as exc:
            raise SpecError(f"--spec {spec!r}: calling it failed: {type(exc).__name__}: {exc}") from exc
    return _as_trackings(spec, value)


def load_specs(specs: Sequence[str]) -> list[Tracking]:
    """The trackings of every ``--spec``, in order, each tracking once."""
    result: list[Tracking] = []
    for spec in specs:
        for tracking in load_spec(spec):
            if tracking not in result:
                result.append(tracking)
    return result
