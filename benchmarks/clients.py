"""
The clients under test. Each one reads a stream the way its users would and collects what it
decodes; `Client.normalize` turns that (after the clock stopped) into ``(event, data)`` pairs
to compare with the workload's expected sequence.

A client may be asked for many streams at once: `Client.stream` is called concurrently.
"""

from __future__ import annotations

import abc
import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, ClassVar

from benchmarks.workloads import Expected


QUESTION = "What is the capital of France?"
BODY = {"question": QUESTION, "streaming": True}


class Client(abc.ABC):
    """One way of reading Flowise streams; an async context manager owning its session."""

    name: ClassVar[str]
    #: Name of the PyPI distribution whose version the report shows.
    package: ClassVar[str]
    #: ``"events"``: checked event by event; ``"bytes"``: checked by body size only.
    checks: ClassVar[str] = "events"

    def __init__(self, base_url: str, max_streams: int) -> None:
        self.base_url = base_url
        self.max_streams = max_streams

    def url(self, flow: str) -> str:
        return f"{self.base_url}/api/v1/prediction/{flow}"

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    @abc.abstractmethod
    async def stream(self, flow: str, first: Callable[[], None]) -> list[Any]:
        """Read one whole stream; call *first* once the first event arrived."""

    def normalize(self, collected: list[Any]) -> Expected:
        """Turn what `stream` collected into ``(event, data)`` pairs."""
        return [(d["event"], d["data"]) for d in collected]


class _AiohttpClient(Client):
    session: Any

    async def __aenter__(self) -> Client:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=self.max_streams)
        timeout = aiohttp.ClientTimeout(total=None)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.session.close()


class FlowiseAsync(Client):
    """``flowise_async``: typed events from ``client.predictions.stream``."""

    name = "flowise_async"
    package = "flowise-async"

    def __init__(self, base_url: str, max_streams: int, *, module: Any = None) -> None:
        super().__init__(base_url, max_streams)
        #: The imported package to use: ``flowise_async`` unless given (`benchmarks.pair`
        #: gives an earlier revision's).
        self.module = module

    async def __aenter__(self) -> Client:
        module = self.module
        if module is None:
            import flowise_async as module

        limits = module.Limits(max_connections=self.max_streams)
        self.client = module.AsyncFlowise(self.base_url, limits=limits)
        await self.client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.client.__aexit__(exc_type, exc, tb)

    async def stream(self, flow: str, first: Callable[[], None]) -> list[Any]:
        events: list[Any] = []
        append = events.append
        async with self.client.predictions.stream(flow, QUESTION) as stream:
            async for event in stream:
                if not events:
                    first()
                append(event)
        return events

    def normalize(self, collected: list[Any]) -> Expected:
        return [_typed_to_wire(e) for e in collected]


def _typed_to_wire(event: Any) -> tuple[str, Any]:
    """Map the typed events the workloads use back to Flowise's ``(event, data)``."""
    from flowise_async import events as ev

    if isinstance(event, ev.TokenEvent):
        return ("token", event.text)
    if isinstance(event, ev.StartEvent):
        return ("start", event.text)
    if isinstance(event, ev.SourceDocumentsEvent):
        docs = [
            {"pageContent": d.page_content, "metadata": dict(d.metadata), **dict(d.extra)}
            for d in event.documents
        ]
        return ("sourceDocuments", docs)
    if isinstance(event, ev.MetadataEvent):
        fields = {
            "chatId": event.chat_id,
            "chatMessageId": event.chat_message_id,
            "question": event.question,
            "sessionId": event.session_id,
            "memoryType": event.memory_type,
        }
        data = {k: v for k, v in fields.items() if v is not None}
        data.update(event.extra)
        return ("metadata", data)
    if isinstance(event, ev.EndEvent):
        return ("end", "[DONE]")
    if isinstance(event, ev.UnknownEvent):
        return (event.name, event.data)
    return (type(event).__name__, repr(event))


class RawAiohttp(_AiohttpClient):
    """The I/O ceiling: aiohttp reading the body, no decoding at all."""

    name = "raw-aiohttp"
    package = "aiohttp"
    checks = "bytes"

    async def stream(self, flow: str, first: Callable[[], None]) -> list[Any]:
        n = 0
        async with self.session.post(self.url(flow), json=BODY) as response:
            response.raise_for_status()
            async for chunk in response.content.iter_any():
                if not n:
                    first()
                n += len(chunk)
        return [n]

    def normalize(self, collected: list[Any]) -> Expected:
        return [("bytes", collected[0])]


class HandRolled(_AiohttpClient):
    """What users write by hand: aiohttp, split on ``\\n\\n``, ``json.loads`` each data line."""

    name = "hand-rolled"
    package = "aiohttp"

    async def stream(self, flow: str, first: Callable[[], None]) -> list[Any]:
        events: list[Any] = []
        append = events.append
        loads = json.loads
        buf = b""
        async with self.session.post(self.url(flow), json=BODY) as response:
            response.raise_for_status()
            async for chunk in response.content.iter_any():
                buf += chunk
                *frames, buf = buf.split(b"\n\n")
                for frame in frames:
                    for line in frame.split(b"\n"):
                        if line.startswith(b"data:"):
                            if not events:
                                first()
                            append(loads(line[5:]))
        return events


def tuned_frames(buf: bytearray, start: int) -> tuple[list[str], int]:
    """
    Cut the complete frames out of *buf*; *start* is where the separator search may begin.

    Returns the frames (text) and where the next search begins. A careful hand-written loop
    searches only the bytes that arrived since the last call (one byte back, for a separator
    split between two reads), decodes all complete frames as UTF-8 in one call (CR and LF are
    never part of a multibyte character), removes them from the front of the buffer in one
    step, and gives `json.loads` text, which it need not decode again.
    """
    end = buf.rfind(b"\n\n", start)
    if end < 0:
        return [], max(len(buf) - 1, 0)
    text = buf[:end].decode()
    del buf[: end + 2]
    return text.split("\n\n"), max(len(buf) - 1, 0)


class HandTuned(_AiohttpClient):
    """
    The tuned hand-written loop: a ``bytearray`` buffer, the separator searched (``rfind``)
    only in the new bytes, ``json.loads`` of each ``data:`` line.
    """

    name = "hand-tuned"
    package = "aiohttp"

    async def stream(self, flow: str, first: Callable[[], None]) -> list[Any]:
        events: list[Any] = []
        append = events.append
        loads = json.loads
        buf = bytearray()
        start = 0
        async with self.session.post(self.url(flow), json=BODY) as response:
            response.raise_for_status()
            async for chunk in response.content.iter_any():
                buf += chunk
                frames, start = tuned_frames(buf, start)
                for frame in frames:
                    for line in frame.split("\n"):
                        if line.startswith("data:"):
                            if not events:
                                first()
                            append(loads(line[5:]))
        return events


class AiohttpSSEClient(_AiohttpClient):
    """``aiohttp-sse-client``'s ``EventSource`` (one shared session), ``json.loads`` each event."""

    name = "aiohttp-sse-client"
    package = "aiohttp-sse-client"

    async def stream(self, flow: str, first: Callable[[], None]) -> list[Any]:
        from aiohttp_sse_client.client import EventSource

        events: list[Any] = []
        append = events.append
        loads = json.loads
        source = EventSource(
            self.url(flow), option={"method": "POST"}, session=self.session, json=BODY
        )
        async with source:
            async for message in source:
                if not events:
                    first()
                data = loads(message.data)
                append(data)
                # EventSource reconnects when the body ends: stop at Flowise's last frame.
                if data["event"] == "end":
                    break
        return events


class HttpxSSE(Client):
    """``httpx`` + ``httpx-sse``'s ``aconnect_sse``, ``json.loads`` each event."""

    name = "httpx-sse"
    package = "httpx-sse"

    async def __aenter__(self) -> Client:
        import httpx

        limits = httpx.Limits(
            max_connections=self.max_streams, max_keepalive_connections=self.max_streams
        )
        self.client = httpx.AsyncClient(limits=limits, timeout=None)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.client.aclose()

    async def stream(self, flow: str, first: Callable[[], None]) -> list[Any]:
        from httpx_sse import aconnect_sse

        events: list[Any] = []
        append = events.append
        loads = json.loads
        async with aconnect_sse(self.client, "POST", self.url(flow), json=BODY) as source:
            source.response.raise_for_status()
            async for sse in source.aiter_sse():
                if not events:
                    first()
                append(loads(sse.data))
        return events


class FlowiseSDK(Client):
    """The official ``flowise`` SDK (synchronous, ``requests``), one worker thread per stream."""

    name = "flowise-sdk"
    package = "flowise"

    async def __aenter__(self) -> Client:
        from flowise import Flowise

        self.client = Flowise(self.base_url)
        self.pool = ThreadPoolExecutor(max_workers=self.max_streams)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _read(self, flow: str, first: Callable[[], None]) -> list[Any]:
        from flowise import PredictionData

        events: list[Any] = []
        append = events.append
        loads = json.loads
        data = PredictionData(chatflowId=flow, question=QUESTION, streaming=True)
        for line in self.client.create_prediction(data):
            if not events:
                first()
            append(loads(line))
        return events

    async def stream(self, flow: str, first: Callable[[], None]) -> list[Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self._read, flow, first)


class FlowiseSync(Client):
    """``flowise_async.sync.SyncFlowise``: the typed events, blocking; a thread per stream."""

    name = "flowise_async-sync"
    package = "flowise-async"

    async def __aenter__(self) -> Client:
        from flowise_async import Limits, SyncFlowise

        self.client = SyncFlowise(self.base_url, limits=Limits(max_connections=self.max_streams))
        self.pool = ThreadPoolExecutor(max_workers=self.max_streams)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.pool.shutdown(wait=True)
        self.client.close()

    def _read(self, flow: str, first: Callable[[], None]) -> list[Any]:
        events: list[Any] = []
        append = events.append
        with self.client.predictions.stream(flow, QUESTION) as stream:
            for event in stream:
                if not events:
                    first()
                append(event)
        return events

    async def stream(self, flow: str, first: Callable[[], None]) -> list[Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self._read, flow, first)

    def normalize(self, collected: list[Any]) -> Expected:
        return [_typed_to_wire(e) for e in collected]


CLIENTS: dict[str, type[Client]] = {
    c.name: c
    for c in (
        FlowiseAsync,
        FlowiseSync,
        RawAiohttp,
        HandTuned,
        HandRolled,
        AiohttpSSEClient,
        HttpxSSE,
        FlowiseSDK,
    )
}
BASELINE = FlowiseAsync.name
