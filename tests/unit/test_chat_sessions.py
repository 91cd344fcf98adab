"""Chat sessions and streamed multipart predictions (local servers, no Flowise)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import BodyPartReader, web

from flowise_async import AsyncFlowise, ChatBusyError, ChatSession, NotWaitingError, Retries
from flowise_async.sync import SyncChatSession
from tests._clients import current_kind, make_client, unwrap
from tests._wait import wait_until
from tests.unit._server import frame, serve, write_sse
from tests.unit.test_agentflows import ACTION, stopped_run_frames


# Every scenario runs against AsyncFlowise and SyncFlowise (tests/_clients.py).
pytestmark = pytest.mark.usefixtures("client_kind")


FLOW = "flow-1"


class _Flowise:
    """A local prediction + chat message endpoint with scripted answers."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.release = asyncio.Event()
        self.release.set()
        self.answers: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []

    async def predict(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        await self.release.wait()
        if body["streaming"]:
            return await write_sse(request, stopped_run_frames())
        answer = self.answers.pop(0) if self.answers else {"text": "ok"}
        return web.json_response({"chatId": body.get("chatId"), **answer})

    async def chat_messages(self, request: web.Request) -> web.Response:
        chat = request.query.get("chatId")
        return web.json_response([m for m in self.messages if m["chatId"] == chat])


@pytest.fixture
async def fake() -> AsyncIterator[tuple[_Flowise, AsyncFlowise]]:
    server = _Flowise()
    routes = [
        ("POST", "/api/v1/prediction/{id}", server.predict),
        ("GET", "/api/v1/chatmessage/{id}", server.chat_messages),
    ]
    async with serve(routes) as url, make_client(url, retries=Retries(attempts=1)) as flowise:
        yield server, flowise


async def test_session_keeps_the_chat_id(fake: tuple[_Flowise, AsyncFlowise]) -> None:
    """Every turn of a session is sent on one chat id, a fresh one per session."""
    server, flowise = fake
    chat = flowise.chat(FLOW)
    assert isinstance(unwrap(chat), SyncChatSession if current_kind() == "sync" else ChatSession)
    first = await chat.ask("one")
    await chat.ask("two")
    async with chat.stream("three") as stream:
        await stream.final()
    assert [b["chatId"] for b in server.bodies] == [chat.chat_id] * 3
    assert [b["question"] for b in server.bodies] == ["one", "two", "three"]
    assert chat.last is not None
    assert first.chat_id == chat.chat_id
    other = flowise.chat(FLOW)
    assert other.chat_id != chat.chat_id
    assert flowise.chat(FLOW, "given").chat_id == "given"


async def test_session_refuses_a_second_concurrent_ask(
    fake: tuple[_Flowise, AsyncFlowise],
) -> None:
    """While one question runs, a second ask on the session raises ChatBusyError."""
    server, flowise = fake
    chat = flowise.chat(FLOW)
    server.release.clear()
    first = asyncio.create_task(chat.ask("slow"))
    await wait_until(lambda: server.bodies, what="the first question at the server")
    assert chat.busy
    with pytest.raises(ChatBusyError, match="merge two"):
        await chat.ask("second")
    with pytest.raises(ChatBusyError):
        async with chat.stream("third"):
            pass
    server.release.set()
    assert (await first).text == "ok"
    assert not chat.busy
    assert len(server.bodies) == 1  # the refused asks sent nothing
    await chat.ask("after")  # free again


async def test_session_is_busy_while_a_stream_is_open(
    fake: tuple[_Flowise, AsyncFlowise],
) -> None:
    """A stream holds the session until its block is left, also on an error."""
    _, flowise = fake
    chat = flowise.chat(FLOW)
    with pytest.raises(RuntimeError, match="stop"):
        async with chat.stream("q"):
            assert chat.busy
            with pytest.raises(ChatBusyError):
                await chat.ask("again")
            raise RuntimeError("stop")
    assert not chat.busy


async def test_session_resumes_its_pending_action(fake: tuple[_Flowise, AsyncFlowise]) -> None:
    """A stopped streamed run leaves a pending action; resume answers it on the chat."""
    server, flowise = fake
    chat = flowise.chat(FLOW)
    async with chat.stream("delete it") as stream:
        await stream.final()
    assert chat.pending_action is not None
    assert "waiting" in repr(chat)
    server.answers.append({"text": "Echo: sure"})
    answer = await chat.resume("proceed", feedback="sure")
    assert answer.text == "Echo: sure"
    assert chat.pending_action is None
    assert server.bodies[-1]["humanInput"] == {
        "type": "proceed",
        "startNodeId": "humanInputAgentflow_0",
        "feedback": "sure",
    }


async def test_session_history_reads_the_chat(fake: tuple[_Flowise, AsyncFlowise]) -> None:
    """history() lists this chat's messages and picks up a pending action from them."""
    server, flowise = fake
    chat = flowise.chat(FLOW, "c-7")
    server.messages = [
        {"id": "1", "role": "userMessage", "content": "q", "chatId": "c-7"},
        {"id": "2", "role": "apiMessage", "content": "Shall I?", "chatId": "c-7", "action": ACTION},
        {"id": "3", "role": "userMessage", "content": "x", "chatId": "other"},
    ]
    messages = await chat.history()
    assert [m.id for m in messages] == ["1", "2"]
    assert chat.pending_action is not None
    assert chat.pending_action.id == "act-1"
    server.messages[1]["action"] = None  # resumed elsewhere
    await chat.history()
    assert chat.pending_action is None


def test_session_checks_its_ids() -> None:
    """Empty ids are refused at once."""
    flowise = make_client("http://127.0.0.1:9")
    with pytest.raises(ValueError, match="chatflow_id"):
        flowise.chat("")
    with pytest.raises(ValueError, match="chat_id"):
        flowise.chat(FLOW, "")


async def test_session_resume_not_waiting(fake: tuple[_Flowise, AsyncFlowise]) -> None:
    """A resume on a session whose run is over is a NotWaitingError (typed from the server)."""
    server, flowise = fake
    chat = flowise.chat(FLOW)

    async def refuse(request: web.Request) -> web.Response:
        message = "Error: x - No previous execution found for session " + chat.chat_id
        return web.json_response({"message": message}, status=500)

    async with (
        serve([("POST", "/api/v1/prediction/{id}", refuse)]) as url,
        make_client(url, retries=Retries(attempts=1)) as other,
    ):
        with pytest.raises(NotWaitingError):
            await other.chat(FLOW, chat.chat_id).resume()
    assert not server.bodies


# -- streamed multipart ---------------------------------------------------------------------


async def test_stream_with_files_is_a_streamed_multipart_request(tmp_path: Path) -> None:
    """The files and fields go as multipart with streaming=true; the answer is streamed."""
    seen: dict[str, Any] = {}

    async def predict(request: web.Request) -> web.StreamResponse:
        reader = await request.multipart()
        async for part in reader:
            assert isinstance(part, BodyPartReader)
            data = bytes(await part.read())
            seen.setdefault(part.name, []).append(
                (part.filename, data) if part.filename else data.decode()
            )
        return await write_sse(
            request, [frame("token", "Echo:"), frame("token", " file"), frame("end", "[DONE]")]
        )

    path = tmp_path / "notes.txt"
    path.write_bytes(b"x" * 200_000)
    async with (
        serve([("POST", "/api/v1/prediction/{id}", predict)]) as url,
        make_client(url, retries=Retries(attempts=1)) as flowise,
    ):
        async with flowise.predictions.stream_with_files(
            FLOW,
            "summarise",
            files=[path, ("b.md", b"# b")],
            override_config={"returnSourceDocuments": True},
        ) as stream:
            texts = [text async for text in stream.text_stream()]
    assert texts == ["Echo:", " file"]
    assert seen["streaming"] == ["true"]
    assert seen["question"] == ["summarise"]
    assert seen["chatId"] == [stream.chat_id]
    assert seen["returnSourceDocuments"] == ["true"]
    assert seen["files"] == [("notes.txt", b"x" * 200_000), ("b.md", b"# b")]


async def test_stream_with_files_checks_its_arguments() -> None:
    """No files, or a question that is not text, fail before any request."""
    async with make_client("http://127.0.0.1:9") as flowise:
        with pytest.raises(ValueError, match="files is empty"):
            flowise.predictions.stream_with_files(FLOW, "q", files=[])
        with pytest.raises(TypeError, match="question"):
            flowise.predictions.stream_with_files(FLOW, 3, files=[("a.txt", b"a")])  # type: ignore[arg-type]
        with pytest.raises(FileNotFoundError):
            flowise.predictions.stream_with_files(FLOW, "q", files=["/nonexistent/x.txt"])


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until *condition* holds (bounded)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_busy_guard_holds_per_chat_id_across_sessions_and_views(
    fake: tuple[_Flowise, AsyncFlowise],
) -> None:
    """
    Two sessions on one chat id (of the client or of its views) cannot ask at once; another
    chat id can, and a plain predictions call stays unguarded.
    """
    server, flowise = fake
    server.release.clear()
    first = flowise.chat(FLOW, "shared")
    running = asyncio.create_task(first.ask("slow"))
    await _until(lambda: len(server.bodies) == 1)
    twin = flowise.chat(FLOW, "shared")
    assert not twin.busy  # the session itself asks nothing
    with pytest.raises(ChatBusyError, match="another session"):
        await twin.ask("second")
    with pytest.raises(ChatBusyError):
        async with flowise.with_options(timeouts=None).chat(FLOW, "shared").stream("third"):
            pass
    with pytest.raises(ChatBusyError):
        await flowise.chat("other-flow", "shared").ask("same chat, other flow")
    assert len(server.bodies) == 1  # the refused asks sent nothing
    # Another chat id is free; plain calls on the busy chat id are not guarded.
    other = asyncio.create_task(flowise.chat(FLOW, "other").ask("parallel"))
    plain = asyncio.create_task(flowise.predictions.create(FLOW, "plain", chat_id="shared"))
    await _until(lambda: len(server.bodies) == 3)
    server.release.set()
    await asyncio.gather(running, other, plain)
    assert not first.busy
    assert (await twin.ask("after")).text == "ok"  # free again once the first answered


async def test_a_separate_client_has_its_own_busy_chats(
    fake: tuple[_Flowise, AsyncFlowise],
) -> None:
    """The guard belongs to one client (and its views): another client is not refused."""
    server, flowise = fake
    server.release.clear()
    running = asyncio.create_task(flowise.chat(FLOW, "shared").ask("slow"))
    await _until(lambda: len(server.bodies) == 1)
    async with AsyncFlowise(flowise.base_url, retries=Retries(attempts=1)) as second:
        elsewhere = asyncio.create_task(second.chat(FLOW, "shared").ask("other client"))
        await _until(lambda: len(server.bodies) == 2)
        server.release.set()
        await asyncio.gather(running, elsewhere)
