"""``pghistory_django.context``: the core's context, with ``PGHISTORY_JSON_ENCODER``.

Layer: adapter (Django runtime). Metadata passes through the configured JSON encoder
(Django's ``DjangoJSONEncoder`` by default, so UUIDs, dates and decimals work) before the
core stores it; everything else (nesting, decorators, async, contextvars) is the core's.
"""

from __future__ import annotations

import json

from pghistory_core.context import context as _core_context
from pghistory_core.context import ignore
from pghistory_django import config

__all__ = ["context", "ignore"]


class context(_core_context):  # noqa: N801 - upstream's name
    """Group changes under one context; see :class:`pghistory_core.context`."""

    def __init__(self, **metadata: object) -> None:
        encoded = json.loads(json.dumps(metadata, cls=config.json_encoder())) if metadata else {}
        super().__init__(**encoded)
