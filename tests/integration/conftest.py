"""
Fixtures for the tests against a real Flowise server.

Every integration test runs against one or more server *lines*: a module lists them in
``LINES`` (default: 3.1.4 only; ``ALL_LINES`` is 2.2.8, 3.0.13, 3.1.4 and 3.1.4 in queue mode),
and `pytest_generate_tests` parametrizes the session-scoped ``flowise_line`` with them (test ids
``[2.2.8]``, ``[3.0.13]``, ``[3.1.4]``, ``[3.1.4-queue]``); ``FLOWISE_ASYNC_LINES=2.2.8,3.0.13``
runs every selected test against the lines listed there instead. Every line stores its data in
PostgreSQL, as production servers do, except ``3.1.4-sqlite`` (``SQLITE``): 3.1.4 on SQLite,
Flowise's default and what the demo runs, for the streaming tests. Pytest orders the tests by line, so
each line's server starts once, when its first test needs it, and stops before the next line's
starts: one server (and one fake model) at a time, in `LINE_ORDER`.

Before a line's first test, the line is installed if the cache has no install of it yet (or
the test waits for the install in progress). `real_flowise` starts it on 127.0.0.1 and
stops it, also when tests fail. `chatflows` creates one chatflow per template the line can run
through the library itself. Every test is async, function-scoped, and opens its own
`AsyncFlowise`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Any

import pytest

from flowise_async import AsyncFlowise, Timeouts
from harness import install
from harness.server import FLOW_NAMES, FlowiseServer, RealFlowise


QUEUE = "3.1.4-queue"
"""Line id of 3.1.4 in queue mode: Redis, the main server and two workers."""
SQLITE = "3.1.4-sqlite"
"""Line id of 3.1.4 on SQLite (the others run on PostgreSQL)."""
ALL_LINES = ("2.2.8", "3.0.13", "3.1.4", QUEUE)
DEFAULT_LINES = ("3.1.4",)


# Generous enough for a loaded 2-core machine, short enough that a hang fails fast.
TIMEOUTS = Timeouts(connect=5, headers=30, idle=60)

FLOW_TYPES = {"agentflow": "AGENTFLOW"}


# The order in which the lines run: the harness installs 3.1.4 first (its queue mode needs
# nothing else, SQLite its sqlite3 build), and the older lines after it.
LINE_ORDER = ("3.1.4", QUEUE, SQLITE, "3.0.13", "2.2.8")


def _line_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    line = callspec.params.get("flowise_line") if callspec is not None else None
    if line is None and "flowise_line" in getattr(item, "fixturenames", ()):
        return DEFAULT_LINES[0]  # a server without a line parameter (the browser tests)
    return line if isinstance(line, str) else None


@pytest.hookimpl(trylast=True)  # after pytest grouped the tests by line
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the lines in `LINE_ORDER` (the tests that need no server first)."""

    def rank(item: pytest.Item) -> int:
        line = _line_of(item)
        if line is None:
            return -1
        return LINE_ORDER.index(line) if line in LINE_ORDER else len(LINE_ORDER)

    items.sort(key=rank)  # stable: each line's tests keep pytest's order


_installed: set[tuple[str, str]] = set()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # outside the per-test timeout's hook
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    """
    Install a line (or wait for its install) before its first test, outside the per-test
    timeout: the install takes minutes the first time. ``nox -s tests`` starts the
    integration tests while the background install still installs the older lines; the
    install lock makes a test wait for the line it needs, and only for that one.
    """
    line = _line_of(item)
    if line is not None and item.get_closest_marker("integration"):
        wanted = (line_version(line), line_database(line))
        if wanted not in _installed:
            install.ensure_installed(version=wanted[0], databases=(wanted[1],))
            _installed.add(wanted)
    yield


def line_version(line: str) -> str:
    """The Flowise release of a line id (``"3.1.4-queue"`` -> ``"3.1.4"``)."""
    return line.removesuffix("-queue").removesuffix("-sqlite")


def line_database(line: str) -> str:
    """The database of a line id: ``"sqlite"`` for ``"3.1.4-sqlite"``, else ``"postgres"``."""
    return "sqlite" if line.endswith("-sqlite") else "postgres"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``lines`` marker."""
    config.addinivalue_line(
        "markers", "lines(*ids): run the test against these lines instead of the module's LINES"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """
    Run each test that needs a server against the lines its module lists in ``LINES`` (or its
    ``@pytest.mark.lines(...)``).
    """
    if "flowise_line" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("lines")
        lines = marker.args if marker else getattr(metafunc.module, "LINES", DEFAULT_LINES)
        only = os.environ.get("FLOWISE_ASYNC_LINES")  # e.g. "2.2.8,3.1.4-queue": these only
        if only:
            lines = tuple(line.strip() for line in only.split(",") if line.strip())
        metafunc.parametrize("flowise_line", lines, indirect=True, scope="session", ids=str)


@pytest.fixture(scope="session")
def flowise_line(request: pytest.FixtureRequest) -> str:
    """The line under test: ``"2.2.8"``, ``"3.0.13"``, ``"3.1.4"``, ``"3.1.4-queue"``..."""
    return str(getattr(request, "param", DEFAULT_LINES[0]))


@pytest.fixture(scope="session")
def real_flowise(flowise_line: str) -> Iterator[RealFlowise]:
    """A running, bootstrapped Flowise of the line with the fake model behind it."""
    queue = flowise_line.endswith("-queue")
    with FlowiseServer(
        version=line_version(flowise_line),
        queue=queue,
        workers=2,
        database=line_database(flowise_line),
    ) as real:
        yield real


def flows_of(real: RealFlowise) -> tuple[str, ...]:
    """The templates the line can run: agent flows v2 exist from 3.0.0."""
    if int(real.version.split(".", 1)[0]) < 3:
        return tuple(name for name in FLOW_NAMES if name != "agentflow")
    return FLOW_NAMES


async def _create_flows(real: RealFlowise) -> dict[str, str]:
    async with AsyncFlowise(real.base_url, api_key=real.api_key, timeouts=TIMEOUTS) as client:
        ids = {}
        for name in flows_of(real):
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
