"""Chatflows, ping/version and error mapping against a real Flowise."""

from __future__ import annotations

import logging
import uuid

import pytest

from flowise_async import (
    AsyncFlowise,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
)
from flowise_async.models import Page
from harness.server import RealFlowise


pytestmark = pytest.mark.integration

LINES = ("2.2.8", "3.0.13", "3.1.4")  # the API is the same in queue mode


async def test_ping_and_version(client: AsyncFlowise) -> None:
    """ping() reads the text/html pong; version() the package version."""
    assert await client.ping() == "pong"
    version = await client.version()
    assert version.count(".") == 2


async def test_chatflow_round_trip(
    client: AsyncFlowise, real_flowise: RealFlowise, chatflows: dict[str, str]
) -> None:
    """create, get, list (filter, page, iter), update and delete one chatflow."""
    name = f"it-crud-{uuid.uuid4().hex[:8]}"
    flow = await client.chatflows.create(
        name=name,
        flow_data=real_flowise.flow_data("conversation"),
        api_config={"rateLimit": {"status": False}},
    )
    try:
        assert flow.name == name
        assert isinstance(flow.flow_data, dict)
        assert {node["id"] for node in flow.flow_data["nodes"]} >= {"chatOpenAI_0"}
        assert flow.api_config == {"rateLimit": {"status": False}}

        got = await client.chatflows.get(flow.id)
        assert got.flow_data == flow.flow_data
        assert got.type == "CHATFLOW"

        listed = await client.chatflows.list(type="CHATFLOW")
        assert flow.id in {f.id for f in listed}
        agentflows = await client.chatflows.list(type="AGENTFLOW")
        if real_flowise.version.startswith("2."):  # 2.x ignores the type filter
            assert flow.id in {f.id for f in agentflows}
        else:
            assert flow.id not in {f.id for f in agentflows}
        page = await client.chatflows.list(page=1, limit=1)
        assert isinstance(page, Page)
        # 2.x ignores page and limit: one page holds everything.
        assert len(page.items) == (page.total if real_flowise.version.startswith("2.") else 1)
        assert page.total >= len(chatflows) + 1
        walked = [f.id async for f in client.chatflows.iter(page_size=2)]
        assert len(walked) == page.total
        assert len(set(walked)) == len(walked)
        assert flow.id in walked

        updated = await client.chatflows.update(flow.id, name=name + "-2", category="tests")
        assert updated.name == name + "-2"
        assert updated.category == "tests"
        assert updated.flow_data == flow.flow_data
    finally:
        result = await client.chatflows.delete(flow.id)
    assert result.affected == 1
    with pytest.raises(NotFoundError):
        await client.chatflows.get(flow.id)


async def test_bad_ids(client: AsyncFlowise, real_flowise: RealFlowise) -> None:
    """
    A non-UUID chatflow id is a BadRequestError (3.x); 2.x looks it up: NotFoundError on
    SQLite, and on PostgreSQL, which refuses the malformed UUID, a 500 (InternalServerError).
    """
    expected: type[Exception] = BadRequestError
    if real_flowise.version.startswith("2."):
        expected = NotFoundError if real_flowise.database == "sqlite" else InternalServerError
    with pytest.raises(expected):
        await client.chatflows.get("not-a-uuid")


async def test_is_streaming_and_uploads_config(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """The public helpers tell streamable from non-streamable flows and describe uploads."""
    assert await client.chatflows.is_streaming(chatflows["conversation"]) is True
    assert await client.chatflows.is_streaming(chatflows["conversation-nonstreaming"]) is False
    config = await client.chatflows.uploads_config(chatflows["conversation"])
    assert config.is_image_upload_allowed is False
    assert config.is_speech_to_text_enabled is False


async def test_list_for_key(
    client: AsyncFlowise,
    chatflows: dict[str, str],
    real_flowise: RealFlowise,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """
    Flows reachable with a key in the path; an unknown key is refused and redacted. On
    PostgreSQL the server's own query fails (it compares with ``""``, which PostgreSQL reads as
    an empty identifier): a 500 on every line.
    """
    if real_flowise.database == "postgres":
        with pytest.raises(InternalServerError) as failed:
            await client.chatflows.list_for_key(real_flowise.api_key)
        assert "getChatflowByApiKey" in str(failed.value)
        assert real_flowise.api_key not in str(failed.value)
    else:
        flows = await client.chatflows.list_for_key(real_flowise.api_key)
        assert set(chatflows.values()) <= {flow.id for flow in flows}
    bogus = "bogus-key-" + uuid.uuid4().hex
    with caplog.at_level(logging.DEBUG, logger="flowise_async"):
        with pytest.raises(AuthenticationError) as info:
            await client.chatflows.list_for_key(bogus)
    assert bogus not in str(info.value)
    assert bogus not in caplog.text


async def test_wrong_key_is_an_authentication_error(real_flowise: RealFlowise) -> None:
    """The global key gate's 401 surfaces as AuthenticationError on every protected group."""
    async with AsyncFlowise(real_flowise.base_url, api_key="wrong") as bad:
        with pytest.raises(AuthenticationError) as info:
            await bad.tools.list()
    assert info.value.server_message == "Unauthorized Access"
