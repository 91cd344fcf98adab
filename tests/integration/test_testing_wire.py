"""The fake server of flowise_async.testing writes the same bytes as a real Flowise."""

from __future__ import annotations

import uuid

import pytest

from flowise_async._stream import EventDecoder
from flowise_async.testing import HEARTBEAT, FakeFlowise
from harness.server import RealFlowise
from harness.wire import capture_stream, split_frames


pytestmark = pytest.mark.integration


def _frames(body: bytes) -> list[bytes]:
    return [frame for frame in split_frames(body) if frame != HEARTBEAT]


@pytest.mark.parametrize("flow", ["conversation", "retrieval", "toolagent", "agentflow"])
async def test_fake_server_replays_a_real_stream_byte_for_byte(
    real_flowise: RealFlowise, chatflows: dict[str, str], flow: str
) -> None:
    """Scripted with the events of a real run, the fake writes the real frames and headers."""
    chat_id = f"wire-{uuid.uuid4()}"
    question = "What is the capital of France? [[calc=6*7]]"
    real = await capture_stream(
        real_flowise.base_url,
        chatflows[flow],
        question,
        chat_id=chat_id,
        api_key=real_flowise.api_key,
    )
    assert real.status == 200
    real_frames = _frames(real.body)
    decoder = EventDecoder()
    events = decoder.feed(real.body) + decoder.flush()
    assert len(events) == len(real_frames)

    async with FakeFlowise() as server:
        server.answer("fake-flow", events=events)
        fake = await capture_stream(server.url, "fake-flow", question, chat_id=chat_id)

    assert fake.status == 200
    assert fake.content_type == real.content_type == "text/event-stream"
    assert _frames(fake.body) == real_frames
    # One HTTP chunk per frame, as Flowise writes them: no chunk splits a frame.
    for chunk in fake.chunks:
        assert split_frames(chunk)
