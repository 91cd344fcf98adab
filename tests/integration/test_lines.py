"""
What differs between the Flowise release lines (2.2.8, 3.0.13, 3.1.4, 3.1.4 in queue mode), on
the real servers: versions, routes a line lacks, and the exact frames each line writes.

The captured frames are kept in ``tests/integration/wire/<line>-conversation.sse`` (rewritten
when ``FLOWISE_ASYNC_WRITE_WIRE=1``); the library must read each line's bytes the same way.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from flowise_async import AsyncFlowise, FeatureUnavailableError
from flowise_async._features import server_has
from flowise_async.events import EndEvent, MetadataEvent, StartEvent, TokenEvent
from harness import wire
from harness.fake_llm import echo_reply, tokens_of
from harness.server import RealFlowise
from tests.integration import conftest
from tests.integration.conftest import ALL_LINES, SQLITE, line_database, line_version


pytestmark = pytest.mark.integration

LINES = ALL_LINES
WIRE_DIR = Path(__file__).resolve().parent / "wire"
QUESTION = "hello line [[words=2]]"


async def test_server_reports_its_release(
    client: AsyncFlowise, real_flowise: RealFlowise, chatflows: dict[str, str], flowise_line: str
) -> None:
    """GET /api/v1/version answers the installed release; the harness's key works on it."""
    assert await client.version() == line_version(flowise_line) == real_flowise.version
    flows = await client.chatflows.list()
    assert {flow.id for flow in flows} >= set(chatflows.values())
    assert {flow.name for flow in flows} >= {"it-conversation", "it-llmchain"}


@pytest.mark.lines(*ALL_LINES, SQLITE)
async def test_server_stores_its_data_in_the_line_database(
    client: AsyncFlowise, real_flowise: RealFlowise, chatflows: dict[str, str], flowise_line: str
) -> None:
    """
    PostgreSQL on every line but ``3.1.4-sqlite``: the chatflows and the messages of a run (in
    queue mode written by the workers) are rows of that database, and no SQLite file exists.
    """
    assert real_flowise.database == line_database(flowise_line)
    assert real_flowise.server is not None
    flow_id = chatflows["conversation"]
    async with client.predictions.stream(flow_id, QUESTION) as stream:
        async for _ in stream:
            pass
    assert stream.text == echo_reply(QUESTION)
    # Both ids are UUIDs (checked), so they can stand in the SQL as literals.
    flow, chat = str(uuid.UUID(flow_id)), str(uuid.UUID(stream.chat_id))

    names = real_flowise.server.query(f"SELECT name FROM chat_flow WHERE id = '{flow}'")  # noqa: S608
    assert names == [["it-conversation"]]
    roles = real_flowise.server.query(
        f"SELECT role FROM chat_message WHERE \"chatId\" = '{chat}' ORDER BY role"  # noqa: S608
    )
    assert roles == [["apiMessage"], ["userMessage"]]
    sqlite_file = real_flowise.data_dir / "database.sqlite"
    assert sqlite_file.exists() is (real_flowise.database == "sqlite")


async def test_executions_exist_from_3_0_and_are_a_typed_error_before(
    client: AsyncFlowise, real_flowise: RealFlowise
) -> None:
    """On 2.x the executions route names the feature and its release; on 3.x it answers."""
    transport = client._transport
    if server_has("executions", real_flowise.version):
        page = await transport.request("GET", "/api/v1/executions")
        assert isinstance(page, dict)
        assert "data" in page
        assert "total" in page
    else:
        with pytest.raises(FeatureUnavailableError) as info:
            await transport.request("GET", "/api/v1/executions")
        assert info.value.feature == "executions"
        assert info.value.added_in == "3.0.0"
        assert info.value.server_version == real_flowise.version


async def test_each_line_writes_its_own_frames_and_the_library_reads_them(
    client: AsyncFlowise, real_flowise: RealFlowise, chatflows: dict[str, str], flowise_line: str
) -> None:
    """
    Before 3.1.2 the `end` frame is `message\\ndata:` (no colon), from 3.1.2 `message:`; the
    other frames are `message:` on every line. The library yields the same events for both.
    """
    chat_id = f"line-{uuid.uuid4()}"
    captured = await wire.capture_stream(
        real_flowise.base_url,
        chatflows["conversation"],
        QUESTION,
        chat_id=chat_id,
        api_key=real_flowise.api_key,
    )
    assert captured.status == 200
    frames = [frame for frame in wire.split_frames(captured.body) if frame != wire.HEARTBEAT]
    names = wire.event_names(captured.body)
    expected_tokens = tokens_of(echo_reply(QUESTION))
    assert names == ["start", *["token"] * len(expected_tokens), "metadata", "end"]
    colon_everywhere = server_has("heartbeat", real_flowise.version)  # both came in 3.1.2
    end_prefix = wire.FRAME_PREFIX if colon_everywhere else wire.OLD_FRAME_PREFIX
    assert frames[-1] == end_prefix + b'{"event":"end","data":"[DONE]"}\n\n'
    assert all(frame.startswith(wire.FRAME_PREFIX) for frame in frames[:-1])

    path = WIRE_DIR / f"{flowise_line}-conversation.sse"
    if os.environ.get("FLOWISE_ASYNC_WRITE_WIRE") == "1" or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(captured.body)
    stored = path.read_bytes()
    assert wire.normalized_frames(stored) == wire.normalized_frames(captured.body)

    async with (
        wire.ReplayServer(stored) as replay,
        AsyncFlowise(replay.url) as replay_client,
        replay_client.predictions.stream("replayed", QUESTION) as stream,
    ):
        events = [event async for event in stream]
    kinds = [type(event) for event in events]
    assert kinds == [StartEvent, *[TokenEvent] * len(expected_tokens), MetadataEvent, EndEvent]
    text = "".join(event.text for event in events if isinstance(event, TokenEvent))
    assert text == echo_reply(QUESTION)


# -- the order the lines run in, and their installs --------------------------------------------


def test_the_lines_run_in_the_order_the_harness_installs_them(
    request: pytest.FixtureRequest,
) -> None:
    """3.1.4 (and its queue and SQLite runs) first, then 3.0.13, then 2.2.8: see LINE_ORDER."""
    lines = [line for item in request.session.items if (line := conftest._line_of(item))]
    ranks = [conftest.LINE_ORDER.index(line) for line in lines if line in conftest.LINE_ORDER]
    assert ranks == sorted(ranks)  # and so one group per line


class _Item:
    """What the install hook reads of a test item."""

    def __init__(self, line: str | None, integration: bool = True) -> None:
        self.callspec = type("CallSpec", (), {"params": {"flowise_line": line}})()
        self._integration = integration

    def get_closest_marker(self, name: str) -> object:
        return object() if name == "integration" and self._integration else None


def test_a_line_is_installed_once_before_its_first_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each line's install is asked for (or waited for) before its first test, once."""
    asked: list[tuple[str | None, tuple[str, ...]]] = []

    def ensure(*, version: str | None = None, databases: tuple[str, ...] = ()) -> Path:
        asked.append((version, databases))
        return Path()

    monkeypatch.setattr(conftest.install, "ensure_installed", ensure)
    monkeypatch.setattr(conftest, "_installed", set())
    lines = ["3.1.4", "3.1.4", "3.1.4-queue", "3.1.4-sqlite", "2.2.8", None]
    for line in lines:
        hook = conftest.pytest_runtest_protocol(_Item(line))  # type: ignore[arg-type]
        next(hook)  # the test would run here
    next(conftest.pytest_runtest_protocol(_Item("3.0.13", integration=False)))  # type: ignore[arg-type]
    assert asked == [
        ("3.1.4", ("postgres",)),
        ("3.1.4", ("sqlite",)),
        ("2.2.8", ("postgres",)),
    ]
