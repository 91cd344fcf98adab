"""FakeFlowise's modes: unknown chatflows as a real Flowise treats them, a required API key,
the chatflows routes, and the standalone server of ``python -m flowise_async.testing``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from flowise_async import (
    APITimeoutError,
    AsyncFlowise,
    AuthenticationError,
    FlowiseError,
    NotFoundError,
    Retries,
    Timeouts,
)
from flowise_async.pytest_plugin import TEST_TIMEOUTS, flowise_client, flowise_server  # noqa: F401
from flowise_async.testing import ANY_CHATFLOW, FakeFlowise, main


ROOT = Path(__file__).resolve().parents[2]


# -- unknown chatflows ------------------------------------------------------------------------


async def test_unknown_chatflow_stream_gets_no_answer_like_flowise(
    flowise_server: FakeFlowise,  # noqa: F811
    flowise_client: AsyncFlowise,  # noqa: F811
) -> None:
    """A streaming request for an unknown chatflow is never answered: the headers timeout fires."""
    flowise_server.answer("known", "Hi")
    with pytest.raises(APITimeoutError) as caught:
        async with flowise_client.predictions.stream("unknown", "Hi") as stream:
            await stream.final()
    assert caught.value.phase == "headers"
    assert [r.chatflow_id for r in flowise_server.predictions] == ["unknown"]


async def test_fixture_client_has_a_short_headers_timeout(
    flowise_client: AsyncFlowise,  # noqa: F811
) -> None:
    """The fixture's client gives up on unanswered headers within seconds."""
    assert flowise_client.timeouts.headers is not None
    assert flowise_client.timeouts.headers <= 5
    assert flowise_client.timeouts == TEST_TIMEOUTS


async def test_unknown_chatflow_plain_request_is_404_at_once(
    flowise_server: FakeFlowise,  # noqa: F811
    flowise_client: AsyncFlowise,  # noqa: F811
) -> None:
    """A non-streaming request for an unknown chatflow gets Flowise's 404."""
    with pytest.raises(NotFoundError) as caught:
        await flowise_client.predictions.create("unknown", "Hi")
    assert caught.value.server_message == "Chatflow unknown not found in the database!"


async def test_unknown_streaming_404_option_answers_at_once() -> None:
    """unknown_streaming="404" answers an unknown chatflow's stream with the 404 instead."""
    async with FakeFlowise(unknown_streaming="404") as server:
        # A headers timeout of a minute: only an answer at once can pass this test.
        async with server.client(timeouts=Timeouts(headers=60), retries=Retries(attempts=1)) as c:
            with pytest.raises(NotFoundError):
                async with c.predictions.stream("unknown", "Hi") as stream:
                    await stream.final()


def test_unknown_streaming_rejects_other_values() -> None:
    with pytest.raises(ValueError, match="unknown_streaming"):
        FakeFlowise(unknown_streaming="fail")  # type: ignore[arg-type]


async def test_hanging_unknown_stream_is_released_by_close() -> None:
    """Closing the server ends a request it left unanswered (no leaked handler)."""
    server = await FakeFlowise(max_stall=30).start()
    client = server.client(timeouts=Timeouts(headers=30), retries=Retries(attempts=1))
    try:

        async def ask() -> None:
            async with client.predictions.stream("x", "Hi") as stream:
                await stream.final()

        task = asyncio.create_task(ask())
        for _ in range(200):
            if server.predictions:
                break
            await asyncio.sleep(0.01)
        assert server.predictions
        await asyncio.wait_for(server.aclose(), 10)
        with pytest.raises(FlowiseError):  # the connection is cut
            await asyncio.wait_for(task, 10)
    finally:
        await client.aclose()
        await server.aclose()


# -- API key --------------------------------------------------------------------------------


async def test_required_api_key_guards_every_route() -> None:
    """With api_key=..., every route answers 401 without the key, and works with it."""
    async with FakeFlowise(api_key="secret") as server:
        server.answer("flow-1", "Hello")
        async with server.client(api_key=None, retries=Retries(attempts=1)) as anonymous:
            for call in (
                anonymous.predictions.create("flow-1", "Hi"),
                anonymous.ping(),
                anonymous.chatflows.list(),
                anonymous.chatflows.is_streaming("flow-1"),
            ):
                with pytest.raises(AuthenticationError) as caught:
                    await call
                assert caught.value.body == {"error": "Unauthorized Access"}
        async with server.client(api_key="wrong", retries=Retries(attempts=1)) as wrong:
            with pytest.raises(AuthenticationError):
                async with wrong.predictions.stream("flow-1", "Hi") as stream:
                    await stream.final()
        refused = len(server.requests)
        assert refused == 5
        async with server.client() as keyed:  # client() sends the required key
            assert (await keyed.predictions.create("flow-1", "Hi")).text == "Hello"
            assert await keyed.ping() == "pong"
        assert [r.authorized for r in server.requests] == [False] * 4 + [True] * 3


# -- chatflows routes -------------------------------------------------------------------------


async def test_chatflows_routes_list_the_scripted_chatflows(
    flowise_server: FakeFlowise,  # noqa: F811
    flowise_client: AsyncFlowise,  # noqa: F811
) -> None:
    """GET /chatflows lists the chatflows with a reply; GET /chatflows/{id} finds one."""
    flowise_server.answer("flow-a", "A")
    flowise_server.answer("flow-b", "B", streaming=False)
    flows = await flowise_client.chatflows.list()
    assert [(f.id, f.name, f.type) for f in flows] == [
        ("flow-a", "flow-a", "CHATFLOW"),
        ("flow-b", "flow-b", "CHATFLOW"),
    ]
    assert await flowise_client.chatflows.list(type="AGENTFLOW") == []
    assert (await flowise_client.chatflows.get("flow-b")).id == "flow-b"
    with pytest.raises(NotFoundError):
        await flowise_client.chatflows.get("flow-c")
    assert await flowise_client.chatflows.is_streaming("flow-b") is False
    flowise_server.answer(ANY_CHATFLOW, "any")
    assert (await flowise_client.chatflows.get("flow-c")).id == "flow-c"


# -- standalone -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _start_standalone(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWISE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "flowise_async.testing",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    return proc, line.decode()


async def _stop(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_standalone_server_answers_its_script_and_the_cli(tmp_path: Path) -> None:
    """python -m flowise_async.testing --port P --script F serves F until Ctrl-C."""
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps({"greeter": "Hello there", "broken": {"status": 503, "message": "busy"}}),
        encoding="utf-8",
    )
    port = _free_port()
    proc, first = await _start_standalone(
        "--port", str(port), "--script", str(script), "--answer", "echo=echo echo"
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert first.strip() == f"fake Flowise on {url}"
        async with AsyncFlowise(url, retries=Retries(attempts=1)) as client:
            assert [f.id for f in await client.chatflows.list()] == ["greeter", "broken", "echo"]
            async with client.predictions.stream("greeter", "Hi") as stream:
                assert [t async for t in stream.text_stream()] == ["Hello", " there"]
            assert (await client.predictions.create("echo", "Hi")).text == "echo echo"
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "flowise_async",
            "chatflows",
            "list",
            "--base-url",
            url,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        out, _ = await asyncio.wait_for(cli.communicate(), 30)
        assert cli.returncode == 0
        assert [line.split()[0] for line in out.decode().splitlines()] == [
            "ID",
            "greeter",
            "broken",
            "echo",
        ]
    finally:
        code, err = await _stop(proc)
    assert code == 0, err
    assert "Traceback" not in err


async def test_standalone_server_requires_its_api_key() -> None:
    """--api-key makes every route answer 401 without the key."""
    port = _free_port()
    proc, _ = await _start_standalone("--port", str(port), "--api-key", "k-1")
    try:
        url = f"http://127.0.0.1:{port}"
        async with AsyncFlowise(url, api_key="nope", retries=Retries(attempts=1)) as client:
            with pytest.raises(AuthenticationError):
                await client.chatflows.list()
        async with AsyncFlowise(url, api_key="k-1") as client:
            assert [f.id for f in await client.chatflows.list()] == ["demo"]
    finally:
        code, _ = await _stop(proc)
    assert code == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "expected a JSON object"),
        ('{"f": {"tokns": ["a"]}}', "unknown field(s) tokns"),
        ('{"f": 3}', "expected a text or an object"),
        ("{not json", "is not JSON"),
    ],
)
def test_standalone_rejects_a_bad_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    """A bad script file is refused with exit code 2 and a message, before anything listens."""
    script = tmp_path / "script.json"
    script.write_text(content, encoding="utf-8")
    assert main(["--port", "0", "--script", str(script)]) == 2
    assert message in capsys.readouterr().err


def test_standalone_rejects_a_bad_answer_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "0", "--answer", "no-equals-sign"]) == 2
    assert "--answer expects CHATFLOW=TEXT" in capsys.readouterr().err


def test_standalone_port_in_use_is_a_clear_error() -> None:
    """A port already taken gives exit code 2 and says so."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWISE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # A plain child process: it exits by itself, so no asyncio child watcher is involved.
        done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [sys.executable, "-m", "flowise_async.testing", "--port", str(port)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


async def test_standalone_server_runs_agent_flows_that_wait() -> None:
    """--agentflow FLOW serves an agent flow that stops for a person, beside the chatflows."""
    port = _free_port()
    proc, _ = await _start_standalone(
        "--port", str(port), "--agentflow", "hitl", "--answer", "chat=Hi there"
    )
    try:
        url = f"http://127.0.0.1:{port}"
        async with AsyncFlowise(url, retries=Retries(attempts=1)) as client:
            flows = await client.chatflows.list()
            assert [(f.id, f.type) for f in flows] == [("chat", "CHATFLOW"), ("hitl", "AGENTFLOW")]
            first = await client.predictions.create("hitl", "Send it")
            assert first.pending_action is not None
            done = await client.predictions.resume("hitl", first.chat_id or "", "proceed")
            assert done.text == "Echo: proceed"  # no feedback: the decision
    finally:
        code, err = await _stop(proc)
    assert code == 0, err
