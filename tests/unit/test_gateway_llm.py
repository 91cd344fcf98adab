"""
The gateway driven by the ``llm`` package (a widely used OpenAI-compatible command line and
library): its Python API, sync and async, and its command line, streamed and not, with a
private ``LLM_USER_PATH`` that configures the gateway as an OpenAI-compatible model.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest


pytest.importorskip("fastapi", reason="needs the fastapi extra")
uvicorn = pytest.importorskip("uvicorn", reason="needs uvicorn (fastapi extra)")
llm = pytest.importorskip("llm", reason="needs llm (test extra)")

from flowise_async import AsyncFlowise, Retries, Timeouts  # noqa: E402
from flowise_async import events as ev  # noqa: E402
from flowise_async.openai_gateway import openai_app  # noqa: E402
from flowise_async.testing import FakeFlowise  # noqa: E402
from tests._llm import closing_openai_clients, write_llm_home  # noqa: E402


FLOW = "11111111-2222-3333-4444-555555555555"
GATEWAY_KEY = "gw-llm-key"
MODEL = "gw-bot"
CLI_TIMEOUT = 60.0


@pytest.fixture
async def fake() -> AsyncIterator[FakeFlowise]:
    async with FakeFlowise() as server:
        yield server


@pytest.fixture
async def gateway_url(fake: FakeFlowise) -> AsyncIterator[str]:
    """The gateway in front of *fake*, served by uvicorn on 127.0.0.1; its ``/v1`` URL."""
    app = openai_app(
        lambda: AsyncFlowise(fake.url, timeouts=Timeouts(connect=2), retries=Retries(attempts=1)),
        models={"bot": FLOW},
        keys={GATEWAY_KEY: "llm-user"},
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="none")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not server.started:
        assert not task.done(), "the gateway did not start"
        assert loop.time() < deadline, "the gateway did not start in 20 s"
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    await asyncio.wait_for(task, 15)


@pytest.fixture
def llm_home(tmp_path: Path, gateway_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private ``LLM_USER_PATH`` naming the gateway as an OpenAI-compatible model."""
    home = write_llm_home(
        tmp_path / "llm", api_base=gateway_url, key=GATEWAY_KEY, model_id=MODEL, model="bot"
    )
    monkeypatch.setenv("LLM_USER_PATH", str(home))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return home


@pytest.fixture
async def openai_clients(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[Any]]:
    """The OpenAI clients llm makes, closed after the test."""
    async with closing_openai_clients(monkeypatch) as made:
        yield made


def answer_with_usage(fake: FakeFlowise) -> None:
    usage = ev.UsageMetadataEvent(input_tokens=3, output_tokens=2, total_tokens=5)
    fake.answer(FLOW, "Hello ", "from ", "the flow", events=[usage])


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("with_usage", [False, True], ids=["no-usage", "usage"])
async def test_llm_python_api(
    llm_home: Path, fake: FakeFlowise, openai_clients: list[Any], stream: bool, with_usage: bool
) -> None:
    """llm's sync and async models read the answer, and the usage (zeros when none)."""
    if with_usage:
        answer_with_usage(fake)
    else:
        fake.answer(FLOW, "Hello ", "from ", "the flow")
    expected = (3, 2) if with_usage else (0, 0)

    async_model = llm.get_async_model(MODEL)
    response = async_model.prompt("Hi there", stream=stream)
    assert await response.text() == "Hello from the flow"
    usage = await response.usage()
    assert (usage.input, usage.output) == expected

    def sync_call() -> tuple[str, Any]:
        model = llm.get_model(MODEL)
        reply = model.prompt("Hi again", stream=stream)
        return reply.text(), reply.usage()

    text, sync_usage = await asyncio.to_thread(sync_call)
    assert text == "Hello from the flow"
    assert (sync_usage.input, sync_usage.output) == expected
    assert [p.json["question"] for p in fake.predictions] == ["Hi there", "Hi again"]
    assert len(openai_clients) == 2  # both went through the gateway


@pytest.mark.parametrize("no_stream", [True, False], ids=["no-stream", "stream"])
async def test_llm_command_line(llm_home: Path, fake: FakeFlowise, no_stream: bool) -> None:
    """``llm -m gw-bot [--no-stream] QUESTION`` prints the flow's answer and exits 0."""
    fake.answer(FLOW, "Hello ", "from ", "the flow")
    args = [sys.executable, "-m", "llm", "prompt", "-m", MODEL, "What is new?"]
    if no_stream:
        args.insert(-1, "--no-stream")
    process = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "LLM_USER_PATH": str(llm_home)},
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == "Hello from the flow"
    assert [p.json["question"] for p in fake.predictions] == ["What is new?"]
