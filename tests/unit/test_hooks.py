"""The observer hooks: what they are told, in which order, once, and that they cost nothing off."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from flowise_async import (
    CallHooks,
    CallInfo,
    Hooks,
    NotFoundError,
    Retries,
    SentRequest,
    Timeouts,
    add_hooks,
    remove_hooks,
)
from flowise_async import events as ev
from flowise_async.testing import FakeFlowise


class Follower(CallHooks):
    def __init__(self, log: list[Any], call: CallInfo) -> None:
        self.log = log
        self.call = call

    def chunk_read(self, size: int) -> None:
        assert size > 0
        self.log.append("chunk")

    def event_received(self, event: ev.Event) -> None:
        self.log.append(type(event).__name__)

    def abort_sent(self) -> None:
        self.log.append("abort")

    def ended(
        self, outcome: str, *, prediction: Any = None, error: BaseException | None = None
    ) -> None:
        self.log.append(("ended", self.call.kind, outcome, type(error).__name__ if error else None))


class Recorder(Hooks):
    def __init__(self) -> None:
        self.log: list[Any] = []
        self.calls: list[CallInfo] = []

    def call_started(self, call: CallInfo) -> CallHooks | None:
        self.calls.append(call)
        self.log.append(("started", call.kind, call.method, call.streamed))
        return Follower(self.log, call)

    def request_sent(self, request: SentRequest) -> None:
        request.headers["X-Hooked"] = str(request.attempt)
        self.log.append(("sent", request.method, request.attempt))

    def retry(self, request: SentRequest, error: BaseException, delay: float) -> None:
        self.log.append(("retry", request.attempt, type(error).__name__))

    def response_headers(self, request: SentRequest, meta: Any) -> None:
        self.log.append(("headers", meta.status))


@pytest.fixture
def hooks() -> Iterator[Recorder]:
    found = Recorder()
    add_hooks(found)
    try:
        yield found
    finally:
        remove_hooks(found)


def _compact(log: list[Any]) -> list[Any]:
    """Runs of chunk reads and token events folded into one entry each."""
    out: list[Any] = []
    for item in log:
        if item in ("chunk", "TokenEvent") and out and out[-1] == item:
            continue
        out.append(item)
    return out


async def test_a_streamed_run_in_order(hooks: Recorder) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", "a", "b", "c")
        async with server.client() as flowise:
            async with flowise.predictions.stream("flow", "Hi") as stream:
                text = (await stream.final()).text
        sent = server.predictions[0]
    assert text == "abc"
    assert sent.headers["X-Hooked"] == "1"  # a hook's header reached the server
    log = _compact(hooks.log)
    assert log[:3] == [("started", "run", "POST", True), ("sent", "POST", 1), ("headers", 200)]
    assert "chunk" in log
    assert "TokenEvent" in log
    assert log[-2:] == ["EndEvent", ("ended", "run", "end", None)]
    assert hooks.calls[0].question == "Hi"
    assert hooks.calls[0].chatflow_id == "flow"


async def test_a_stream_left_early_sends_its_abort_within_its_run(hooks: Recorder) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", "a", "b", stall_after=2)
        async with server.client(abort_on_exit=True) as flowise:
            async with flowise.predictions.stream("flow", "Hi") as stream:
                await stream.__anext__()
            await flowise.wait_for_aborts()
        assert server.aborts
    log = hooks.log
    assert log.count(("ended", "run", "closed", None)) == 1
    assert log.index("abort") < log.index(("ended", "run", "closed", None))
    run, abort = hooks.calls
    assert abort.kind == "call"
    assert abort.method == "PUT"
    assert abort.parent is run  # the abort is a call made within the run


@pytest.mark.parametrize(
    ("how", "error"),
    [
        ("in-band error", "ServerEventError"),
        ("exception in the loop", "RuntimeError"),
        ("cancelled", "CancelledError"),
        ("idle timeout", "APITimeoutError"),
        ("dropped", "IncompleteStreamError"),
    ],
)
async def test_a_failed_stream_ends_once_with_its_error(
    hooks: Recorder, how: str, error: str
) -> None:
    async with FakeFlowise() as server:
        server.answer("error", "a", error="model failed")
        server.answer("stall", "a", "b", stall_after=2)
        server.answer("drop", "a", "b", drop_after=2)
        async with server.client(abort_on_exit=True) as flowise:
            flow = {"in-band error": "error", "dropped": "drop"}.get(how, "stall")
            timeouts = Timeouts(idle=0.3) if how == "idle timeout" else None
            stream = flowise.predictions.stream(flow, "Hi", timeouts=timeouts)
            if how == "cancelled":
                reading = asyncio.create_task(stream.final())
                while not stream.text:
                    await asyncio.sleep(0.01)
                reading.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await reading
                await stream.aclose()
            else:
                with pytest.raises(Exception) as info:
                    async with stream:
                        async for _ in stream:
                            if how == "exception in the loop":
                                raise RuntimeError("the loop body failed")
                assert type(info.value).__name__ == error
    ends = [item for item in hooks.log if isinstance(item, tuple) and item[:2] == ("ended", "run")]
    assert ends == [("ended", "run", "error", error)]
    if how != "in-band error":  # left before its end: the abort is scheduled, then the end
        assert hooks.log.index("abort") < hooks.log.index(ends[0])


async def test_an_abandoned_stream_ends_when_collected(hooks: Recorder) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", "a", "b", stall_after=2)
        async with server.client() as flowise:
            stream = flowise.predictions.stream("flow", "Hi")
            await stream.__anext__()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                del stream
                gc.collect()
    assert ("ended", "run", "abandoned", None) in hooks.log


async def test_calls_runs_and_retries(hooks: Recorder) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", "x", status=503, times=1)
        server.answer("flow", "done")
        server.answer("missing", status=404, message="Chatflow not found")
        retries = Retries(attempts=2, backoff=0.01)
        async with server.client(retries=retries) as flowise:
            prediction = await flowise.predictions.create("flow", "Hi")
            with pytest.raises(NotFoundError):
                await flowise.predictions.create("missing", "Hi")
            await flowise.ping()
    assert prediction.text == "done"
    log = hooks.log
    first = log[: log.index(("ended", "run", "end", None)) + 1]
    assert first[0] == ("started", "run", "POST", False)
    assert ("retry", 1, "InternalServerError") in first or ("retry", 1, "APIStatusError") in first
    assert ("sent", "POST", 2) in first
    assert ("headers", 503) in first
    assert ("headers", 200) in first
    assert ("ended", "run", "error", "NotFoundError") in log
    assert log[-1] == ("ended", "call", "end", None)  # the ping
    # The run's own request is a call made within the run.
    prediction_call = next(c for c in hooks.calls if c.kind == "call" and c.method == "POST")
    assert prediction_call.parent is hooks.calls[0]


async def test_removed_hooks_hear_nothing_and_bad_hooks_are_refused() -> None:
    recorder = Recorder()
    add_hooks(recorder)
    add_hooks(recorder)  # once only
    remove_hooks(recorder)
    remove_hooks(recorder)  # idempotent
    async with FakeFlowise() as server:
        server.answer("flow", "a")
        async with server.client() as flowise:
            async with flowise.predictions.stream("flow", "Hi") as stream:
                await stream.final()
        assert "X-Hooked" not in server.predictions[0].headers
    assert recorder.log == []
    with pytest.raises(TypeError, match="Hooks"):
        add_hooks(object())  # type: ignore[arg-type]


async def test_a_hook_may_follow_only_some_calls(hooks: Recorder) -> None:
    """call_started returning None: that call's events are not delivered to anyone."""

    class StreamsOnly(Hooks):
        def __init__(self) -> None:
            self.events = 0

        def call_started(self, call: CallInfo) -> CallHooks | None:
            if not call.streamed:
                return None
            owner = self

            class Count(CallHooks):
                def event_received(self, event: ev.Event) -> None:
                    owner.events += 1

            return Count()

    streams_only = StreamsOnly()
    add_hooks(streams_only)
    try:
        async with FakeFlowise() as server:
            server.answer("flow", "a", "b")
            async with server.client() as flowise:
                await flowise.predictions.create("flow", "Hi")
                async with flowise.predictions.stream("flow", "Hi") as stream:
                    events = [event async for event in stream]
    finally:
        remove_hooks(streams_only)
    assert len(events) >= 4  # start, tokens, metadata, end
    assert streams_only.events == len(events)  # none of the plain run's
    assert hooks.log.count("EndEvent") == 1  # the other hook followed the stream too


def test_call_info_and_sent_request_reprs_show_no_headers() -> None:
    request = SentRequest(
        method="GET",
        url="http://h/api/v1/ping",
        headers={"Authorization": "Bearer sk-secret"},
        attempt=1,
        server_address="h",
        server_port=80,
        call=None,
    )
    assert "sk-secret" not in repr(request)
    assert "run" in repr(CallInfo("run", "POST", "/api/v1/prediction/f", chatflow_id="f"))


async def test_only_the_methods_a_hook_overrides_are_called() -> None:
    """A hook overriding request_sent only: told of each request, no call is followed."""

    class HeadersOnly(Hooks):
        def __init__(self) -> None:
            self.seen: list[SentRequest] = []

        def request_sent(self, request: SentRequest) -> None:
            self.seen.append(request)

    headers_only, nothing = HeadersOnly(), Hooks()
    add_hooks(headers_only)
    add_hooks(nothing)
    try:
        async with FakeFlowise() as server:
            server.answer("flow", "a")
            async with server.client() as flowise:
                async with flowise.predictions.stream("flow", "Hi") as stream:
                    assert (await stream.final()).text == "a"
                await flowise.ping()
    finally:
        remove_hooks(headers_only)
        remove_hooks(nothing)
    assert [r.method for r in headers_only.seen] == ["POST", "GET"]
    assert all(r.call is None for r in headers_only.seen)  # no hook follows calls
