"""Per-call options, client views (with_options) and raw responses, against a MockTransport."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from flowise_async import (
    APIResponse,
    APITimeoutError,
    AsyncFlowise,
    ClientStateError,
    InternalServerError,
    Prediction,
    Retries,
    RunStatus,
    Timeouts,
)
from flowise_async._resources._base import Resource
from flowise_async.mock import MockRequest, MockResponse, MockTransport

from ._server import conversation


BASE = "http://flowise.test"
KEY = "sk-client-key-0123456789"
TENANT_KEY = "sk-tenant-key-9876543210"
SSE = "text/event-stream"


def answer(request: MockRequest) -> MockResponse:
    """A prediction answer: streamed when asked to stream, else JSON; JSON {} elsewhere."""
    if request.path.startswith("/api/v1/prediction/"):
        if (request.json or {}).get("streaming"):
            return MockResponse(200, content=conversation("Hel", "lo"), content_type=SSE)
        return MockResponse(200, json={"text": "Hello", "chatId": "chat-1", "question": "q"})
    return MockResponse(200, json={})


# -- Timeouts ------------------------------------------------------------------------------


def test_a_partial_timeouts_inherits_the_fields_it_does_not_set() -> None:
    """Timeouts(headers=5) over a client's values keeps the client's idle, not the default."""
    client = Timeouts(idle=0.3, connect=2)
    merged = Timeouts(headers=5).merge(client)
    assert (merged.headers, merged.idle, merged.connect) == (5, 0.3, 2)
    assert merged.event == Timeouts().event  # neither set it: the library default
    assert Timeouts(headers=5).given == frozenset({"headers"})
    assert Timeouts(idle=None).merge(client).idle is None  # an explicit None disables
    assert Timeouts().merge(client) is client


async def test_per_call_timeouts_keep_the_clients_idle_timeout() -> None:
    """A client with idle=0.3 and a call with Timeouts(headers=5) times out after ~0.3 s."""

    async def stalled() -> AsyncIterator[bytes]:
        yield conversation("Hel")[0]
        await asyncio.sleep(30)
        yield b""  # pragma: no cover - never reached

    def handler(request: MockRequest) -> MockResponse:
        return MockResponse(200, content=stalled(), content_type=SSE)

    timeouts = Timeouts(idle=0.3)
    async with AsyncFlowise(BASE, transport=MockTransport(handler), timeouts=timeouts) as flowise:
        async with asyncio.timeout(5):  # the library default (120 s) would hit this instead
            with pytest.raises(APITimeoutError) as info:
                async with flowise.predictions.stream(
                    "f", "q", timeouts=Timeouts(headers=5)
                ) as stream:
                    await stream.final()
    assert info.value.phase == "idle"
    assert "0.3 s" in str(info.value)


# -- with_options --------------------------------------------------------------------------


async def test_with_options_shares_the_pool_and_overrides_settings() -> None:
    """A view sends with its key and headers, merges timeouts, and opens no pool of its own."""
    mock = MockTransport(answer)
    async with AsyncFlowise(
        BASE,
        api_key=KEY,
        transport=mock,
        headers={"X-App": "demo", "X-Team": "a"},
        timeouts=Timeouts(idle=7),
    ) as flowise:
        view = flowise.with_options(
            api_key=TENANT_KEY,
            headers={"X-Team": "b"},
            timeouts=Timeouts(headers=9),
            retries=Retries(attempts=1),
        )
        assert view._transport is flowise._transport
        assert (view.timeouts.headers, view.timeouts.idle) == (9, 7)
        assert view.retries == Retries(attempts=1)
        assert flowise.timeouts.headers == Timeouts().headers  # the client is unchanged
        await view.predictions.create("f", "q")
        await flowise.predictions.create("f", "q")
        nested = view.with_options(headers={"X-More": "1"})
        await nested.ping()
    tenant, own, more = mock.requests
    assert tenant.headers["Authorization"] == f"Bearer {TENANT_KEY}"
    assert (tenant.headers["X-App"], tenant.headers["X-Team"]) == ("demo", "b")
    assert own.headers["Authorization"] == f"Bearer {KEY}"
    assert own.headers["X-Team"] == "a"
    assert more.headers["Authorization"] == f"Bearer {TENANT_KEY}"  # inherited by the nested
    assert (more.headers["X-Team"], more.headers["X-More"]) == ("b", "1")
    assert TENANT_KEY not in repr(view)
    assert "view" in repr(view)


async def test_a_view_follows_the_lifecycle_of_its_client() -> None:
    """Leaving a view's block closes nothing; closing the client closes its views."""
    async with AsyncFlowise(BASE, transport=MockTransport(answer)) as flowise:
        view = flowise.with_options(headers={"X": "1"})
        async with view:
            await view.ping()
        assert not flowise.is_closed
        await flowise.ping()
    assert view.is_closed
    with pytest.raises(ClientStateError):
        await view.ping()


def test_with_options_checks_its_arguments() -> None:
    """Wrong types are TypeError, a bad event size ValueError (invalid arguments, not state)."""
    flowise = AsyncFlowise(BASE, transport=MockTransport(answer))
    with pytest.raises(TypeError, match="timeouts"):
        flowise.with_options(timeouts="5")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="api_key"):
        flowise.with_options(api_key=b"k")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_event_size"):
        flowise.with_options(max_event_size=0)


async def test_a_views_key_is_redacted_from_errors_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server echoing the view's key: the error and the debug log never show it."""

    def handler(request: MockRequest) -> MockResponse:
        return MockResponse(500, json={"message": f"bad key {request.headers['Authorization']}"})

    caplog.set_level(logging.DEBUG, logger="flowise_async")
    async with AsyncFlowise(BASE, api_key=KEY, transport=MockTransport(handler)) as flowise:
        view = flowise.with_options(api_key=TENANT_KEY, retries=Retries(attempts=1))
        with pytest.raises(InternalServerError) as info:
            await view.chatflows.list()
    error = info.value
    for text in (str(error), repr(error.body), str(error.server_message), caplog.text):
        assert TENANT_KEY not in text
    assert "***" in str(error)


# -- per-call options on every method ------------------------------------------------------


def _groups(flowise: AsyncFlowise) -> Iterator[tuple[str, Resource]]:
    for name, group in vars(flowise).items():
        if isinstance(group, Resource):
            yield name, group
            for sub_name in getattr(type(group), "__slots__", ()):
                sub = getattr(group, sub_name, None)
                if isinstance(sub, Resource):
                    yield f"{name}.{sub_name}", sub


_VALUES: dict[str, Any] = {
    "permissions": ["chatflows:view"],
    "flow_data": {"nodes": [], "edges": []},
    "plain_data": {"k": "v"},
    "ids": ["id-1"],
    "files": [("a.txt", b"hello")],
    "rating": "THUMBS_UP",
    "schema": [],
    "func": "return 1",
    "details": {"instructions": "be brief"},
    "credential": "cred-1",
    "items": [{"docId": "d"}],
    "loader_config": {},
    "execution_ids": ["e1"],
    "is_public": True,
    "prediction": Prediction(status=RunStatus.NO_ANSWER, chat_id="c"),
    "vector_store_config": {},
}
_OPTIONAL: dict[str, dict[str, Any]] = {
    "predictions.create": {"question": "q"},
    "predictions.stream": {"question": "q"},
}


def _arguments(method: Any) -> tuple[list[Any], dict[str, Any]]:
    """Values for the required parameters of *method* (ids are plain strings)."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for param in inspect.signature(method).parameters.values():
        if param.default is not inspect.Parameter.empty or param.kind in (
            param.VAR_KEYWORD,
            param.VAR_POSITIONAL,
        ):
            continue
        value = _VALUES.get(param.name, "x")
        if param.kind is param.KEYWORD_ONLY:
            kwargs[param.name] = value
        else:
            args.append(value)
    return args, kwargs


def _methods() -> list[str]:
    flowise = AsyncFlowise(BASE, transport=MockTransport(answer))
    found = []
    for group_name, group in _groups(flowise):
        for name, member in inspect.getmembers(type(group), inspect.isfunction):
            if name.startswith("_") or name == "batch":
                continue
            found.append(f"{group_name}.{name}")
            del member
    return found


METHODS = _methods()


def test_the_sweep_finds_every_api_method() -> None:
    """The sweep below covers the API groups (a broken finder would test nothing)."""
    assert len(METHODS) >= 70
    assert {"chatflows.list", "document_store.loaders.process", "predictions.abort"} <= set(METHODS)


@pytest.mark.parametrize("path", METHODS)
async def test_every_method_takes_extra_headers_query_and_body(path: str) -> None:
    """extra_headers, extra_query and extra_body reach the request of every API method."""
    mock = MockTransport(answer)
    async with AsyncFlowise(BASE, transport=mock, retries=Retries(attempts=1)) as flowise:
        target: Any = flowise
        for part in path.split("."):
            target = getattr(target, part)
        args, kwargs = _arguments(target)
        kwargs.update(_OPTIONAL.get(path, {}))
        extra = {
            "extra_headers": {"X-Extra": "h"},
            "extra_query": {"trace": "q1"},
            "extra_body": {"tag": "b1"},
        }
        result = target(*args, **kwargs, **extra)
        # The answer ({}) need not fit the method: the request is what this test checks.
        with contextlib.suppress(Exception):
            if inspect.isasyncgen(result):
                await anext(result)
            elif hasattr(result, "__aenter__"):  # a stream: the request goes out on entering
                async with result:
                    pass
            else:
                await result
    assert mock.requests, f"{path} sent no request"
    request = mock.requests[0]
    assert request.headers["X-Extra"] == "h"
    assert request.query["trace"] == "q1"
    if request.form is not None:
        assert request.form["tag"] == "b1"
    else:
        assert request.json["tag"] == "b1"


async def test_unknown_and_mistyped_options_are_type_errors() -> None:
    """A misspelt option or a wrong type is a TypeError before anything is sent."""
    mock = MockTransport(answer)
    async with AsyncFlowise(BASE, transport=mock) as flowise:
        with pytest.raises(TypeError, match="extra_header"):
            await flowise.variables.list(extra_header={"a": "b"})  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="timeouts must be a Timeouts"):
            await flowise.tools.get("t", timeouts="3")  # type: ignore[typeddict-item]
        with pytest.raises(TypeError, match="unknown chatflow field"):
            await flowise.chatflows.update("c", nmae="typo")
    assert mock.requests == []


async def test_per_call_retries_replace_the_clients() -> None:
    """retries= on a call: a 503 is tried again under that policy only."""
    answers = [MockResponse(503, text="busy"), MockResponse(503, text="busy")]

    def handler(request: MockRequest) -> MockResponse:
        return answers.pop() if answers else answer(request)

    mock = MockTransport(handler)
    async with AsyncFlowise(BASE, transport=mock, retries=Retries(attempts=1)) as flowise:
        fast = Retries(attempts=3, backoff=0.001)
        prediction = await flowise.predictions.create("f", "q", retries=fast, headers={"A": "1"})
    assert prediction.text == "Hello"
    assert len(mock.requests) == 3
    assert mock.requests[-1].headers["A"] == "1"


# -- raw responses -------------------------------------------------------------------------


async def test_raw_responses_carry_the_http_response_and_the_same_result() -> None:
    """with_raw_response gives status, headers and timing; data equals the plain result."""

    def handler(request: MockRequest) -> MockResponse:
        response = answer(request)
        response.headers = {**response.headers, "X-Request-Id": "r-1"}  # type: ignore[assignment]
        return response

    async with AsyncFlowise(BASE, api_key=KEY, transport=MockTransport(handler)) as flowise:
        raw = await flowise.with_raw_response.predictions.create("f", "q")
        plain = await flowise.predictions.create("f", "q")
        pong = await flowise.with_raw_response.ping()
        async with flowise.with_raw_response.predictions.stream("f", "q") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == SSE
            streamed = await response.data.final()
        assert flowise.pool_stats()["acquired"] == 0
    assert isinstance(raw, APIResponse)
    assert raw.parse() == raw.data == plain
    assert (raw.status, raw.method, raw.attempts, raw.retries) == (200, "POST", 1, 0)
    assert raw.headers["X-Request-Id"] == "r-1"
    assert raw.url == f"{BASE}/api/v1/prediction/f"
    assert 0 <= raw.elapsed <= raw.duration
    assert raw.request_headers["Authorization"] == "Bearer ***"
    assert KEY not in repr(raw) + str(dict(raw.request_headers))
    assert pong.status == 200
    assert streamed.text == "Hello"


async def test_raw_response_counts_attempts_and_refuses_batches() -> None:
    """A retried call reports its attempts; batch() and iter() have no single response."""
    answers = [MockResponse(502, text="gateway")]

    def handler(request: MockRequest) -> MockResponse:
        return answers.pop() if answers else MockResponse(200, json=[])

    retries = Retries(attempts=2, backoff=0.001)
    async with AsyncFlowise(BASE, transport=MockTransport(handler), retries=retries) as flowise:
        raw = await flowise.with_raw_response.document_store.list()
        assert raw.data == []
        assert raw.attempts == 2
        with pytest.raises(TypeError, match="batch"):
            flowise.with_raw_response.predictions.batch("f", ["q"])
        with pytest.raises(TypeError, match="iter"):
            flowise.with_raw_response.tools.iter()
        with pytest.raises(AttributeError):
            flowise.with_raw_response.pool_stats  # noqa: B018 - the attribute access is the test


# -- one options path: a number for Timeouts, one merge -------------------------------------


def _hang_then(request: MockRequest) -> Any:
    """No headers for 30 s (a test never waits that long)."""

    async def later() -> MockResponse:
        await asyncio.sleep(30)
        return answer(request)  # pragma: no cover - never reached

    return later()


async def _heartbeats() -> AsyncIterator[bytes]:
    yield conversation("Hel")[0]
    for _ in range(300):
        await asyncio.sleep(0.05)
        yield b":heartbeat\n\n"


def test_a_number_is_a_timeouts_for_the_client_and_its_views() -> None:
    """timeouts=5 sets connect, headers, idle and event; total and pool stay."""
    flowise = AsyncFlowise(BASE, transport=MockTransport(answer), timeouts=5)
    t = flowise.timeouts
    assert (t.connect, t.headers, t.idle, t.event) == (5, 5, 5, 5)
    assert (t.total, t.pool) == (Timeouts().total, Timeouts().pool)
    base = AsyncFlowise(
        BASE, transport=MockTransport(answer), timeouts=Timeouts(total=9, pool=3, headers=60)
    )
    view = base.with_options(timeouts=2.5)
    v = view.timeouts
    assert (v.connect, v.headers, v.idle, v.event) == (2.5, 2.5, 2.5, 2.5)
    assert (v.total, v.pool) == (9, 3)  # kept from the client, not reset to the defaults
    assert base.timeouts.headers == 60


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda f: f.predictions.create("f", "q", timeouts=0.3), id="create"),
        pytest.param(lambda f: f.chatflows.list(timeouts=0.3), id="chatflows.list"),
        pytest.param(lambda f: f.request("GET", "/api/v1/nodes", timeouts=0.3), id="request"),
        pytest.param(
            lambda f: f.predictions.stream("f", "q", timeouts=0.3).__aenter__(), id="stream"
        ),
    ],
)
async def test_a_number_per_call_bounds_the_headers(call: Any) -> None:
    """timeouts=0.3 on a call is headers=0.3 (among others): phase headers, 0.3 s."""
    async with AsyncFlowise(BASE, transport=MockTransport(_hang_then), timeouts=60) as flowise:
        async with asyncio.timeout(10):
            with pytest.raises(APITimeoutError) as info:
                await call(flowise)
    assert info.value.phase == "headers"
    assert "0.3 s" in str(info.value)


async def test_a_number_per_call_bounds_a_streams_events() -> None:
    """timeouts=0.3 on a stream is event=0.3 too: heartbeats alone end it, phase event."""

    def handler(request: MockRequest) -> MockResponse:
        return MockResponse(200, content=_heartbeats(), content_type=SSE)

    async with AsyncFlowise(BASE, transport=MockTransport(handler), timeouts=60) as flowise:
        async with asyncio.timeout(10):
            with pytest.raises(APITimeoutError) as info:
                async with flowise.predictions.stream("f", "q", timeouts=0.3) as stream:
                    await stream.final()
    assert info.value.phase == "event"
    assert "0.3 s" in str(info.value)


async def test_a_streams_event_timeout_comes_from_the_merged_options() -> None:
    """The event timeout of a view, under a call that sets only headers, is the view's."""

    def handler(request: MockRequest) -> MockResponse:
        return MockResponse(200, content=_heartbeats(), content_type=SSE)

    async with AsyncFlowise(BASE, transport=MockTransport(handler), timeouts=60) as flowise:
        view = flowise.with_options(timeouts=Timeouts(event=0.3))
        async with asyncio.timeout(10):
            with pytest.raises(APITimeoutError) as info:
                async with view.predictions.stream(
                    "f", "q", timeouts=Timeouts(headers=5)
                ) as stream:
                    await stream.final()
    assert info.value.phase == "event"
    assert "0.3 s" in str(info.value)


BAD_NUMBERS = [
    pytest.param(True, id="True"),
    pytest.param(False, id="False"),
    pytest.param(-1, id="negative"),
    pytest.param(0, id="zero"),
    pytest.param(float("nan"), id="nan"),
    pytest.param(float("inf"), id="inf"),
]


@pytest.mark.parametrize("bad", BAD_NUMBERS)
async def test_a_bool_or_a_bad_number_is_a_value_error_everywhere(bad: Any) -> None:
    """A bool, a number that is not positive and finite: ValueError, nothing sent."""
    mock = MockTransport(answer)
    with pytest.raises(ValueError, match="timeouts"):
        AsyncFlowise(BASE, transport=mock, timeouts=bad)
    async with AsyncFlowise(BASE, transport=mock) as flowise:
        with pytest.raises(ValueError, match="timeouts"):
            flowise.with_options(timeouts=bad)
        with pytest.raises(ValueError, match="timeouts"):
            await flowise.predictions.create("f", "q", timeouts=bad)
        with pytest.raises(ValueError, match="timeouts"):
            await flowise.chatflows.list(timeouts=bad)
        with pytest.raises(ValueError, match="timeouts"):
            await flowise.request("GET", "/api/v1/nodes", timeouts=bad)
        with pytest.raises(ValueError, match="timeouts"):
            flowise.predictions.stream("f", "q", timeouts=bad)
        with pytest.raises(ValueError, match="timeouts"):
            flowise.predictions.batch("f", ["q"], timeouts=bad)
    assert mock.requests == []


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_a_timeouts_field_refuses_a_bool_or_a_bad_number(bad: Any) -> None:
    """The same rule for each field of Timeouts."""
    with pytest.raises(ValueError, match="idle"):
        Timeouts(idle=bad)


def test_options_are_merged_in_one_place() -> None:
    """Timeouts.merge is called by FinalOptions.over only, and nothing else merges layers."""
    import flowise_async

    root = Path(flowise_async.__file__).parent
    callers = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if ".merge(" in path.read_text(encoding="utf-8")
    )
    assert callers == ["_config.py", "_options.py"]  # _config: its docstring example
