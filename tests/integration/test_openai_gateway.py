"""
The OpenAI-compatible gateway in front of a real Flowise, driven by independent clients:
the official ``openai`` package, LangChain's ``ChatOpenAI`` and the ``llm`` package.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest


pytest.importorskip("fastapi", reason="needs the fastapi extra")
openai = pytest.importorskip("openai", reason="needs openai (test extra)")
uvicorn = pytest.importorskip("uvicorn", reason="needs uvicorn (fastapi extra)")
httpx = pytest.importorskip("httpx", reason="needs httpx (test extra)")

from flowise_async import AsyncFlowise  # noqa: E402
from flowise_async.openai_gateway import GatewayModel, openai_app  # noqa: E402
from flowise_async.serving import Access, TokenBucket  # noqa: E402
from harness.fake_llm import echo_reply, tokens_of  # noqa: E402
from harness.server import RealFlowise  # noqa: E402
from tests._llm import closing_openai_clients, write_llm_home  # noqa: E402

from .conftest import TIMEOUTS  # noqa: E402


pytestmark = pytest.mark.integration

KEY = "gw-integration-key"
LIMITED_KEY = "gw-limited-key"
START_TIMEOUT = 30.0


class _LimitOne:
    """A token bucket for the user ``limited`` only (one request, then a long wait)."""

    def __init__(self) -> None:
        self.bucket = TokenBucket(rate=0.01, burst=1)

    async def acquire(self, key: str) -> float | None:
        return await self.bucket.acquire(key) if key == "limited" else None


class _Gateway:
    """The gateway app served by uvicorn on 127.0.0.1, in a thread with its own loop."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_keep_alive=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> _Gateway:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@pytest.fixture(scope="module")
def gateway(real_flowise: RealFlowise, chatflows: dict[str, str]) -> Iterator[_Gateway]:
    """One gateway for the module: aliases of the harness's flows, two gateway keys."""
    app = openai_app(
        lambda: AsyncFlowise(
            real_flowise.base_url, api_key=real_flowise.api_key, timeouts=TIMEOUTS
        ),
        models={
            "echo": chatflows["conversation"],
            "agent": GatewayModel(chatflows["agentflow"], name="Agent flow"),
            "broken": chatflows["retrieval-broken"],
        },
        keys={KEY: "tester", LIMITED_KEY: "limited"},
        access=Access(rate_limit=_LimitOne()),
        first_event_timeout=30,
    )
    with _Gateway(app) as served:
        yield served


@pytest.fixture
async def openai_client(gateway: _Gateway) -> AsyncIterator[Callable[..., Any]]:
    """``openai_client(key)``: an ``openai.AsyncOpenAI`` of the gateway, closed after the test."""
    made: list[Any] = []

    def make(key: str = KEY) -> Any:
        made.append(
            openai.AsyncOpenAI(base_url=gateway.url, api_key=key, max_retries=0, timeout=60)
        )
        return made[-1]

    yield make
    for one in made:
        await one.close()


async def _model_request(real: RealFlowise, marker: str, settle: float) -> dict[str, Any]:
    """The fake model's request for *marker*, once it has finished either way (bounded)."""
    deadline = time.monotonic() + settle
    while True:
        mine = [
            r for r in await asyncio.to_thread(real.llm_requests) if marker in str(r.get("body"))
        ]
        if mine and (mine[-1]["complete"] or mine[-1]["disconnected"]):
            return mine[-1]
        if time.monotonic() > deadline:
            pytest.fail(f"the model request for {marker} did not finish in {settle} s: {mine}")
        await asyncio.sleep(0.1)


def _messages_sent_to_model(request: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in request["body"]["messages"]]


async def test_models_list_shows_the_aliases(openai_client: Callable[..., Any]) -> None:
    models = await openai_client().models.list()
    by_id = {model.id: model for model in models.data}
    assert set(by_id) == {"echo", "agent", "broken"}
    assert by_id["echo"].model_extra["name"] == "it-conversation"
    assert by_id["agent"].model_extra["name"] == "Agent flow"
    assert {model.owned_by for model in models.data} == {"flowise"}


async def test_completion_not_streamed_is_the_flows_answer(
    openai_client: Callable[..., Any],
) -> None:
    question = f"plain {uuid.uuid4().hex[:8]}"
    answer = await openai_client().chat.completions.create(
        model="echo", messages=[{"role": "user", "content": question}], temperature=0.3
    )
    assert answer.choices[0].message.content == echo_reply(question)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == "echo"


async def test_streamed_chunks_arrive_while_the_flow_streams(
    openai_client: Callable[..., Any], real_flowise: RealFlowise
) -> None:
    """Text equals the answer, one chunk per model token, the first before the model is done."""
    marker = f"stream-{uuid.uuid4().hex[:8]}"
    question = f"{marker} [[words=10]] [[delay=300]]"
    stream = await openai_client().chat.completions.create(
        model="echo", messages=[{"role": "user", "content": question}], stream=True
    )
    texts = []
    model_done_at_first_text = None
    async for chunk in stream:
        text = chunk.choices[0].delta.content if chunk.choices else None
        if text:
            if model_done_at_first_text is None:
                requests = await asyncio.to_thread(real_flowise.llm_requests)
                [mine] = [r for r in requests if marker in str(r.get("body"))]
                model_done_at_first_text = mine["complete"]
            texts.append(text)
    assert "".join(texts) == echo_reply(question)
    assert texts == tokens_of(echo_reply(question))
    assert model_done_at_first_text is False


async def test_a_named_conversation_uses_flowise_memory(
    openai_client: Callable[..., Any],
    real_flowise: RealFlowise,
    chatflows: dict[str, str],
    client: AsyncFlowise,
) -> None:
    """Only the last message goes to Flowise; its memory brings the earlier turns back."""
    conversation = f"conv-{uuid.uuid4()}"
    gw = openai_client()
    first = f"my name is Ada {conversation[-6:]}"
    messages: list[dict[str, str]] = [{"role": "user", "content": first}]
    one = await gw.chat.completions.create(
        model="echo", messages=messages, extra_headers={"X-Conversation-Id": conversation}
    )
    messages += [
        {"role": "assistant", "content": one.choices[0].message.content or ""},
        {"role": "user", "content": "what is my name"},
    ]
    stream = await gw.chat.completions.create(
        model="echo", messages=messages, stream=True, metadata={"conversation_id": conversation}
    )
    second = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert second == echo_reply("what is my name")

    stored = await client.chat_messages.list(chatflows["conversation"], chat_id=conversation)
    assert [(m.role, m.content) for m in stored] == [
        ("userMessage", first),
        ("apiMessage", echo_reply(first)),
        ("userMessage", "what is my name"),
        ("apiMessage", second),
    ]
    last = [
        r for r in await asyncio.to_thread(real_flowise.llm_requests) if "what is my name" in str(r)
    ][-1]
    sent = _messages_sent_to_model(last)
    assert ("user", first) in sent  # from Flowise's memory
    assert sent.count(("user", first)) == 1


async def test_without_a_conversation_earlier_messages_go_as_history(
    openai_client: Callable[..., Any], real_flowise: RealFlowise
) -> None:
    marker = uuid.uuid4().hex[:8]
    answer = await openai_client().chat.completions.create(
        model="echo",
        messages=[
            {"role": "system", "content": "gateway system prompt"},
            {"role": "user", "content": f"earlier {marker}"},
            {"role": "assistant", "content": f"earlier answer {marker}"},
            {"role": "user", "content": f"now {marker}"},
        ],
    )
    assert answer.choices[0].message.content == echo_reply(f"now {marker}")
    request = [
        r for r in await asyncio.to_thread(real_flowise.llm_requests) if f"now {marker}" in str(r)
    ][-1]
    sent = _messages_sent_to_model(request)
    assert ("user", f"earlier {marker}") in sent
    assert ("assistant", f"earlier answer {marker}") in sent
    assert not [text for _, text in sent if "gateway system prompt" in text]


async def test_usage_of_an_agent_flow(openai_client: Callable[..., Any]) -> None:
    """usageMetadata becomes OpenAI usage: the last chunk with include_usage, and non-streamed."""
    gw = openai_client()
    stream = await gw.chat.completions.create(
        model="agent",
        messages=[{"role": "user", "content": "count my tokens"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == echo_reply("count my tokens")
    assert chunks[-1].choices == []
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens == len(tokens_of(text))
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    whole = await gw.chat.completions.create(
        model="agent", messages=[{"role": "user", "content": "count my tokens"}]
    )
    assert whole.usage is not None
    assert whole.usage.completion_tokens == usage.completion_tokens


async def test_errors_are_openais_own_exceptions(openai_client: Callable[..., Any]) -> None:
    """401, 404 model, 400 for tools / images / n > 1, 429 with Retry-After, 5xx."""
    question = [{"role": "user", "content": "q"}]
    with pytest.raises(openai.AuthenticationError):
        await openai_client("not-a-key").models.list()
    gw = openai_client()
    with pytest.raises(openai.NotFoundError):
        await gw.chat.completions.create(model="gpt-4o", messages=question)
    with pytest.raises(openai.BadRequestError) as tools:
        await gw.chat.completions.create(
            model="echo",
            messages=question,
            tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        )
    assert tools.value.body["param"] == "tools"
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    with pytest.raises(openai.BadRequestError):
        await gw.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": [image]}]
        )
    with pytest.raises(openai.BadRequestError):
        await gw.chat.completions.create(model="echo", messages=question, n=2)
    limited = openai_client(LIMITED_KEY)
    await limited.chat.completions.create(model="echo", messages=question)
    with pytest.raises(openai.RateLimitError) as too_many:
        await limited.chat.completions.create(model="echo", messages=question)
    assert int(too_many.value.response.headers["retry-after"]) > 1
    with pytest.raises(openai.InternalServerError) as failing:
        await gw.chat.completions.create(model="broken", messages=question)
    assert failing.value.body["code"] == "flow_error"
    for error in (tools.value, too_many.value, failing.value):
        assert "127.0.0.1" not in error.response.text


async def test_second_request_on_a_busy_conversation_is_a_conflict(
    openai_client: Callable[..., Any],
) -> None:
    conversation = f"busy-{uuid.uuid4()}"
    headers = {"X-Conversation-Id": conversation}
    gw = openai_client()
    stream = await gw.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "slow [[words=20]] [[delay=100]]"}],
        stream=True,
        extra_headers=headers,
    )
    async with stream:
        with pytest.raises(openai.ConflictError) as busy:
            await gw.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "q"}], extra_headers=headers
            )
        rest = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert busy.value.body["code"] == "conversation_busy"
    assert rest.endswith("w20")
    after = await gw.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "next"}], extra_headers=headers
    )
    assert after.choices[0].message.content == echo_reply("next")


async def test_error_after_streaming_began_raises_in_the_client(
    openai_client: Callable[..., Any],
) -> None:
    """The agent flow starts, then its model fails: openai raises APIError mid-stream."""
    stream = await openai_client().chat.completions.create(
        model="agent", messages=[{"role": "user", "content": "[[error]]"}], stream=True
    )
    with pytest.raises(openai.APIError) as caught:
        async for _ in stream:
            pass
    assert not isinstance(caught.value, openai.APIStatusError)
    assert caught.value.body["code"] == "flow_error"


async def test_cancelling_a_stream_aborts_the_run(
    openai_client: Callable[..., Any], real_flowise: RealFlowise
) -> None:
    """The client closes its stream: the gateway closes the upstream and aborts the run."""
    marker = f"cancel-{uuid.uuid4().hex[:8]}"
    stream = await openai_client().chat.completions.create(
        model="agent",
        messages=[{"role": "user", "content": f"{marker} [[words=80]] [[delay=100]]"}],
        stream=True,
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    await stream.close()
    # 80 tokens at 100 ms take 8 s; the abort stops the model call well before.
    request = await _model_request(real_flowise, marker, settle=6)
    assert request["disconnected"] is True
    assert request["complete"] is False


async def test_langchain_chat_openai_streams_through_the_gateway(gateway: _Gateway) -> None:
    langchain_openai = pytest.importorskip("langchain_openai", reason="needs langchain-openai")
    http = openai.DefaultAsyncHttpxClient()  # ours, so that it is closed after the test
    model = langchain_openai.ChatOpenAI(
        model="echo",
        base_url=gateway.url,
        api_key=KEY,
        max_retries=0,
        timeout=60,
        http_async_client=http,
    )
    question = "hello from langchain [[words=3]]"
    try:
        chunks = [chunk async for chunk in model.astream(question)]
    finally:
        await http.aclose()
    texts = [chunk.content for chunk in chunks if chunk.content]
    assert "".join(texts) == echo_reply(question)
    assert len(texts) == len(tokens_of(echo_reply(question)))


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_the_llm_package_through_the_gateway(
    gateway: _Gateway, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    """llm's async API and its command line (private LLM_USER_PATH), streamed and not."""
    llm = pytest.importorskip("llm", reason="needs llm (test extra)")
    home = write_llm_home(
        tmp_path / "llm", api_base=gateway.url, key=KEY, model_id="flowise-echo", model="echo"
    )
    monkeypatch.setenv("LLM_USER_PATH", str(home))
    question = f"from llm {uuid.uuid4().hex[:8]}"
    async with closing_openai_clients(monkeypatch):
        response = llm.get_async_model("flowise-echo").prompt(question, stream=stream)
        assert await response.text() == echo_reply(question)
        usage = await response.usage()
    assert usage.input is not None  # the echo chatflow reports no tokens: zeros
    args = [sys.executable, "-m", "llm", "prompt", "-m", "flowise-echo", question + " cli"]
    if not stream:
        args.insert(-1, "--no-stream")
    process = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "LLM_USER_PATH": str(home)},
    )
    try:
        async with asyncio.timeout(90):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == echo_reply(question + " cli")


async def test_discovery_offers_the_chatflows_and_agent_flows(
    real_flowise: RealFlowise, chatflows: dict[str, str]
) -> None:
    """Without a model table, the flows the key can list are the models, by id."""
    app = openai_app(
        lambda: AsyncFlowise(
            real_flowise.base_url, api_key=real_flowise.api_key, timeouts=TIMEOUTS
        ),
        keys={KEY: "tester"},
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            gw = openai.AsyncOpenAI(
                base_url="http://gateway/v1", api_key=KEY, http_client=http, max_retries=0
            )
            ids = {model.id for model in (await gw.models.list()).data}
            answer = await gw.chat.completions.create(
                model=chatflows["conversation"], messages=[{"role": "user", "content": "found"}]
            )
    assert {chatflows["conversation"], chatflows["agentflow"]} <= ids
    assert answer.choices[0].message.content == echo_reply("found")


async def test_the_serve_openai_command(
    real_flowise: RealFlowise, chatflows: dict[str, str], tmp_path: Any
) -> None:
    """``flowise-async serve-openai`` serves the gateway with uvicorn; SIGTERM stops it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "FLOWISE_BASE_URL": real_flowise.base_url,
        "FLOWISE_API_KEY": real_flowise.api_key,
        "FLOWISE_GATEWAY_KEYS": f"cli-user:{KEY}",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "flowise_async",
            "serve-openai",
            "--port",
            str(port),
            "--model",
            f"echo={chatflows['conversation']}",
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if process.returncode is not None or time.monotonic() > deadline:
                    pytest.fail(f"serve-openai did not start: {log.read_text()}")
                await asyncio.sleep(0.2)
            else:
                writer.close()
                await writer.wait_closed()
                break
        async with openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=60
        ) as gw:
            assert [model.id for model in (await gw.models.list()).data] == ["echo"]
            answer = await gw.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "from the command"}]
            )
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(15):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
    assert answer.choices[0].message.content == echo_reply("from the command")
    output = log.read_text()
    assert "Finished server process" in output  # a graceful stop (uvicorn re-raises SIGTERM)
    assert real_flowise.api_key not in output
