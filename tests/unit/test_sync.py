"""
SyncFlowise where only a blocking client goes: inside a running event loop, from many threads,
after fork(), under Ctrl-C, on close() from another thread, and its surface against
AsyncFlowise's. (The behaviour it shares with AsyncFlowise runs in the parametrised suites.)
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from flowise_async import AsyncFlowise, ClientStateError, Timeouts
from flowise_async import _sync_runtime as runtime
from flowise_async._resources._base import Resource
from flowise_async.events import TokenEvent
from flowise_async.mock import MockRequest, MockResponse, MockTransport
from flowise_async.sync import GROUPS, SyncFlowise, SyncStream
from flowise_async.testing import FakeFlowise


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ThreadedFake:
    """A `FakeFlowise` on its own loop in a thread: the test's thread may block freely."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = FakeFlowise(max_stall=20)
        self.run(self.fake.start())

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        self.run(self.fake.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def server() -> Iterator[FakeFlowise]:
    threaded = ThreadedFake()
    yield threaded.fake
    threaded.close()


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# -- where users are ------------------------------------------------------------------------


async def test_works_inside_a_running_event_loop(server: FakeFlowise) -> None:
    """Called from a coroutine (a notebook cell): no deadlock, no 'event loop is running'."""
    server.answer("flow", "Hel", "lo")
    asyncio.get_running_loop()  # this test runs in a loop, as a notebook cell does
    with SyncFlowise(server.url) as flowise:
        assert flowise.predictions.create("flow", "q").text == "Hello"
        with flowise.predictions.stream("flow", "q") as stream:
            assert "".join(stream.text_stream()) == "Hello"
        assert flowise.pool_stats()["acquired"] == 0


def test_sixteen_threads_get_exact_answers_and_release_every_connection(
    server: FakeFlowise,
) -> None:
    """16 threads stream and ask at once through one client: every answer is their own."""
    for n in range(16):
        server.answer(f"flow-{n}", *[f"{n}:{i} " for i in range(40)])
    errors: list[BaseException] = []
    answers: dict[int, list[str]] = {}
    with SyncFlowise(server.url) as flowise:

        def work(n: int) -> None:
            try:
                got = []
                for _ in range(3):
                    with flowise.predictions.stream(f"flow-{n}", "q") as stream:
                        got.append("".join(stream.text_stream()))
                    got.append(flowise.predictions.create(f"flow-{n}", "q").text)
                answers[n] = got
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        for n in range(16):
            assert answers[n] == ["".join(f"{n}:{i} " for i in range(40))] * 6
        assert flowise.pool_stats()["acquired"] == 0
    assert len(server.requests) == 16 * 6


def test_a_forked_child_gets_its_own_loop_and_pool(server: FakeFlowise) -> None:
    """After fork(), the child's calls run on a fresh loop and pool (the parent's still work)."""
    server.answer("flow", "ok")
    script = textwrap.dedent(
        f"""
        import os, sys
        from flowise_async.sync import SyncFlowise

        flowise = SyncFlowise({server.url!r})
        assert flowise.predictions.create("flow", "parent").text == "ok"
        parent_loop = flowise._runner.loop()
        pid = os.fork()
        if pid == 0:
            try:
                assert flowise._runner.loop() is not parent_loop
                with flowise.predictions.stream("flow", "child") as stream:
                    text = "".join(stream.text_stream())
                assert text == "ok", text
                assert flowise.pool_stats()["acquired"] == 0
                flowise.close()
            except BaseException as exc:
                print("child failed:", repr(exc), flush=True)
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert flowise.predictions.create("flow", "parent again").text == "ok"
        flowise.close()
        print("child exit", os.waitstatus_to_exitcode(status))
        """
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, this test's script
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "child exit 0" in done.stdout, done.stdout + done.stderr
    questions = [request.json["question"] for request in server.requests]
    assert questions == ["parent", "child", "parent again"]


def test_ctrl_c_mid_stream_closes_it_and_aborts_the_run(server: FakeFlowise) -> None:
    """SIGINT while a stream is read: KeyboardInterrupt, the response closed, the run aborted."""
    server.answer("flow", *[f"t{i}" for i in range(1000)], delay=0.02)
    script = textwrap.dedent(
        f"""
        import sys
        from flowise_async.sync import SyncFlowise

        with SyncFlowise({server.url!r}, abort_on_exit=True) as flowise:
            try:
                with flowise.predictions.stream("flow", "q") as stream:
                    for event in stream:
                        print("event", flush=True)
            except KeyboardInterrupt:
                print("interrupted", stream.chat_id, flush=True)
            print("acquired", flowise.pool_stats()["acquired"], flush=True)
        print("closed", flush=True)
        """
    )
    child = subprocess.Popen(  # noqa: S603 - this interpreter, this test's script
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert child.stdout is not None
        for _ in range(3):
            assert child.stdout.readline().strip() == "event"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 0, err
    lines = out.splitlines()
    interrupted = next(line for line in lines if line.startswith("interrupted"))
    chat_id = interrupted.split()[1]
    assert "acquired 0" in lines
    assert lines[-1] == "closed"
    assert server.aborts == [("flow", chat_id)]


# -- threads and the lifecycle --------------------------------------------------------------


def test_close_from_another_thread_ends_a_stream_promptly(server: FakeFlowise) -> None:
    """close() while a thread waits on a stream: that thread gets ClientStateError at once."""
    server.answer("flow", "a", "b", stall_after=2)
    flowise = SyncFlowise(server.url)
    outcome: list[BaseException] = []
    first = threading.Event()

    def read() -> None:
        try:
            with flowise.predictions.stream("flow", "q") as stream:
                for _ in stream:
                    first.set()
        except BaseException as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    assert first.wait(10)
    time.sleep(0.1)  # the reader now waits for an event that never comes
    started = time.monotonic()
    flowise.close()
    reader.join(10)
    assert not reader.is_alive()
    assert time.monotonic() - started < 5
    assert len(outcome) == 1
    assert isinstance(outcome[0], ClientStateError)
    assert flowise.is_closed
    with pytest.raises(ClientStateError):
        flowise.predictions.create("flow", "q")


def test_a_call_from_the_client_s_own_loop_thread_is_refused() -> None:
    """A blocking call made on the loop thread (here, by a mock handler) is ClientStateError."""
    caught: list[BaseException] = []
    holder: list[SyncFlowise] = []

    def handler(request: MockRequest) -> MockResponse:
        if request.url.endswith("/ping"):
            try:
                holder[0].version()
            except ClientStateError as exc:
                caught.append(exc)
            return MockResponse(200, text="pong")
        return MockResponse(200, json={"version": "3.1.4"})

    with SyncFlowise("http://flowise.test", transport=MockTransport(handler)) as flowise:
        holder.append(flowise)
        assert flowise.ping() == "pong"
        assert flowise.version() == "3.1.4"
    assert len(caught) == 1
    assert "own event loop thread" in str(caught[0])


def test_an_unclosed_stream_dropped_is_closed_and_aborted(server: FakeFlowise) -> None:
    """A stream garbage-collected before its end releases the connection and aborts the run."""
    server.answer("flow", *[f"t{i}" for i in range(200)], delay=0.02)
    with SyncFlowise(server.url, abort_on_exit=True) as flowise:
        stream = flowise.predictions.stream("flow", "q")
        assert isinstance(next(iter(stream)), object)
        chat_id = stream.chat_id
        del stream
        gc.collect()
        wait_for(lambda: flowise.pool_stats()["acquired"] == 0)
        wait_for(lambda: server.aborts == [("flow", chat_id)])


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per hop of a pipe's items from the client's loop to the caller's thread."""
    counted: list[int] = []
    take = runtime.Pipe.take

    def counting(self: runtime.Pipe) -> Any:
        counted.append(1)
        return take(self)

    monkeypatch.setattr(runtime.Pipe, "take", counting)
    return counted


def test_events_cross_threads_in_batches(server: FakeFlowise, hops: list[int]) -> None:
    """Events one read decoded cross in one hop: far fewer hops than events."""
    server.answer("flow", *[f"t{i} " for i in range(500)], streaming=False)  # one JSON answer
    with SyncFlowise(server.url) as flowise:
        with flowise.predictions.stream("flow", "q") as stream:
            events = list(stream)
    tokens = [e for e in events if isinstance(e, TokenEvent)]
    assert "".join(t.text for t in tokens).startswith("t0 t1 ")
    assert len(events) >= 3
    assert len(hops) <= len(events) // runtime.BATCH + 2


@pytest.mark.parametrize("progress", [False, True], ids=["plain", "with-progress"])
def test_finished_batch_results_cross_threads_together(
    server: FakeFlowise, hops: list[int], progress: bool
) -> None:
    """Results that finished while the caller was busy cross in one hop, not one each."""
    reports: list[object] = []
    with SyncFlowise(server.url) as flowise:
        # Invalid items fail at once, without the network: results pile up at once.
        batch = flowise.predictions.batch(
            "echo",
            list(range(2000)),
            concurrency=16,
            on_progress=reports.append if progress else None,
        )
        with batch.as_completed() as results:
            indexes = sorted(result.index for result in results)
    assert indexes == list(range(2000))
    assert len(hops) <= 2000 // 4
    assert bool(reports) == progress


def test_a_stream_used_without_with_and_its_final_answer(server: FakeFlowise) -> None:
    """Iterating without 'with' opens the stream; final() gives what create() gives."""
    server.answer("flow", "Hel", "lo")
    with SyncFlowise(server.url, timeouts=Timeouts(headers=5)) as flowise:
        stream = flowise.predictions.stream("flow", "q")
        assert isinstance(stream, SyncStream)
        assert [e.text for e in stream if isinstance(e, TokenEvent)] == ["Hel", "lo"]
        assert stream.final().text == "Hello"
        assert stream.text == "Hello"
        assert flowise.pool_stats()["acquired"] == 0


# -- the surface ----------------------------------------------------------------------------


def test_the_constructor_mirrors_async_flowise() -> None:
    """SyncFlowise takes exactly AsyncFlowise's arguments."""
    sync = inspect.signature(SyncFlowise.__init__)
    async_ = inspect.signature(AsyncFlowise.__init__)
    assert list(sync.parameters.values()) == list(async_.parameters.values())


def _public_methods(cls: type) -> set[str]:
    return {
        name
        for name, value in inspect.getmembers(cls)
        if not name.startswith("_") and callable(value) and not isinstance(value, type)
    }


def test_every_async_method_has_a_declared_sync_twin() -> None:
    """Each API group method of AsyncFlowise is declared (and so typed) on the sync group."""
    client = AsyncFlowise("http://flowise.test")
    sync = SyncFlowise("http://flowise.test")
    missing = []
    pending: list[tuple[str, Any, type]] = [
        (name, getattr(client, name), cls) for name, cls in GROUPS.items()
    ]
    for attr, value in vars(client).items():
        if isinstance(value, Resource):
            assert attr in GROUPS, f"the API group {attr} has no synchronous class"
    while pending:
        path, group, cls = pending.pop()
        for name in _public_methods(type(group)):
            if name not in dir(cls):
                missing.append(f"{path}.{name}")
        for name in getattr(type(group), "__slots__", ()):
            sub = getattr(group, name, None)
            if isinstance(sub, Resource):
                sync_group = getattr(sync, path.split(".")[0])
                pending.append((f"{path}.{name}", sub, type(getattr(sync_group, name))))
    assert missing == []
    for name in ("request", "ping", "version", "chat", "with_options", "pool_stats"):
        assert hasattr(SyncFlowise, name)
    sync.close()
