"""The bound on the silence between events (Timeouts.event): comments and heartbeats do not count."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from flowise_async import APITimeoutError, Timeouts
from tests._clients import make_client

from ._server import SSE_HEADERS, frame, serve


# Every scenario runs against AsyncFlowise and SyncFlowise (tests/_clients.py).
pytestmark = pytest.mark.usefixtures("client_kind")


META = {"chatId": "chat-1", "chatMessageId": "msg-1", "question": "q", "sessionId": "chat-1"}


async def test_only_heartbeats_hit_the_event_timeout() -> None:
    """A server sending only :heartbeat comments: APITimeoutError(phase='event'), idle unmet."""

    async def heartbeats(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers=SSE_HEADERS)
        await resp.prepare(request)
        await resp.write(frame("start", ""))
        for _ in range(200):  # bounded: 10 s at most
            await resp.write(b":heartbeat\n\n")
            await asyncio.sleep(0.05)
        return resp

    routes = [("POST", "/api/v1/prediction/{flow}", heartbeats)]
    async with serve(routes) as base:
        timeouts = Timeouts(event=0.4, idle=5)
        async with make_client(base, timeouts=timeouts) as flowise:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(APITimeoutError) as info:
                async with flowise.predictions.stream("f", "q") as stream:
                    await stream.final()
            waited = loop.time() - started
            assert flowise.pool_stats()["acquired"] == 0
    assert info.value.phase == "event"
    assert "Timeouts(event=" in str(info.value)
    assert waited < 5  # the event bound fired, not the idle timeout


async def test_events_keep_the_event_timeout_from_firing() -> None:
    """Events (not comments) arriving more often than the bound: the run completes."""
    frames: list[Any] = []

    async def slow(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers=SSE_HEADERS)
        await resp.prepare(request)
        for index in range(6):
            await resp.write(frame("token", str(index)))
            await resp.write(b":heartbeat\n\n")
            await asyncio.sleep(0.1)
        await resp.write(frame("metadata", META) + frame("end", "[DONE]"))
        frames.append(True)
        return resp

    async with serve([("POST", "/api/v1/prediction/{flow}", slow)]) as base:
        async with make_client(base, timeouts=Timeouts(event=0.35)) as flowise:
            async with flowise.predictions.stream("f", "q", timeouts=Timeouts(headers=5)) as stream:
                prediction = await stream.final()
    assert prediction.text == "012345"
    assert frames == [True]


async def test_total_silence_after_a_heartbeat_is_still_the_idle_timeout() -> None:
    """A heartbeat, then nothing at all: the idle timeout fires first and says so."""

    async def silent(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers=SSE_HEADERS)
        await resp.prepare(request)
        await resp.write(b":heartbeat\n\n")
        await asyncio.sleep(10)
        return resp  # pragma: no cover - the client left

    async with serve([("POST", "/api/v1/prediction/{flow}", silent)]) as base:
        async with make_client(base, timeouts=Timeouts(event=5, idle=0.3)) as flowise:
            with pytest.raises(APITimeoutError) as info:
                async with flowise.predictions.stream("f", "q") as stream:
                    await stream.final()
    assert info.value.phase == "idle"


async def test_total_silence_after_an_event_hits_the_event_timeout_without_idle() -> None:
    """An event, then nothing at all (no comment either) and no idle timeout: the event bound."""

    async def silent(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers=SSE_HEADERS)
        await resp.prepare(request)
        await resp.write(frame("token", "a"))
        await asyncio.sleep(10)
        return resp  # pragma: no cover - the client left

    async with serve([("POST", "/api/v1/prediction/{flow}", silent)]) as base:
        async with make_client(base, timeouts=Timeouts(event=0.3, idle=None)) as flowise:
            texts: list[str] = []
            with pytest.raises(APITimeoutError) as info:
                async with flowise.predictions.stream("f", "q") as stream:
                    async for event in stream:
                        texts.append(getattr(event, "text", ""))
            assert flowise.pool_stats()["acquired"] == 0
    assert texts == ["a"]
    assert info.value.phase == "event"


async def test_a_slow_consumer_is_not_counted_as_server_silence() -> None:
    """The consumer busy longer than the bound between two events: no event timeout."""

    async def two(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers=SSE_HEADERS)
        await resp.prepare(request)
        await resp.write(frame("token", "a"))
        await asyncio.sleep(0.5)
        await resp.write(frame("token", "b") + frame("metadata", META) + frame("end", "[DONE]"))
        return resp

    async with serve([("POST", "/api/v1/prediction/{flow}", two)]) as base:
        async with make_client(base, timeouts=Timeouts(event=0.3, idle=None)) as flowise:
            texts: list[str] = []
            async with flowise.predictions.stream("f", "q") as stream:
                async for event in stream:
                    text = getattr(event, "text", None)
                    if text:
                        texts.append(text)
                        if text == "a":
                            await asyncio.sleep(0.8)  # busy past the bound and past "b"
    assert texts == ["a", "b"]
