"""``pghistory_django.context``: the core's context, with ``PGHISTORY_JSON_ENCODER``.

Layer: adapter (Django runtime). Metadata passes through the configured JSON encoder
(Django's ``DjangoJSONEncoder`` by default, so UUIDs, dates and decimals work) before the
core stores it; everything else (nesting, decorators, async, contextvars) is the core's.
Metadata made only of strings, numbers, booleans and None skips the encoder: a
``JSONEncoder`` consults its ``default()`` only for other types, so the result is the same,
and a request's ``pghistory.context(user=..., url=...)`` saves the encode and decode round
trip (about half the cost of opening a context).
"""

from __future__ import annotations

import json

from pghistory_core.context import context as _core_context
from pghistory_core.context import ignore
from pghistory_django import config

__all__ = ["context", "ignore"]

#: Values a ``JSONEncoder`` writes without calling ``default()`` (exact types: a subclass
#: such as an ``IntEnum`` may be encoded differently by a custom encoder).
_NATIVE = frozenset({str, int, float, bool, type(None)})


class context(_core_context):  # noqa: N801 - upstream's name
    """Group changes under one context; see :class:`pghistory_core.context`."""

    def __init__(self, **metadata: object) -> None:
        if any(type(value) not in _NATIVE for value in metadata.values()):
            metadata = json.loads(json.dumps(metadata, cls=config.json_encoder()))
        super().__init__(**metadata)
