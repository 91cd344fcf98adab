"""Batch runs, the FastAPI relay and the command line against a real Flowise."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import pytest

from flowise_async import AsyncFlowise, PredictionRequest
from harness.fake_llm import echo_reply
from harness.server import RealFlowise
from tests._examples import load_example


pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


async def test_batch_streams_every_question_in_order(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """A streamed batch answers each question under its own chat, results in input order."""
    questions = [f"batch question {i}" for i in range(6)]
    results = await client.predictions.batch(chatflows["conversation"], questions, concurrency=3)
    assert [r.index for r in results] == list(range(6))
    assert [r.unwrap().text for r in results] == [echo_reply(q) for q in questions]
    assert len({r.value.chat_id for r in results if r.value}) == 6
    assert [r.chat_id for r in results] == [r.value.chat_id for r in results if r.value]
    assert client.pool_stats()["acquired"] == 0


async def test_batch_non_streaming_and_mixed_requests(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """Non-streaming items and request objects run side by side, as_completed sees them all."""
    chat_id = str(uuid.uuid4())
    inputs = [
        "plain question",
        PredictionRequest(question="with a chat id", chat_id=chat_id, streaming=False),
        {"question": "as a dict", "streaming": True},
    ]
    batch = client.predictions.batch(chatflows["conversation"], inputs, stream=False)
    seen = {r.index: r async for r in batch.as_completed()}
    assert sorted(seen) == [0, 1, 2]
    assert seen[1].unwrap().chat_id == chat_id
    assert seen[2].unwrap().text == echo_reply("as a dict")
    assert batch.progress().done == 3


async def test_batch_failures_do_not_stop_the_rest(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """A flow that fails on the server fails its items only, with the server's message."""
    broken = await client.predictions.batch(chatflows["retrieval-broken"], ["a", "b"])
    assert not any(r.ok for r in broken)
    assert all(r.error is not None for r in broken)
    good = await client.predictions.batch(chatflows["conversation"], ["c"])
    assert good[0].ok


async def test_cancelled_batch_releases_connections(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """Cancelling a batch of slow streams returns promptly with every connection released."""
    questions = [f"slow {i} [[words=40]] [[delay=200]]" for i in range(4)]
    batch = client.predictions.batch(chatflows["conversation"], questions, concurrency=4)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(3):
            await batch
    assert client.pool_stats()["acquired"] == 0


# -- FastAPI --------------------------------------------------------------------------------


async def test_fastapi_relay_streams_and_releases_on_disconnect(
    real_flowise: RealFlowise, chatflows: dict[str, str]
) -> None:
    """The example app relays a real stream as SSE, and a disconnect frees the upstream."""
    pytest.importorskip("fastapi", reason="needs the fastapi extra")
    uvicorn = pytest.importorskip("uvicorn", reason="needs uvicorn (test extra)")
    httpx = pytest.importorskip("httpx", reason="needs httpx (test extra)")
    app = load_example("fastapi_app.py", "fastapi_example_app_real").create_app(
        base_url=real_flowise.base_url,
        chatflow_id=chatflows["conversation"],
        api_key=real_flowise.api_key,
    )
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", http="h11", ws="none"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(250):
            if server.started:
                break
            await asyncio.sleep(0.02)
        assert server.started
        url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        async with httpx.AsyncClient(timeout=60) as http:
            response = await http.get(f"{url}/chat", params={"question": "relay me"})
            tokens = [
                json.loads(block.split("data: ", 1)[1])
                for block in response.text.split("\n\n")
                if block.startswith("event: token")
            ]
            assert "".join(tokens) == echo_reply("relay me")
            assert response.text.rstrip().endswith('event: end\ndata: "[DONE]"')
            slow = {"question": "slow [[words=60]] [[delay=100]]"}
            async with http.stream("GET", f"{url}/chat", params=slow) as streamed:
                async for chunk in streamed.aiter_text():
                    if "event: token" in chunk:
                        break
        client: AsyncFlowise = app.state.flowise
        for _ in range(100):
            await client.wait_for_aborts()
            if client.pool_stats()["acquired"] == 0:
                break
            await asyncio.sleep(0.05)
        assert client.pool_stats()["acquired"] == 0
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


# -- command line ---------------------------------------------------------------------------


async def _cli(real: RealFlowise, *args: str, api_key: str | None = None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWISE_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["FLOWISE_BASE_URL"] = real.base_url
    env["FLOWISE_API_KEY"] = real.api_key if api_key is None else api_key
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "flowise_async",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_predict_and_errors(real_flowise: RealFlowise, chatflows: dict[str, str]) -> None:
    """predict streams the answer; an unknown chatflow and a wrong key give their exit codes."""
    code, out, err = await _cli(real_flowise, "predict", chatflows["conversation"], "cli hello")
    assert code == 0, err
    assert out == echo_reply("cli hello") + "\n"
    code, _, err = await _cli(real_flowise, "predict", str(uuid.uuid4()), "hello")
    assert code == 5, err
    assert "Traceback" not in err
    code, _, err = await _cli(real_flowise, "chatflows", "list", api_key="wrong-key")
    assert code == 4, err
    code, out, _ = await _cli(real_flowise, "chatflows", "list")
    assert code == 0
    assert chatflows["conversation"] in out


async def test_cli_batch_and_ping(
    real_flowise: RealFlowise, chatflows: dict[str, str], tmp_path: Path
) -> None:
    """batch answers a JSONL file into JSONL; ping reports the server's version."""
    questions = tmp_path / "q.jsonl"
    questions.write_text('"one"\n{"id": 7, "question": "two"}\n', encoding="utf-8")
    answers = tmp_path / "a.jsonl"
    code, _, err = await _cli(
        real_flowise, "batch", chatflows["conversation"], str(questions), "-o", str(answers)
    )
    assert code == 0, err
    records = [json.loads(line) for line in answers.read_text().splitlines()]
    assert sorted(r["text"] for r in records) == [echo_reply("one"), echo_reply("two")]
    code, out, _ = await _cli(real_flowise, "ping")
    assert code == 0
    assert out.startswith("pong from")
    assert "Flowise 3." in out
