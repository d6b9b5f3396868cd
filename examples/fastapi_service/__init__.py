"""An example FastAPI service whose writes are recorded by pghistory triggers.

Run it with ``python -m examples.fastapi_service`` (see :mod:`.app` and ``docs/sqlalchemy.md``).
"""
