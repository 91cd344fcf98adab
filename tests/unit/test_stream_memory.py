"""A long answer costs about its own size: token texts are compacted, or dropped on request."""

from __future__ import annotations

import json

import pytest

from flowise_async import ClientStateError
from flowise_async import events as ev
from flowise_async._accumulate import PredictionAccumulator

from .test_stream_body import Body, collect, make


def frame(event: str, data: object) -> bytes:
    return b"message:\ndata:" + json.dumps({"event": event, "data": data}).encode() + b"\n\n"


# ASCII, Latin-1, CJK, emoji, and a surrogate pair cut between two tokens (JSON allows it).
WORDS = [" the", " café", " 東京", " 🚀", "\ud83d", "\ude80", "\n", ' "q"']


def run_body(tokens: list[str], per_chunk: int) -> Body:
    frames = [frame("start", ""), *(frame("token", t) for t in tokens), frame("end", "[DONE]")]
    chunks = [b"".join(frames[i : i + per_chunk]) for i in range(0, len(frames), per_chunk)]
    return Body(*chunks)


@pytest.mark.asyncio
async def test_long_answer_is_compacted_and_comes_back_whole() -> None:
    tokens = [WORDS[i % len(WORDS)] for i in range(5_000)]
    stream = make(run_body(tokens, per_chunk=37))
    longest = 0
    seen: list[str] = []
    async with stream:
        async for event in stream:
            longest = max(longest, len(stream._parts.texts))
            if isinstance(event, ev.TokenEvent):
                seen.append(event.text)
            if len(seen) == 2_345:
                assert stream.text == "".join(tokens[:2_345])
        prediction = await stream.final()
    assert seen == tokens
    assert prediction.text == "".join(tokens)
    assert stream.text == "".join(tokens)
    # Never more than one batch of texts plus one chunk's tokens between compactions.
    assert longest < PredictionAccumulator.COMPACT_AT + 37
    assert stream._parts._blocks  # the bulk of the answer lives in compact blocks


@pytest.mark.asyncio
async def test_keep_text_false_yields_every_token_and_final_says_why() -> None:
    tokens = [WORDS[i % len(WORDS)] for i in range(3_000)]
    stream = make(run_body(tokens, per_chunk=100), keep_text=False)
    events = await collect(stream)
    assert [e.text for e in events if isinstance(e, ev.TokenEvent)] == tokens
    assert isinstance(events[-1], ev.EndEvent)
    with pytest.raises(ClientStateError, match="keep_text=False"):
        _ = stream.text
    with pytest.raises(ClientStateError, match="keep_text=False"):
        await stream.final()
    assert not stream._parts._blocks
    assert len(stream._parts.texts) < PredictionAccumulator.COMPACT_AT + 100


@pytest.mark.asyncio
async def test_keep_text_false_final_raises_before_reading() -> None:
    body = run_body(["a", "b"], per_chunk=1)
    stream = make(body, keep_text=False)
    with pytest.raises(ClientStateError, match="keep_text=True"):
        await stream.final()
    assert body.reads == 0


def test_accumulator_compact_keeps_order_and_drops_without_keep_text() -> None:
    parts = PredictionAccumulator()
    parts.texts.extend(["a", "\ud83d"])
    parts.compact()
    parts.texts.extend(["\ude80", "é"])
    assert parts.texts == ["\ude80", "é"]
    assert parts.text == "a\ud83d\ude80é"
    dropped = PredictionAccumulator(keep_text=False)
    dropped.texts.append("x")
    dropped.compact()
    assert dropped.texts == []
    with pytest.raises(ClientStateError):
        _ = dropped.text


async def test_predictions_stream_passes_keep_text() -> None:
    from aiohttp import web

    from flowise_async import AsyncFlowise

    from ._server import conversation, serve, write_sse

    writes = conversation("Echo:", " hello")

    async def handler(request: web.Request) -> web.StreamResponse:
        return await write_sse(request, writes)

    path = "/api/v1/prediction/{flow}"
    async with serve([("POST", path, handler)]) as base, AsyncFlowise(base) as flowise:
        async with flowise.predictions.stream("flow", "q", keep_text=False) as stream:
            texts = [text async for text in stream.text_stream()]
            with pytest.raises(ClientStateError, match="keep_text=False"):
                await stream.final()
        async with flowise.predictions.stream("flow", "q") as stream:
            assert (await stream.final()).text == "Echo: hello"
    assert texts == ["Echo:", " hello"]
