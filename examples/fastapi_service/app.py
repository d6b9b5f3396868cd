"""Example: a FastAPI service with trigger-based history through pghistory_sqlalchemy.

Layer: example (not part of the distribution). What it shows:

- a tracked model (``@pgh.track``) whose event table and triggers are created by
  ``metadata.create_all`` (use Alembic with ``pghistory_sqlalchemy.migrations`` in a real
  service);
- ``pgh.instrument(engine)``: every transaction carries the active context to the triggers;
- :func:`history_context`, a request dependency that opens ``pgh.context(user=..., url=...,
  method=...)`` around the request, so every event a request causes, through the ORM,
  bulk ``update()`` or raw SQL, records who did it and from which URL;
- reading history (``pgh.history``), the state as of a time (``pgh.as_of``) and undoing a
  whole request (``pgh.revert_context``) from endpoints.

The user comes from the ``X-User`` header to keep the example short; a real service takes
it from its authentication dependency.
"""

from __future__ import annotations

import contextlib
import datetime
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy import orm

import pghistory_core as ph
import pghistory_sqlalchemy as pgh


class Base(orm.DeclarativeBase):
    pass


@pgh.track(pgh.InsertEvent(), pgh.UpdateEvent(), pgh.DeleteEvent())
class Account(Base):
    __tablename__ = "account"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    owner: orm.Mapped[str] = orm.mapped_column(sa.String(80))
    balance: orm.Mapped[Decimal] = orm.mapped_column(sa.Numeric(12, 2), default=Decimal("0"))


# ------------------------------------------------------------------------------ schemas


class AccountIn(BaseModel):
    owner: str
    balance: Decimal = Decimal("0")


class AccountPatch(BaseModel):
    owner: str | None = None
    balance: Decimal | None = None


class AccountOut(BaseModel):
    id: int
    owner: str
    balance: Decimal


class EventOut(BaseModel):
    pgh_id: int
    pgh_created_at: datetime.datetime
    pgh_label: str
    pgh_context_id: uuid.UUID | None
    pgh_context: dict[str, object] | None
    pgh_data: dict[str, object]
    pgh_diff: dict[str, list[object]] | None


class RevertOut(BaseModel):
    context_id: uuid.UUID
    operations: int
    revert_context_id: uuid.UUID | None


def _account_out(account: Account) -> AccountOut:
    return AccountOut(id=account.id, owner=account.owner, balance=account.balance)


# ---------------------------------------------------------------------------- dependencies


def current_user(x_user: Annotated[str | None, Header()] = None) -> str:
    """The caller (stand-in for the service's authentication dependency)."""
    return x_user or "anonymous"


async def history_context(
    request: Request, user: Annotated[str, Depends(current_user)]
) -> AsyncIterator[ph.ActiveContext]:
    """Group everything this request writes under one context recording the user.

    An ``async`` dependency runs in the request's task, so the context it opens is seen by
    the endpoint and by the other dependencies, also when they run in the thread pool
    (Starlette copies the task's ``contextvars`` into it).
    """
    async with pgh.context(user=user, method=request.method, url=request.url.path) as active:
        yield active


def get_session(request: Request, _: Annotated[ph.ActiveContext, Depends(history_context)]) -> Iterator[orm.Session]:
    """One session and transaction per request, committed when the endpoint returns."""
    with orm.Session(request.app.state.engine, expire_on_commit=False) as session, session.begin():
        yield session


Session = Annotated[orm.Session, Depends(get_session)]


# -------------------------------------------------------------------------------- the app


def create_app(url: str | sa.URL, *, create_tables: bool = True) -> FastAPI:
    """The service on the database at *url* (a SQLAlchemy URL, e.g. ``postgresql+psycopg://...``)."""
    engine = sa.create_engine(url)
    pgh.instrument(engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if create_tables:
            Base.metadata.create_all(engine)
        yield
        engine.dispose()

    app = FastAPI(title="pghistory example", lifespan=lifespan)
    app.state.engine = engine

    @app.post("/accounts", response_model=AccountOut, status_code=201)
    def create_account(body: AccountIn, session: Session) -> AccountOut:
        account = Account(owner=body.owner, balance=body.balance)
        session.add(account)
        session.flush()
        return _account_out(account)

    @app.patch("/accounts/{account_id}", response_model=AccountOut)
    def update_account(account_id: int, body: AccountPatch, session: Session) -> AccountOut:
        account = session.get(Account, account_id)
        if account is None:
            raise HTTPException(404, f"no account {account_id}")
        if body.owner is not None:
            account.owner = body.owner
        if body.balance is not None:
            account.balance = body.balance
        session.flush()
        return _account_out(account)

    @app.post("/accounts/interest", response_model=int)
    def add_interest(session: Session, percent: Decimal = Decimal("1")) -> int:
        """A bulk ``UPDATE``: the triggers record it like any other write."""
        result = session.execute(sa.update(Account).values(balance=Account.balance * (1 + percent / 100)))
        return int(result.rowcount)  # type: ignore[attr-defined]

    @app.delete("/accounts/{account_id}", status_code=204)
    def delete_account(account_id: int, session: Session) -> None:
        account = session.get(Account, account_id)
        if account is None:
            raise HTTPException(404, f"no account {account_id}")
        session.delete(account)

    @app.get("/accounts/{account_id}/history", response_model=list[EventOut])
    def account_history(account_id: int, session: Session) -> list[EventOut]:
        events = pgh.events_across(session, obj=(Account, account_id))  # also once deleted
        return [EventOut(**{f: getattr(e, f) for f in EventOut.model_fields}) for e in events]

    @app.get("/accounts/{account_id}/as-of", response_model=AccountOut)
    def account_as_of(account_id: int, at: datetime.datetime, session: Session) -> AccountOut:
        version = pgh.as_of(session, Account, account_id, at)
        if version is None:
            raise HTTPException(404, f"account {account_id} did not exist at {at.isoformat()}")
        return AccountOut(**version.values)  # type: ignore[arg-type]

    @app.post("/contexts/{context_id}/revert", response_model=RevertOut)
    def revert(context_id: uuid.UUID, session: Session) -> RevertOut:
        """Undo everything one earlier request wrote."""
        try:
            plan = pgh.revert_context(session, context_id, Base.metadata)
        except ph.RevertConflictError as exc:
            raise HTTPException(409, str(exc)) from None
        return RevertOut(
            context_id=plan.context_id, operations=len(plan.operations), revert_context_id=plan.revert_context_id
        )

    return app
