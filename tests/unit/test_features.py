"""The feature table: which release added what, and the typed error on an older server."""

from __future__ import annotations

import json
import re
import time

import aiohttp
import pytest
from aioresponses import aioresponses
from multidict import CIMultiDict

from flowise_async import (
    AsyncFlowise,
    FeatureUnavailableError,
    FlowiseError,
    NotFoundError,
    RateLimitError,
    Retries,
    UnexpectedContentError,
)
from flowise_async._event_table import decode_event
from flowise_async._features import (
    FEATURES,
    feature_for_route,
    parse_version,
    server_has,
    unavailable_error,
)
from flowise_async._transport import retry_after_from
from flowise_async.events import MetadataEvent
from flowise_async.testing import ANY_CHATFLOW, FakeFlowise


BASE = "http://flowise.test"
VERSION = f"{BASE}/api/v1/version"
EXECUTIONS = f"{BASE}/api/v1/executions"


def test_every_feature_names_a_release() -> None:
    names = [feature.name for feature in FEATURES]
    assert len(names) == len(set(names))
    for feature in FEATURES:
        assert parse_version(feature.added_in) is not None, feature


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.0.13", (3, 0, 13)),
        ("2.2.8", (2, 2, 8)),
        ("v3.1", (3, 1, 0)),
        ("3.1.0-rc.1", (3, 1, 0)),
        ("nonsense", None),
    ],
)
def test_parse_version(text: str, expected: tuple[int, int, int] | None) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize(
    ("feature", "version", "expected"),
    [
        ("executions", "2.2.8", False),
        ("executions", "3.0.0", True),
        ("text-to-speech", "3.0.7", False),
        ("text-to-speech", "3.0.8", True),
        ("thinking", "3.0.13", False),
        ("thinking", "3.1.0", True),
        ("metadata-action", "3.1.1", False),
        ("metadata-action", "3.1.2", True),
        ("heartbeat", "3.1.4", True),
        ("flow-variables", "2.2.5", False),
        ("executions", "garbage", None),
    ],
)
def test_server_has(feature: str, version: str, expected: bool | None) -> None:
    assert server_has(feature, version) is expected


def test_server_has_unknown_feature() -> None:
    with pytest.raises(KeyError):
        server_has("time-travel", "3.1.4")


@pytest.mark.parametrize(
    ("path", "feature"),
    [
        ("/api/v1/executions", "executions"),
        ("/api/v1/executions/", "executions"),
        ("/api/v1/executions/abc-123", "executions"),
        ("/api/v1/executions?sessionId=x", "executions"),
        ("http://h:3000/api/v1/public-executions/abc", "executions"),
        ("/api/v1/account/register", "account"),
        ("/api/v1/auth/login", "account"),
        ("/api/v1/text-to-speech/generate", "text-to-speech"),
        ("/api/v1/chatflows", None),
        ("/api/v1/executions/abc/extra", None),
        ("/api/v1/executionsX", None),
    ],
)
def test_feature_for_route(path: str, feature: str | None) -> None:
    found = feature_for_route(path)
    assert (found.name if found else None) == feature


def test_unavailable_on_an_older_server() -> None:
    error = unavailable_error("executions", 404, "text/html", "2.2.8")
    assert isinstance(error, FeatureUnavailableError)
    assert isinstance(error, FlowiseError)
    assert (error.feature, error.added_in, error.server_version) == ("executions", "3.0.0", "2.2.8")
    assert "3.0.0" in str(error)
    assert "2.2.8" in str(error)
    # Flowise's web page with a 200 is the other answer of an unknown route.
    assert unavailable_error("executions", 200, "text/html", "2.2.8") is not None


@pytest.mark.parametrize(
    ("feature", "status", "content_type", "version"),
    [
        ("executions", 404, "application/json", "3.1.4"),  # a real not-found
        ("executions", 404, "text/html", None),  # version unknown
        ("executions", 500, "application/json", "2.2.8"),  # not a missing route
        ("executions", 404, "", "not-a-version"),
    ],
)
def test_no_feature_error(
    feature: str, status: int, content_type: str, version: str | None
) -> None:
    assert unavailable_error(feature, status, content_type, version) is None


async def test_client_names_the_feature_on_a_2x_server(mocked: aioresponses) -> None:
    """The 404 of a 3.x route on 2.2.8 is FeatureUnavailableError; the version is read once."""
    mocked.get(EXECUTIONS, status=404, body="Cannot GET /api/v1/executions", repeat=True)
    mocked.get(
        re.compile(rf"^{EXECUTIONS}/.*$"),
        status=200,
        body="<html></html>",
        content_type="text/html",
    )
    mocked.get(VERSION, payload={"version": "2.2.8"})
    async with AsyncFlowise(BASE, retries=Retries(attempts=1)) as flowise:
        transport = flowise._transport
        with pytest.raises(FeatureUnavailableError) as info:
            await transport.request("GET", "/api/v1/executions")
        assert info.value.feature == "executions"
        assert info.value.added_in == "3.0.0"
        assert info.value.server_version == "2.2.8"
        with pytest.raises(FeatureUnavailableError):  # HTML page, version from the cache
            await transport.request("GET", "/api/v1/executions/abc")
    version_calls = [key for key in mocked.requests if str(key[1]) == VERSION]
    assert len(mocked.requests[version_calls[0]]) == 1


async def test_client_keeps_not_found_on_a_new_server(mocked: aioresponses) -> None:
    mocked.get(f"{EXECUTIONS}/missing", status=404, payload={"message": "Execution not found"})
    mocked.get(VERSION, payload={"version": "3.1.4"})
    async with AsyncFlowise(BASE, retries=Retries(attempts=1)) as flowise:
        with pytest.raises(NotFoundError, match="Execution not found"):
            await flowise._transport.request("GET", "/api/v1/executions/missing")


async def test_client_keeps_errors_when_version_unreadable(mocked: aioresponses) -> None:
    mocked.get(EXECUTIONS, status=200, body="<html></html>", content_type="text/html")
    mocked.get(VERSION, status=500, body="boom")
    async with AsyncFlowise(BASE, retries=Retries(attempts=1)) as flowise:
        with pytest.raises(UnexpectedContentError):
            await flowise._transport.request("GET", "/api/v1/executions")


async def test_other_routes_never_read_the_version(mocked: aioresponses) -> None:
    mocked.get(f"{BASE}/api/v1/chatflows/nope", status=404, payload={"message": "nope"})
    async with AsyncFlowise(BASE, retries=Retries(attempts=1)) as flowise:
        with pytest.raises(NotFoundError):
            await flowise._transport.request("GET", "/api/v1/chatflows/nope")
    assert all(str(key[1]) != VERSION for key in mocked.requests)


# -- 429: RateLimit-* (queue mode) and X-RateLimit-* (single process) ---------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7", "RateLimit-Reset": "50"}, 7.0),
        ({"RateLimit-Reset": "12"}, 12.0),
        ({"ratelimit-reset": "3"}, 3.0),
        ({"RateLimit": "limit=5, remaining=0, reset=9"}, 9.0),
        ({"X-RateLimit-Reset": "4"}, 4.0),
        ({"RateLimit-Reset": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_from_headers(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_from(CIMultiDict(headers)) == expected


def test_retry_after_from_epoch_reset() -> None:
    reset = str(int(time.time()) + 20)
    value = retry_after_from(CIMultiDict({"X-RateLimit-Reset": reset}))
    assert value is not None
    assert 15 <= value <= 21


@pytest.mark.parametrize(
    "headers",
    [
        {"RateLimit-Limit": "1", "RateLimit-Remaining": "0", "RateLimit-Reset": "42"},
        {"X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "42"},
    ],
    ids=["queue-mode", "single-process"],
)
async def test_rate_limit_error_reads_both_header_families(
    mocked: aioresponses, headers: dict[str, str]
) -> None:
    mocked.post(
        f"{BASE}/api/v1/prediction/flow", status=429, body="Too many requests", headers=headers
    )
    async with AsyncFlowise(BASE, retries=Retries(attempts=1)) as flowise:
        with pytest.raises(RateLimitError) as info:
            await flowise.predictions.create("flow", "q")
    assert info.value.retry_after == 42.0


# -- metadata.followUpPrompts: an array, a JSON string, or a JSON string of one -------------


@pytest.mark.parametrize(
    "value",
    [["Why?", "How?"], json.dumps(["Why?", "How?"]), json.dumps(json.dumps(["Why?", "How?"]))],
    ids=["array", "json-string", "json-string-twice"],
)
def test_follow_up_prompts_in_every_wire_form_are_a_list(value: object) -> None:
    data = json.dumps({"event": "metadata", "data": {"chatId": "c", "followUpPrompts": value}})
    event = decode_event(data)
    assert isinstance(event, MetadataEvent)
    assert event.follow_up_prompts == ["Why?", "How?"]


# -- FakeFlowise speaks a line's wire format -------------------------------------------------


async def _raw_stream(url: str) -> bytes:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/api/v1/prediction/flow", json={"question": "q", "streaming": True}
        ) as response,
    ):
        return await response.read()


@pytest.mark.parametrize(
    ("version", "end_frame", "heartbeats"),
    [
        ("2.2.8", b'message\ndata:{"event":"end","data":"[DONE]"}\n\n', 0),
        ("3.0.13", b'message\ndata:{"event":"end","data":"[DONE]"}\n\n', 0),
        ("3.1.4", b'message:\ndata:{"event":"end","data":"[DONE]"}\n\n', 2),
        (None, b'message:\ndata:{"event":"end","data":"[DONE]"}\n\n', 2),
    ],
)
async def test_fake_flowise_speaks_the_line_format(
    version: str | None, end_frame: bytes, heartbeats: int
) -> None:
    async with FakeFlowise(server_version=version) as fake:
        fake.answer(ANY_CHATFLOW, "a", "b", heartbeat_every=2, times=1)
        fake.answer(ANY_CHATFLOW, "partial", error="model failed", times=1)
        fake.answer(ANY_CHATFLOW, "a", "b", times=1)
        body = await _raw_stream(fake.url)
        failed = await _raw_stream(fake.url)
        async with AsyncFlowise(fake.url) as flowise:
            async with flowise.predictions.stream("flow", "q") as stream:
                text = "".join([piece async for piece in stream.text_stream()])
    assert body.endswith(end_frame)
    assert body.count(b":heartbeat\n\n") == heartbeats
    assert text == "ab"  # the client reads both formats
    error_prefix = end_frame.split(b"{", 1)[0]
    assert error_prefix + b'{"event":"error","data":"model failed"}\n\n' in failed


async def test_fake_flowise_version_route_drives_the_feature_error() -> None:
    async with FakeFlowise(server_version="2.2.8") as fake, AsyncFlowise(fake.url) as flowise:
        assert await flowise.version() == "2.2.8"
        with pytest.raises(FeatureUnavailableError) as info:
            await flowise._transport.request("GET", "/api/v1/executions")
    assert info.value.server_version == "2.2.8"
    assert info.value.feature == "executions"
