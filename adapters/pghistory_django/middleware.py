"""``HistoryMiddleware``: group a request's changes under one context (user and URL).

Layer: adapter (Django runtime). Works under WSGI and ASGI (sync and async capable); for
the methods in ``PGHISTORY_MIDDLEWARE_METHODS`` it enters ``pghistory.context`` with
:meth:`HistoryMiddleware.get_context` (override it to add keys). Under ASGI each request
runs in its own asyncio task, so concurrent requests never share a context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Union

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase

from pghistory_django import config
from pghistory_django.context import context

__all__ = ["HistoryMiddleware"]

Response = Union[HttpResponseBase, Awaitable[HttpResponseBase]]


class HistoryMiddleware:
    """Record ``{"user": <pk or None>, "url": request.path}`` for the request's changes."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Response]) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def get_context(self, request: HttpRequest) -> dict[str, object]:
        """The context metadata of *request*; extend it in a subclass."""
        user = getattr(request, "user", None)
        user_id = None
        if user is not None and getattr(user, "is_authenticated", False):
            user_id = user.pk
        return {"user": user_id, "url": request.path}

    def __call__(self, request: HttpRequest) -> Response:
        if self._async:
            return self.__acall__(request)
        if request.method not in config.middleware_methods():
            return self.get_response(request)
        with context(**self.get_context(request)):
            return self.get_response(request)  # type: ignore[return-value]

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method not in config.middleware_methods():
            return await self.get_response(request)  # type: ignore[misc, no-any-return]
        # get_context may touch the database (request.user is lazy): run it in a thread.
        metadata = await sync_to_async(self.get_context)(request)
        async with context(**metadata):
            return await self.get_response(request)  # type: ignore[misc, no-any-return]
