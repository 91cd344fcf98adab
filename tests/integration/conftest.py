"""
Fixtures for the tests against a real Flowise server.

One server (and one fake model) runs for the whole session: `real_flowise` installs Flowise if the
cache has no install yet, starts both on 127.0.0.1 and stops them at the end, also when tests
fail. `chatflows` creates one chatflow per template through the library itself. Every test is
async, function-scoped, and opens its own `AsyncFlowise`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Any

import pytest

from flowise_async import AsyncFlowise, Timeouts
from harness import install
from harness.server import FLOW_NAMES, FlowiseServer, RealFlowise


# Generous enough for a loaded 2-core machine, short enough that a hang fails fast.
TIMEOUTS = Timeouts(connect=5, headers=30, idle=60)

FLOW_TYPES = {"agentflow": "AGENTFLOW"}


def pytest_collection_finish(session: pytest.Session) -> None:
    """
    Install Flowise before the first test when integration tests were selected.

    ``nox -s tests`` installs it beforehand; this covers a bare ``pytest`` on a new machine,
    outside the per-test timeout (the install takes minutes the first time).
    """
    selected = any(item.get_closest_marker("integration") for item in session.items)
    if selected and not install.is_installed():
        install.ensure_installed()


@pytest.fixture(scope="session")
def real_flowise() -> Iterator[RealFlowise]:
    """A running, bootstrapped Flowise with the fake model behind it."""
    with FlowiseServer() as real:
        yield real


async def _create_flows(real: RealFlowise) -> dict[str, str]:
    async with AsyncFlowise(real.base_url, api_key=real.api_key, timeouts=TIMEOUTS) as client:
        ids = {}
        for name in FLOW_NAMES:
            flow = await client.chatflows.create(
                name=f"it-{name}",
                type=FLOW_TYPES.get(name, "CHATFLOW"),
                flow_data=real.flow_data(name),
            )
            ids[name] = flow.id
        return ids


async def _delete_flows(real: RealFlowise, ids: dict[str, str]) -> None:
    async with AsyncFlowise(real.base_url, api_key=real.api_key, timeouts=TIMEOUTS) as client:
        for flow_id in ids.values():
            await client.chatflows.delete(flow_id)


@pytest.fixture(scope="session")
def chatflows(real_flowise: RealFlowise) -> Iterator[dict[str, str]]:
    """Chatflow ids by template name, created through ``client.chatflows.create``."""
    ids = asyncio.run(_create_flows(real_flowise))
    yield ids
    asyncio.run(_delete_flows(real_flowise, ids))


MakeClient = Callable[..., AsyncFlowise]


@pytest.fixture
def make_client(real_flowise: RealFlowise) -> MakeClient:
    """Build a client of the real server (its key, `TIMEOUTS`); keyword arguments override."""

    def make(**options: Any) -> AsyncFlowise:
        options.setdefault("api_key", real_flowise.api_key)
        options.setdefault("timeouts", TIMEOUTS)
        return AsyncFlowise(real_flowise.base_url, **options)

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> AsyncIterator[AsyncFlowise]:
    """A client of the real server, closed after the test."""
    async with make_client() as flowise:
        yield flowise


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    """Attach the end of the server's log to the report of a failed integration test."""
    outcome = yield
    report = outcome.get_result()
    real = getattr(item, "funcargs", {}).get("real_flowise")
    if report.failed and isinstance(real, RealFlowise):
        report.sections.append(("Flowise log (last lines)", real.log_tail(40)))
