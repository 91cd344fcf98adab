"""
``flowise-async serve-openai``: the OpenAI-compatible gateway (`flowise_async.openai_gateway`)
served by uvicorn.

FastAPI and uvicorn are imported only when the command runs (the ``fastapi`` extra:
``python -m pip install "./flowise_async[fastapi]"`` next to a clone).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from .serving.state import StateStore


__all__ = ["add_serve_openai", "build_app", "read_keys", "state_store"]

KEYS_ENV = "FLOWISE_GATEWAY_KEYS"
STATE_URL_ENV = "FLOWISE_STATE_URL"


def add_serve_openai(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``serve-openai`` command to the *commands* sub-parsers."""
    serve = commands.add_parser(
        "serve-openai",
        parents=[common],
        help="serve chatflows to OpenAI clients (an OpenAI-compatible API)",
        description=(
            "Serve Flowise chatflows and agent flows as models of an OpenAI-compatible API "
            "(GET /v1/models, POST /v1/chat/completions). Gateway users authenticate with "
            "keys of their own; the Flowise key stays on this server. Keys come from "
            f"--keys-file or ${KEYS_ENV} (comma-separated NAME:KEY)."
        ),
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    serve.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="ALIAS=CHATFLOW_ID",
        help="offer a flow under a model name; repeatable (default: every chatflow and agent "
        "flow the Flowise key can list, by id)",
    )
    serve.add_argument(
        "--keys-file",
        type=Path,
        help="gateway keys, one NAME:KEY per line ('#' starts a comment)",
    )
    serve.add_argument(
        "--no-auth",
        action="store_true",
        help="accept requests without a gateway key (only behind an authenticating proxy)",
    )
    serve.add_argument(
        "--rate", type=float, help="requests per second allowed per user (default: no limit)"
    )
    serve.add_argument(
        "--burst", type=int, default=5, help="requests a user may make at once (default: 5)"
    )
    serve.add_argument(
        "--state-url",
        default=os.environ.get(STATE_URL_ENV) or None,
        metavar="URL",
        help="keep rate limits and conversation locks in this Redis (redis://[:password@]host"
        f"[:port][/db]), shared by every worker and machine using it (default: ${STATE_URL_ENV}"
        ", else in this process; needs the redis extra)",
    )
    serve.add_argument(
        "--state-timeout",
        type=float,
        default=2.0,
        help="seconds a call to the Redis store may take before the request gets a 503 "
        "(default: 2)",
    )
    serve.add_argument(
        "--lock-ttl",
        type=float,
        default=30.0,
        help="seconds a conversation lock lives without a renewal (renewed every third of it "
        "while its run lives; default: 30)",
    )
    serve.add_argument(
        "--conversation-header",
        action="append",
        default=[],
        metavar="NAME",
        help="a request header naming the conversation; repeatable (default: X-Conversation-Id)",
    )
    serve.add_argument(
        "--no-reasoning",
        action="store_true",
        help="do not pass the model's reasoning on as reasoning_content",
    )
    serve.set_defaults(handler=cmd_serve_openai)


def read_keys(args: argparse.Namespace) -> dict[str, str] | None:
    """The gateway keys (key -> user name) from ``--keys-file`` or the environment."""
    from .cli import UsageError  # noqa: PLC0415 - the command line imports this module

    if args.keys_file is not None:
        try:
            items = args.keys_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UsageError(f"cannot read {args.keys_file}: {exc.strerror}") from None
    else:
        items = os.environ.get(KEYS_ENV, "").split(",")
    keys: dict[str, str] = {}
    for number, item in enumerate(items, 1):
        line = item.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, key = line.partition(":")
        if not sep or not name.strip() or not key.strip():
            # Never echo the line: it may hold a key.
            raise UsageError(f"gateway key {number} is not NAME:KEY")
        keys[key.strip()] = name.strip()
    if not keys:
        if args.no_auth:
            return None
        raise UsageError(f"no gateway keys: use --keys-file or ${KEYS_ENV}, or --no-auth")
    return keys


def build_app(args: argparse.Namespace) -> Any:
    """The gateway app the options of ``serve-openai`` describe."""
    from .cli import UsageError, make_client  # noqa: PLC0415 - the command line imports this module

    try:
        from .openai_gateway import openai_app  # noqa: PLC0415
        from .serving import (  # noqa: PLC0415
            Access,
            RateLimiter,
            StoreRateLimiter,
            TokenBucket,
        )
    except ImportError:
        raise UsageError(
            "serve-openai needs FastAPI and uvicorn. From the folder holding your clone of "
            'flowise_async: python -m pip install "./flowise_async[fastapi]"'
        ) from None
    models = {}
    for item in args.model:
        alias, sep, chatflow_id = item.partition("=")
        if not sep or not alias or not chatflow_id:
            raise UsageError(f"--model expects ALIAS=CHATFLOW_ID, got {item!r}")
        models[alias] = chatflow_id
    keys = read_keys(args)
    if args.rate is not None and (args.rate <= 0 or args.burst < 1):
        raise UsageError("--rate must be positive and --burst at least 1")
    if not (args.state_timeout > 0 and args.lock_ttl > 0):
        raise UsageError("--state-timeout and --lock-ttl must be positive")
    store = state_store(args.state_url, timeout=args.state_timeout)
    limit: RateLimiter | None = None
    if args.rate and store is not None:
        limit = StoreRateLimiter(store, args.rate, args.burst)
    elif args.rate:
        limit = TokenBucket(args.rate, args.burst)
    access = Access(rate_limit=limit, state=store) if limit or store else None
    make_client(args)  # a bad --base-url is a usage error now, before the server starts
    app = openai_app(
        lambda: make_client(args, abort_on_exit=True),
        models or None,
        keys=keys,
        access=access,
        lock_ttl=args.lock_ttl,
        conversation_headers=tuple(args.conversation_header) or ("X-Conversation-Id",),
        reasoning=not args.no_reasoning,
    )
    if store is not None:
        _close_on_shutdown(app, store)
    return app


def _close_on_shutdown(app: Any, store: StateStore) -> None:
    """Close *store* when *app* stops (after the app's own lifespan)."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        try:
            async with inner(app) as state:
                yield state
        finally:
            await store.aclose()

    app.router.lifespan_context = lifespan


def state_store(url: str | None, *, timeout: float = 2.0) -> StateStore | None:
    """The Redis store at *url* (``--state-url``), or None for state in this process."""
    from .cli import UsageError  # noqa: PLC0415 - the command line imports this module

    if not url:
        return None
    try:
        from .serving.redis_store import RedisStateStore  # noqa: PLC0415
    except ImportError:
        raise UsageError(
            "--state-url needs the redis package. From the folder holding your clone of "
            'flowise_async: python -m pip install "./flowise_async[fastapi,redis]"'
        ) from None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise UsageError("--state-url must be a redis://, rediss:// or unix:// URL")
    return RedisStateStore.from_url(url, timeout=timeout)


async def cmd_serve_openai(args: argparse.Namespace, state: dict[str, Any]) -> int:
    """Run the gateway until interrupted."""
    app = build_app(args)
    import uvicorn  # noqa: PLC0415 - an optional dependency

    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="info")
    await uvicorn.Server(config).serve()
    return 0
