"""
The JSON routes our examples show (``docs/fastapi.md``'s "Errors as HTTP statuses" and
``examples/fastapi_app.py``'s ``POST /ask``) against a failing Flowise: no URL, no key and
none of Flowise's error text reaches the client.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest


pytest.importorskip("fastapi", reason="needs the fastapi extra")
httpx = pytest.importorskip("httpx", reason="needs httpx (test extra)")

from aiohttp import web  # noqa: E402
from fastapi import Depends, FastAPI  # noqa: E402

from flowise_async import AsyncFlowise, Retries, Timeouts  # noqa: E402
from flowise_async.fastapi import flowise_lifespan, get_flowise  # noqa: E402
from tests._examples import load_example  # noqa: E402
from tests.unit._server import serve  # noqa: E402
from tests.unit.test_docs import blocks_of  # noqa: E402


ROOT = Path(__file__).resolve().parents[2]
CANARY_KEY = "sk-LEAKME-123"
INTERNAL = "http://internal-llm.corp:8080"
FLOWISE_TEXT = f"Error: connect ECONNREFUSED {INTERNAL} with key {CANARY_KEY}"
SERVER_KEY = "sk-flowise-server-secret"

example: Any = load_example("fastapi_app.py", "fastapi_example_app_errors")

# status -> what the failing upstream answers
UPSTREAM = {
    500: {"message": FLOWISE_TEXT, "stack": f"at {INTERNAL}/v1/chat"},
    401: {"message": f"Unauthorized: {CANARY_KEY}"},
    404: {"message": f"Chatflow not found at {INTERNAL}"},
    429: {"message": f"Too many requests from {INTERNAL}"},
    503: {"message": FLOWISE_TEXT},
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def failing_flowise(status: int) -> AsyncIterator[str]:
    """A Flowise that answers every prediction with *status* and a leaky error text."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(UPSTREAM[status], status=status)

    async with serve([("POST", "/api/v1/prediction/{flow}", handler)]) as url:
        yield url


@asynccontextmanager
async def upstream(kind: str) -> AsyncIterator[str]:
    """The base URL of a failing upstream: a status, or ``refused`` (nothing listens)."""
    if kind == "refused":
        yield f"http://127.0.0.1:{_free_port()}"
        return
    async with failing_flowise(int(kind)) as url:
        yield url


def _client(url: str) -> AsyncFlowise:
    return AsyncFlowise(
        url, api_key=SERVER_KEY, timeouts=Timeouts(connect=2, total=10), retries=Retries(attempts=1)
    )


def example_app(url: str) -> FastAPI:
    app: FastAPI = example.create_app(
        base_url=url, chatflow_id="broken", api_key=SERVER_KEY, retries=Retries(attempts=1)
    )
    return app


def docs_app(url: str) -> FastAPI:
    """The app of docs/fastapi.md with the page's "Errors as HTTP statuses" route."""
    [block] = [
        b for b in blocks_of(ROOT / "docs" / "fastapi.md") if '@app.post("/ask")' in b.source
    ]
    app = FastAPI(lifespan=flowise_lifespan(lambda: _client(url)))
    namespace: dict[str, Any] = {
        "__name__": "docs_fastapi_errors",
        "app": app,
        "AsyncFlowise": AsyncFlowise,
        "Depends": Depends,
        "get_flowise": get_flowise,
        "CHATFLOW_ID": "broken",
    }
    exec(compile(block.source, f"docs/fastapi.md:{block.line}", "exec"), namespace)  # noqa: S102
    return app


async def ask(app: FastAPI, *, as_json: bool) -> httpx.Response:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            if as_json:
                return await http.post("/ask", json={"question": "secret user text"})
            return await http.post("/ask", params={"question": "secret user text"})


def assert_nothing_leaks(response: httpx.Response, url: str) -> None:
    seen = response.text + "".join(f"{k}: {v}\n" for k, v in response.headers.items())
    for secret in (
        CANARY_KEY,
        SERVER_KEY,
        "internal-llm",
        "ECONNREFUSED",
        "Unauthorized",
        "Chatflow not found",
        "Too many requests from",
        url.removeprefix("http://"),
        "127.0.0.1",
        "http://",
        "/api/v1",
        "Error",  # no class name either
    ):
        assert secret not in seen, (secret, seen)
    assert set(response.json()) == {"detail"}


EXPECTED_STATUS = {"500": 502, "401": 502, "404": 404, "429": 429, "503": 503, "refused": 502}
APPS: dict[str, tuple[Callable[[str], FastAPI], bool]] = {
    "example": (example_app, True),
    "docs": (docs_app, False),
}


@pytest.mark.parametrize("kind", list(EXPECTED_STATUS))
@pytest.mark.parametrize("which", list(APPS))
async def test_errors_as_http_statuses_leak_nothing(which: str, kind: str) -> None:
    make, as_json = APPS[which]
    async with upstream(kind) as url:
        response = await ask(make(url), as_json=as_json)
    assert response.status_code == EXPECTED_STATUS[kind]
    assert_nothing_leaks(response, url)
    if kind == "429":
        assert "retry-after" not in response.headers or response.headers["retry-after"].isdigit()
