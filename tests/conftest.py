"""Fixtures shared by every test directory."""

from __future__ import annotations

import gc
import inspect
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import aioresponses.core as aioresponses_core
import pytest
from aioresponses import aioresponses

from tests._clients import KINDS, set_kind


_NEEDS_WRITER = "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters


class _Response(aiohttp.ClientResponse):
    """aioresponses builds responses without the ``stream_writer`` newer aiohttp requires."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if _NEEDS_WRITER:  # aiohttp 3.10 has no such argument
            kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(*args, **kwargs)


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    """aioresponses, working on every supported aiohttp: mock plain REST calls."""
    monkeypatch.setattr(aioresponses_core, "ClientResponse", _Response)
    with aioresponses() as mock:
        yield mock


def pytest_collection_finish(session: pytest.Session) -> None:
    """
    Freeze what the imports and the collection made: a test's ``gc.collect()`` then scans
    only what the tests made since (an unclosed response still warns at once), not the
    tens of thousands of objects of the imported libraries, each time.
    """
    gc.collect()
    gc.freeze()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``client_kind``: every test twice, once per client, unless marked ``async_only``."""
    if "client_kind" in metafunc.fixturenames:
        only_async = metafunc.definition.get_closest_marker("async_only") is not None
        kinds = ["async"] if only_async else list(KINDS)
        metafunc.parametrize("client_kind", kinds, indirect=True)


@pytest.fixture
def client_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """The client `tests._clients.make_client` builds in this test: async or sync."""
    set_kind(request.param)
    yield request.param
    set_kind("async")
