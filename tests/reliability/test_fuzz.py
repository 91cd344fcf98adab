"""
Hostile input: arbitrary bytes, cut at arbitrary places, fed to the SSE and event decoders.

Only the documented exceptions may escape (`SSEProtocolError`, `EventDecodeError`; never
IndexError, KeyError, RecursionError ...), and what a decoder holds stays bounded by its cap.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowise_async import EventDecodeError, EventStream, SSEProtocolError, StreamError
from flowise_async._sse import LINE_ALLOWANCE, SSEDecoder
from flowise_async._stream import EventDecoder


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CAP = 256


def held(decoder: SSEDecoder) -> int:
    """Characters the decoder keeps between calls: the unterminated line and the event's data."""
    return sum(len(p) for p in decoder._pending) + sum(len(d) + 1 for d in decoder._data)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """*data* cut at arbitrary places."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# Pieces that reach the decoders' branches more often than uniform random bytes would.
PIECES = st.sampled_from(
    [
        b"message:",
        b"message",
        b"data:",
        b"data: ",
        b"event:",
        b"event: token",
        b"id:",
        b"id:\x00",
        b"retry:",
        b"retry: 1000",
        b":heartbeat",
        b":",
        b"\n",
        b"\r",
        b"\r\n",
        b"\n\n",
        b"\xef\xbb\xbf",
        b"\xff",
        b"\xc3",
        b"\xe2\x82",
        b"\x00",
        b'{"event":"token","data":"hi"}',
        b'{"event":"token","data":',
        b'{"event":"metadata","data":{"chatId":1}}',
        b'{"event":"sourceDocuments","data":[{"pageContent":5}]}',
        b'{"event":"usedTools","data":"x"}',
        b'{"event":"agentFlowExecutedData","data":[[]]}',
        b'{"event":"end","data":"[DONE]"}',
        b'{"event":"error","data":{"nested":true}}',
        b'{"event":"x"}',
        b"[" * 50,
        b"[" * 5000,
        b'{"a":' * 3000,
        b"null",
        b"1e999999",
        b'"\\ud800"',
        b"x" * 300,
    ]
)
SSE_LIKE = st.lists(st.one_of(PIECES, st.binary(max_size=20)), max_size=40).map(b"".join)
ANY_INPUT = st.one_of(st.binary(max_size=2000), SSE_LIKE)


@FUZZ
@given(data=st.data(), raw=ANY_INPUT)
def test_sse_decoder_only_raises_protocol_errors_and_stays_bounded(data: Any, raw: bytes) -> None:
    """Any bytes in any chunks: events or SSEProtocolError, and never more than the cap held."""
    decoder = SSEDecoder(CAP)
    error: SSEProtocolError | None = None
    try:
        for chunk in data.draw(chunked(raw)):
            for event in decoder.feed(chunk):
                assert len(event.data) <= CAP
            assert held(decoder) <= CAP + LINE_ALLOWANCE + len(chunk) + 1
        decoder.flush()
    except SSEProtocolError as exc:
        error = exc
    assert error is None or "max_event_size" in str(error)


@FUZZ
@given(data=st.data(), raw=ANY_INPUT)
def test_sse_decoder_chunking_does_not_change_events(data: Any, raw: bytes) -> None:
    """Without a cap in play, any chunking yields the events of one whole feed."""
    whole = SSEDecoder()
    expected = [*whole.feed(raw), *whole.flush()]
    decoder = SSEDecoder()
    got = []
    for chunk in data.draw(chunked(raw)):
        got.extend(decoder.feed(chunk))
    got.extend(decoder.flush())
    assert got == expected


@FUZZ
@given(data=st.data(), raw=ANY_INPUT, cap=st.sampled_from([64, CAP, 1 << 20]))
def test_event_decoder_only_raises_documented_errors(data: Any, raw: bytes, cap: int) -> None:
    """Any bytes to typed events: events, SSEProtocolError or EventDecodeError, nothing else."""
    decoder = EventDecoder(cap)
    error: EventDecodeError | None = None
    try:
        for chunk in data.draw(chunked(raw)):
            decoder.feed(chunk)
        decoder.flush()
    except SSEProtocolError:
        pass
    except EventDecodeError as exc:
        error = exc
    if error is not None:
        assert len(error.data) <= 1000
        assert "supported release" in str(error)


@pytest.mark.parametrize("depth", [10, 900, 1_000, 5_000, 100_000])
@pytest.mark.parametrize(
    "shape",
    [
        "{open}",
        '{{"event":"token","data":{open}"x"{close}}}',
        '{{"event":"metadata","data":{{"chatId":"c","extra":{open}1{close}}}}}',
        '{{"event":"sourceDocuments","data":[{{"pageContent":"p","metadata":{open}1{close}}}]}}',
        '{{"event":"usedTools","data":[{{"tool":"t","toolInput":{open}1{close}}}]}}',
    ],
    ids=["bare", "token", "metadata", "documents", "tools"],
)
def test_deeply_nested_json_is_a_decode_error_or_an_event(shape: str, depth: int) -> None:
    """JSON nested thousands deep is an EventDecodeError (not a RecursionError) or decodes."""
    text = shape.format(open="[" * depth, close="]" * depth)
    decoder = EventDecoder()
    try:
        events = decoder.feed(b"message:\ndata:" + text.encode() + b"\n\n")
    except EventDecodeError as exc:
        message = str(exc)
    else:
        assert len(events) == 1
        json.loads(text)  # it decoded, so it is JSON within the parser's depth
        return
    assert "nested too deeply" in message or "cannot decode" in message or "JSON" in message


def test_endless_line_memory_is_bounded() -> None:
    """100 MiB without a newline, fed in 64 KiB chunks, fails after about the cap, holding no more."""
    cap = 1 << 20
    decoder = SSEDecoder(cap)
    chunk = b"a" * 65536
    fed = 0
    with pytest.raises(SSEProtocolError):
        while fed < 100 << 20:
            decoder.feed(chunk)
            fed += len(chunk)
            assert held(decoder) <= cap + len(chunk)
    assert fed <= cap + len(chunk)


class FakeBody:
    """An event-stream body that yields the given chunks, then ends."""

    status = 200
    content_type = "text/event-stream"
    method = "POST"
    url = "http://127.0.0.1/api/v1/prediction/x"

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.closed: bool | None = None  # None: open; else whether it was reused

    async def read(self) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""

    async def read_all(self, limit: int) -> bytes:
        raise AssertionError("not used for event streams")

    def close(self, *, reuse: bool) -> None:
        if self.closed is None:
            self.closed = reuse


@FUZZ
@given(data=st.data(), raw=ANY_INPUT, end=st.booleans())
async def test_event_stream_only_raises_stream_errors_and_closes(
    data: Any, raw: bytes, end: bool
) -> None:
    """An EventStream over any bytes yields events or raises a StreamError, and always closes its body."""
    chunks = data.draw(
        chunked(raw + (b'message:\ndata:{"event":"end","data":"[DONE]"}\n\n' if end else b""))
    )
    body = FakeBody(chunks)

    async def opener() -> FakeBody:
        return body

    aborts: list[int] = []
    stream = EventStream(
        opener,
        chat_id="c",
        chatflow_id="f",
        abort_hook=lambda: aborts.append(1),
        max_event_size=CAP,
    )
    failed = False
    try:
        async with stream:
            async for _ in stream:
                pass
    except StreamError:
        failed = True
    assert body.closed is not None
    assert len(aborts) <= 1
    if not failed:
        assert body.closed is True  # read to its end: reusable
        assert aborts == []
