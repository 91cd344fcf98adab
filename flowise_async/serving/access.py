"""Access checks shared by the fronts: authorization, allow-lists, rate limits."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Protocol

import attrs

from ._asgi import Request
from .errors import RequestRejectedError
from .state import MemoryStateStore, StateStore


__all__ = ["Access", "AuthorizeHook", "RateLimiter", "TokenBucket", "client_address", "maybe_await"]


class RateLimiter(Protocol):
    """Anything that answers "may *key* make a request now?"."""

    async def acquire(self, key: str) -> float | None:
        """Return None to allow the request, or the seconds to wait before the next one."""
        ...


class TokenBucket:
    """
    An in-memory token bucket per key: *burst* requests at once, refilled at *rate* per
    second. One process only; for several, a `StoreRateLimiter` on a shared store.

    Args:
        rate: Requests per second, sustained.
        burst: Requests allowed at once.
        max_keys: Keys remembered; the least recently used are forgotten beyond it.
        clock: A monotonic clock (for tests).
    """

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("TokenBucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._store = MemoryStateStore(max_keys=max_keys, clock=clock)

    async def acquire(self, key: str) -> float | None:
        """Take one token for *key*; return None, or the seconds until one is free."""
        return self._store.take_now(key, rate=self.rate, burst=self.burst)


def client_address(request: Request) -> str:
    """The client's address as the ASGI server saw it (behind a proxy, configure the server's
    forwarded-headers support so that this is the real client)."""
    return request.client.host if request.client is not None else "unknown"


#: ``authorize(request)`` returns who is asking (any value; None for anonymous) or raises
#: `RequestRejectedError`. It may be a coroutine function.
AuthorizeHook = Callable[[Request], Any]


@attrs.define(kw_only=True)
class Access:
    """
    The checks run before a request reaches Flowise, in this order: the chatflow allow-list,
    the application's authorization, the rate limit.

    Attributes:
        authorize: ``authorize(request)`` returns who is asking (any value; None for
            anonymous) or raises `RequestRejectedError`; may be async. None allows everyone.
        chatflows: The chatflow ids that may be used; None allows all. An id not in the list
            is answered like an unknown one (404), so ids cannot be probed.
        rate_limit: A `RateLimiter` (e.g. ``TokenBucket(rate=1, burst=5)``); None: no limit.
        rate_limit_key: ``rate_limit_key(request, who)`` names the bucket; the default is
            ``str(who)`` for an authorized caller and the client address otherwise.
        state: Where conversation locks live (the gateway's busy conversations): a
            `~flowise_async.serving.StateStore` shared by several workers, or None for one in
            this process. For a shared rate limit, use
            `~flowise_async.serving.StoreRateLimiter` on the same store.
    """

    authorize: AuthorizeHook | None = None
    chatflows: Collection[str] | None = None
    rate_limit: RateLimiter | None = None
    rate_limit_key: Callable[[Request, Any], str] | None = None
    state: StateStore | None = None

    async def check(self, request: Request, chatflow_id: str | None = None) -> Any:
        """
        Run the checks for *request* (about *chatflow_id*, if any).

        Returns:
            What ``authorize`` returned (None without a hook).

        Raises:
            RequestRejectedError: A check refused the request.
        """
        if (
            chatflow_id is not None
            and self.chatflows is not None
            and chatflow_id not in self.chatflows
        ):
            raise RequestRejectedError("Not found.", status=404)
        who = None
        if self.authorize is not None:
            who = await maybe_await(self.authorize(request))
        if self.rate_limit is not None:
            if self.rate_limit_key is not None:
                key = self.rate_limit_key(request, who)
            else:
                key = str(who) if who is not None else client_address(request)
            wait = await self.rate_limit.acquire(key)
            if wait is not None:
                raise RequestRejectedError(
                    "Too many requests. Please wait a moment.", status=429, retry_after=wait
                )
        return who


async def maybe_await(value: Awaitable[Any] | Any) -> Any:
    """Await *value* if it is awaitable (for hooks that may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value
