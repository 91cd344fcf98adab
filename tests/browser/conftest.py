"""
Fixtures of the browser tests: Debian's Chromium driven by Playwright, apps on uvicorn.

The real Flowise comes from the integration fixtures (`real_flowise`, `chatflows`); the apps
under test run on uvicorn on 127.0.0.1 in the test's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser import setup
from tests.integration.conftest import (  # noqa: F401 - fixtures and hooks used here
    chatflows,
    flowise_line,
    pytest_runtest_makereport,
    pytest_runtest_protocol,  # waits for 3.1.4's install (nox -s tests starts them meanwhile)
    real_flowise,
)


try:  # the test modules skip themselves without these (nox -s browser installs them)
    import uvicorn
    from playwright import async_api as playwright_api
except ImportError:  # pragma: no cover - depends on the environment
    playwright_api = None

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots are kept (gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium, headless; closed after the test."""
    if playwright_api is None:
        pytest.skip("needs playwright (nox -s browser installs it)")
    if not setup.CHROMIUM.exists():
        pytest.fail(f"{setup.CHROMIUM} is missing: run 'python -m tests.browser.setup'")
    async with playwright_api.async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(setup.CHROMIUM), args=list(setup.CHROMIUM_ARGS), timeout=60_000
        )
        try:
            yield chromium
        finally:
            await chromium.close()


Serve = Callable[[Any], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start an ASGI app on uvicorn on 127.0.0.1; returns its URL; stopped after the test."""
    servers: list[tuple[Any, asyncio.Task[None]]] = []

    async def start(app: Any) -> str:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", http="h11", ws="none"
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        servers.append((server, task))
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.02)
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    yield start
    for server, task in servers:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
