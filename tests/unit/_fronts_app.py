"""
An app of one server-side front for the several-workers tests, configured from the
environment, for ``uvicorn tests.unit._fronts_app:app --factory --workers 4``:

- ``FRONT``: ``relay`` (``GET /chat?question=``), ``widget`` (``POST
  /api/v1/prediction/widget``) or ``gateway`` (``POST /v1/chat/completions``, model ``m``);
- ``FLOWISE_BASE_URL``: the upstream (a FakeFlowise), chatflow ``flow``;
- ``STATE_URL``: a Redis URL for the shared store, or empty for the in-memory one;
- ``RATE`` / ``BURST``: the rate limit (none without ``RATE``); ``LOCK_TTL``: the gateway's
  conversation locks; ``STATE_TIMEOUT``: the bound on each Redis call.

The ``flowise_async.serving`` records go to stderr as ``LOG <level> <message>``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI

from flowise_async import AsyncFlowise
from flowise_async.fastapi import flowise_lifespan, get_flowise, sse_response
from flowise_async.openai_gateway import openai_router
from flowise_async.serving import (
    Access,
    MemoryStateStore,
    RateLimiter,
    StateStore,
    StoreRateLimiter,
)
from flowise_async.serving.redis_store import RedisStateStore
from flowise_async.widget import widget_router


def app() -> FastAPI:
    """The app the environment describes."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("LOG %(levelname)s %(message)s"))
    serving = logging.getLogger("flowise_async.serving")
    serving.addHandler(handler)
    serving.setLevel(logging.INFO)

    url = os.environ.get("STATE_URL", "")
    timeout = float(os.environ.get("STATE_TIMEOUT", "2"))
    store: StateStore = (
        RedisStateStore.from_url(url, timeout=timeout) if url else MemoryStateStore()
    )
    limit: RateLimiter | None = None
    if os.environ.get("RATE"):
        limit = StoreRateLimiter(store, float(os.environ["RATE"]), int(os.environ["BURST"]))
    access = Access(rate_limit=limit, state=store)
    inner = flowise_lifespan(lambda: AsyncFlowise(abort_on_exit=True))

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with inner(app):
            yield
        await store.aclose()

    application = FastAPI(lifespan=lifespan)
    front = os.environ["FRONT"]
    if front == "relay":

        @application.get("/chat")
        async def chat(question: str, flowise: AsyncFlowise = Depends(get_flowise)) -> Any:  # noqa: B008
            return sse_response(flowise.predictions.stream("flow", question), access=access)

    elif front == "widget":
        application.include_router(widget_router({"widget": "flow"}, access=access))
    else:
        ttl = float(os.environ.get("LOCK_TTL", "30"))
        application.include_router(openai_router({"m": "flow"}, access=access, lock_ttl=ttl))
    return application
