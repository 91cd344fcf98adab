"""
pytest fixtures for code that uses flowise_async: a fake Flowise server and a client of it.

Enable them in your ``conftest.py``::

    pytest_plugins = ["flowise_async.pytest_plugin"]

or on the command line with ``-p flowise_async.pytest_plugin``. The fixtures are async and
need `pytest-asyncio <https://pytest-asyncio.readthedocs.io>`_.

- ``flowise_server``: a started `~flowise_async.testing.FakeFlowise`, closed after the test.
- ``flowise_client``: an `~flowise_async.AsyncFlowise` connected to it, without retries, with
  short timeouts: 2 s for the response headers, 10 s between two events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from ._client import AsyncFlowise
from ._config import Retries, Timeouts
from .testing import FakeFlowise


__all__ = ["flowise_client", "flowise_server"]

#: The client's timeouts in tests: a stalled reply, or a streaming request for a chatflow the
#: server does not know (which a real Flowise never answers), fails the test in seconds.
TEST_TIMEOUTS = Timeouts(connect=5.0, headers=2.0, idle=10.0)


@pytest_asyncio.fixture
async def flowise_server() -> AsyncIterator[FakeFlowise]:
    """A fake Flowise on 127.0.0.1, scripted with ``flowise_server.answer(...)``."""
    async with FakeFlowise() as server:
        yield server


@pytest_asyncio.fixture
async def flowise_client(flowise_server: FakeFlowise) -> AsyncIterator[AsyncFlowise]:
    """An ``AsyncFlowise`` for ``flowise_server``, without retries, closed after the test."""
    async with flowise_server.client(timeouts=TEST_TIMEOUTS, retries=Retries(attempts=1)) as client:
        yield client
