"""The harness's own parts: the fake model must be exact, or the real-server tests prove nothing."""

from __future__ import annotations

import base64
import json
import math
import struct
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from flowise_async import AsyncFlowise
from harness import install, serve
from harness.fake_llm import ERROR_MESSAGE, FakeLLM, echo_reply, embed, tokens_of
from harness.server import PRELOAD, RealFlowise


@pytest.fixture
async def llm() -> AsyncIterator[tuple[FakeLLM, aiohttp.ClientSession]]:
    async with FakeLLM() as fake, aiohttp.ClientSession() as session:
        yield fake, session


def _chunks(body: str) -> list[Any]:
    frames = [line.removeprefix("data: ") for line in body.split("\n\n") if line]
    assert frames[-1] == "[DONE]"
    return [json.loads(frame) for frame in frames[:-1]]


def test_echo_collapses_whitespace_and_drops_directives() -> None:
    """The reply echoes the message without directives; [[words=N]] appends N words."""
    assert echo_reply("  hello \n  world  ") == "Echo: hello world"
    assert echo_reply("a [[delay=5]] b [[words=3]]") == "Echo: a b w1 w2 w3"
    assert tokens_of("Echo: a b") == ["Echo:", " a", " b"]


async def test_streamed_chat_completion_chunks(
    llm: tuple[FakeLLM, aiohttp.ClientSession],
) -> None:
    """Role chunk, one chunk per word, finish chunk, usage chunk, [DONE]."""
    fake, session = llm
    body = {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi there"}]},
        ],
    }
    async with session.post(f"{fake.base_url}/chat/completions", json=body) as response:
        assert response.status == 200
        chunks = _chunks(await response.text())
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert [d["content"] for d in deltas[1:-1]] == ["Echo:", " hi", " there"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}


async def test_tool_call_then_tool_result(llm: tuple[FakeLLM, aiohttp.ClientSession]) -> None:
    """[[calc=...]] with tools offered asks for the calculator; its result is then echoed."""
    fake, session = llm
    tools = [
        {"type": "function", "function": {"name": "other"}},
        {"type": "function", "function": {"name": "calculator"}},
    ]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "what is 6*7 [[calc=6*7]]"}]
    async with session.post(
        f"{fake.base_url}/chat/completions",
        json={"model": "m", "tools": tools, "messages": messages},
    ) as response:
        answer = await response.json()
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "calculator"
    assert json.loads(call["function"]["arguments"]) == {"input": "6*7"}

    messages += [choice["message"], {"role": "tool", "tool_call_id": call["id"], "content": "42"}]
    async with session.post(
        f"{fake.base_url}/chat/completions",
        json={"model": "m", "tools": tools, "messages": messages},
    ) as response:
        answer = await response.json()
    assert answer["choices"][0]["message"]["content"] == "Tool says: 42"


async def test_error_directive_answers_an_openai_error(
    llm: tuple[FakeLLM, aiohttp.ClientSession],
) -> None:
    """[[error]] answers 400 with an OpenAI-style error body."""
    fake, session = llm
    async with session.post(
        f"{fake.base_url}/chat/completions",
        json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "[[error]]"}]},
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"]["message"] == ERROR_MESSAGE


async def test_embeddings_float_and_base64_agree(
    llm: tuple[FakeLLM, aiohttp.ClientSession],
) -> None:
    """Both encodings carry the same unit-length 64-dimensional vectors; requests are recorded."""
    fake, session = llm
    texts = ["Paris is the capital of France.", "Berlin"]
    results = {}
    for encoding in ("float", "base64"):
        async with session.post(
            f"{fake.base_url}/embeddings",
            json={"model": "e", "input": texts, "encoding_format": encoding},
        ) as response:
            results[encoding] = [item["embedding"] for item in (await response.json())["data"]]
    decoded = [list(struct.unpack("<64f", base64.b64decode(v))) for v in results["base64"]]
    for as_float, as_base64, text in zip(results["float"], decoded, texts, strict=True):
        assert as_float == embed(text)
        assert math.isclose(sum(x * x for x in as_float), 1.0)
        assert all(
            math.isclose(a, b, abs_tol=1e-6) for a, b in zip(as_float, as_base64, strict=True)
        )

    async with session.get(fake.base_url.removesuffix("/v1") + "/_requests") as response:
        recorded = await response.json()
    assert [r["path"] for r in recorded] == ["/v1/embeddings", "/v1/embeddings"]
    async with session.post(fake.base_url.removesuffix("/v1") + "/_reset"):
        pass
    assert fake.requests == []


@pytest.mark.integration
@pytest.mark.parametrize(("encoding", "status"), [("cl100k_base", 200), ("no_such_enc", 404)])
def test_tiktoken_preload_answers_rank_files_locally(encoding: str, status: int) -> None:
    """The Node preload serves js-tiktoken's rank files and 404s unknown encodings, offline."""
    install.ensure_installed(databases=("postgres",))  # loads no database module
    script = (
        f"fetch('https://tiktoken.pages.dev/js/{encoding}.json')"
        ".then(async r => { const body = r.status === 200 ? await r.json() : {};"
        " console.log(JSON.stringify({status: r.status, keys: Object.keys(body)})); })"
    )
    env = install.node_env()
    env["NODE_OPTIONS"] = f"--require {PRELOAD}"
    env["FLOWISE_ASYNC_NODE_MODULES"] = str(install.install_dir() / "node_modules")
    result = subprocess.run(  # noqa: S603 (our own node binary and script)
        [str(install.node_bin()), "-e", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(result.stdout)
    assert answer["status"] == status
    if status == 200:
        assert "bpe_ranks" in answer["keys"]


@pytest.mark.integration
@pytest.mark.lines("2.2.8", "3.1.4")
async def test_serve_creates_and_describes_every_flow_incl_one_that_waits(
    real_flowise: RealFlowise, client: AsyncFlowise
) -> None:
    """
    ``nox -s server`` creates one flow per template and, on 3.x, the agent flow that waits for
    a person; it prints each id with its purpose. The waiting flow does stop for a person.
    """
    ids = serve.create_flows(real_flowise)
    try:
        agent_flows = real_flowise.version.startswith("3.")
        assert ("agentflow-hitl" in ids) is agent_flows
        assert set(ids) == set(serve.flows_for(real_flowise.version))
        printed = serve.describe_flows(ids)
        for name, flow_id in ids.items():
            (line,) = [line for line in printed if flow_id in line]
            assert serve.PURPOSES[name] in line
        stored = {flow.id: flow.type for flow in await client.chatflows.list()}
        for name, flow_id in ids.items():
            assert stored[flow_id] == serve.FLOW_TYPES.get(name, "CHATFLOW")
        if agent_flows:
            async with client.predictions.stream(ids["agentflow-hitl"], "hello") as stream:
                async for _ in stream:
                    pass
            assert stream.pending_action is not None
            assert stream.pending_action.node_label == "Human Input"
    finally:
        for flow_id in ids.values():
            await client.chatflows.delete(flow_id)
