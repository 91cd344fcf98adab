"""Failures against a real Flowise arrive as the library's typed errors."""

from __future__ import annotations

import time
import uuid

import pytest

from flowise_async import (
    APIStatusError,
    APITimeoutError,
    AsyncFlowise,
    AuthenticationError,
    BadRequestError,
    EventStream,
    NotFoundError,
    ServerEventError,
    Timeouts,
)
from flowise_async.events import ErrorEvent, TokenEvent
from harness.fake_llm import ERROR_MESSAGE
from harness.server import RealFlowise
from tests.integration.conftest import ALL_LINES


pytestmark = pytest.mark.integration


async def _drain(stream: EventStream) -> None:
    async with stream:
        async for _ in stream:
            pass


@pytest.mark.lines(*ALL_LINES)  # 2.x sends the error data as a plain string, 3.x too
async def test_model_failure_raises_server_event_error_with_the_servers_message(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """A model that answers HTTP 400 becomes Flowise's in-band error: ServerEventError."""
    with pytest.raises(ServerEventError) as caught:
        await _drain(client.predictions.stream(chatflows["conversation"], "boom [[error]]"))
    assert ERROR_MESSAGE in caught.value.message
    assert "predictionsServices.buildChatflow" in caught.value.message


@pytest.mark.lines(*ALL_LINES)
async def test_model_failure_can_be_received_as_an_error_event(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """With raise_on_error=False the same failure is yielded as an ErrorEvent."""
    async with client.predictions.stream(
        chatflows["conversation"], "boom [[error]]", raise_on_error=False
    ) as stream:
        events = [event async for event in stream]
    errors = [event for event in events if isinstance(event, ErrorEvent)]
    assert len(errors) == 1
    assert ERROR_MESSAGE in errors[0].message
    assert not [event for event in events if isinstance(event, TokenEvent) and event.text]


async def test_flow_failing_at_run_time_streams_error_and_non_streamed_gives_500(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """A flow that cannot be built: in-band error when streamed, a 500 status error when not."""
    flow_id = chatflows["retrieval-broken"]
    with pytest.raises(ServerEventError, match="chunkOverlap"):
        await _drain(client.predictions.stream(flow_id, "anything"))

    with pytest.raises(APIStatusError) as caught:
        await client.predictions.create(flow_id, "anything")
    assert caught.value.status == 500
    assert "chunkOverlap" in caught.value.message


async def test_wrong_api_key_on_a_protected_route_raises_authentication_error(
    real_flowise: RealFlowise,
) -> None:
    """Listing chatflows with a key the server does not know gives AuthenticationError."""
    async with AsyncFlowise(real_flowise.base_url, api_key="not-a-valid-key") as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.chatflows.list()
    assert caught.value.status == 401
    assert "not-a-valid-key" not in str(caught.value)


async def test_right_api_key_lists_the_chatflows(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """The bootstrapped key reads the chatflows the session created (control for the above)."""
    listed = {flow.id for flow in await client.chatflows.list()}
    assert set(chatflows.values()) <= listed


async def test_unknown_chatflow_streamed_times_out_waiting_for_headers(
    real_flowise: RealFlowise,
) -> None:
    """Flowise never answers a streamed request for an unknown flow: the headers timeout fires."""
    timeouts = Timeouts(connect=5, headers=3, idle=60)
    async with AsyncFlowise(
        real_flowise.base_url, api_key=real_flowise.api_key, timeouts=timeouts
    ) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            await _drain(client.predictions.stream(str(uuid.uuid4()), "hello"))
        elapsed = time.monotonic() - started
    assert 2.5 <= elapsed < 15


async def test_unknown_chatflow_not_streamed_raises_not_found(client: AsyncFlowise) -> None:
    """Without streaming the server does answer: 404 with its message."""
    flow_id = str(uuid.uuid4())
    with pytest.raises(NotFoundError) as caught:
        await client.predictions.create(flow_id, "hello")
    assert caught.value.status == 404
    assert flow_id in caught.value.message


async def test_malformed_request_raises_bad_request(client: AsyncFlowise) -> None:
    """A chatflow of a type the server does not know is refused with 400: BadRequestError."""
    with pytest.raises(BadRequestError) as caught:
        await client.chatflows.create(
            name="it-bad-type", type="NOT_A_FLOW_TYPE", flow_data={"nodes": [], "edges": []}
        )
    assert caught.value.status == 400
    assert "Invalid Chatflow Type" in caught.value.message
