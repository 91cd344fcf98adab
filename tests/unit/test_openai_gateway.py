"""The OpenAI-compatible gateway: request mapping, answers and errors, without a real Flowise."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests._wait import wait_until


pytest.importorskip("fastapi", reason="needs the fastapi extra")
httpx = pytest.importorskip("httpx", reason="needs httpx (test extra)")
openai = pytest.importorskip("openai", reason="needs openai (test extra)")

from flowise_async import AsyncFlowise, Retries, Timeouts  # noqa: E402
from flowise_async import events as ev  # noqa: E402
from flowise_async.openai_gateway import (  # noqa: E402
    ChatRequestError,
    GatewayModel,
    GatewayUser,
    openai_app,
    parse_chat_request,
)
from flowise_async.serving import Access, TokenBucket  # noqa: E402
from flowise_async.testing import FakeFlowise  # noqa: E402


FLOWISE_KEY = "sk-flowise-server-secret"
GATEWAY_KEY = "gw-alice-key"
BOB_KEY = "gw-bob-key"
FLOW = "11111111-2222-3333-4444-555555555555"
NO_RETRIES = Retries(attempts=1)
OTHER_FLOW = "99999999-2222-3333-4444-555555555555"


def body(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A chat completion body for the model ``bot``."""
    return {"model": "bot", "messages": list(messages), **fields}


def user(text: Any) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def sse_data(text: str) -> list[str]:
    """The ``data`` values of an SSE body, comments left out."""
    return [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]


# -- mapping --------------------------------------------------------------------------------


def test_last_user_message_is_the_question_and_earlier_turns_are_history() -> None:
    """system messages are dropped; user/assistant turns become Flowise history roles."""
    chat = parse_chat_request(
        body(
            {"role": "system", "content": "be brief"},
            user("hi"),
            assistant("hello"),
            {"role": "developer", "content": "no"},
            user([{"type": "text", "text": "what "}, {"type": "text", "text": "now?"}]),
            temperature=0.2,
            max_tokens=5,
            user="person-1",
        )
    )
    assert chat.question == "what now?"
    assert chat.history == [
        {"role": "userMessage", "content": "hi"},
        {"role": "apiMessage", "content": "hello"},
    ]
    assert chat.conversation_id is None
    assert chat.ignored == {"temperature", "max_tokens", "user"}
    assert chat.stream is False


def test_named_conversation_sends_no_history() -> None:
    """A conversation header names the chat id; Flowise's memory replaces the history."""
    chat = parse_chat_request(
        body(user("one"), assistant("two"), user("three")),
        {"X-Conversation-Id": "conv-1"},
        conversation_headers=("X-Conversation-Id",),
    )
    assert (chat.conversation_id, chat.question, chat.history) == ("conv-1", "three", [])


def test_metadata_names_the_conversation_and_a_header_wins() -> None:
    """metadata.conversation_id is used when no header names one; user never is."""
    messages = body(user("q"), metadata={"conversation_id": "from-meta"}, user="someone")
    assert parse_chat_request(messages).conversation_id == "from-meta"
    chat = parse_chat_request(messages, {"X-Chat": "from-header"}, conversation_headers=("X-Chat",))
    assert chat.conversation_id == "from-header"
    assert parse_chat_request(body(user("q"), user="someone")).conversation_id is None


def test_stream_options_include_usage() -> None:
    chat = parse_chat_request(body(user("q"), stream=True, stream_options={"include_usage": True}))
    assert chat.stream
    assert chat.include_usage


@pytest.mark.parametrize(
    ("fields", "messages", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, None, "tools"),
        ({"functions": [{"name": "f"}]}, None, "functions"),
        ({"tool_choice": "required"}, None, "tool_choice"),
        ({"n": 2}, None, "n"),
        ({"logprobs": True}, None, "logprobs"),
        ({"response_format": {"type": "json_object"}}, None, "response_format"),
        ({"modalities": ["text", "audio"]}, None, "modalities"),
        (
            {},
            [user([{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}])],
            "messages[0].content[0]",
        ),
        ({}, [user([{"type": "input_audio", "input_audio": {}}])], "messages[0].content[0]"),
        ({}, [user("q"), {"role": "tool", "content": "r", "tool_call_id": "x"}], "messages[1]"),
        ({}, [user("q"), assistant("a")], "messages"),
        ({}, [user("")], "messages"),
        ({}, [{"role": "robot", "content": "x"}], "messages[0].role"),
        ({"stream": "yes"}, None, "stream"),
        ({"metadata": {"conversation_id": "bad\nid"}}, None, "metadata.conversation_id"),
    ],
)
def test_what_a_flow_cannot_take_is_refused_with_the_field(
    fields: dict[str, Any], messages: list[dict[str, Any]] | None, param: str
) -> None:
    """Tools, images, audio, n > 1 ... are a 400 naming the field."""
    request = {"model": "bot", "messages": messages or [user("q")], **fields}
    with pytest.raises(ChatRequestError) as caught:
        parse_chat_request(request)
    assert caught.value.status == 400
    assert caught.value.param == param


@pytest.mark.parametrize("request_body", [None, [], {"messages": [user("q")]}, body()])
def test_malformed_bodies_are_refused(request_body: Any) -> None:
    with pytest.raises(ChatRequestError):
        parse_chat_request(request_body)


# -- the app in front of a fake Flowise -----------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeFlowise]:
    async with FakeFlowise(max_stall=10) as server:
        yield server


Gateway = Callable[..., Any]


@pytest.fixture
def gateway(fake: FakeFlowise) -> Gateway:
    """Build the gateway in front of *fake*; yields an httpx client of it."""

    @asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[httpx.AsyncClient]:
        options.setdefault("models", {"bot": FLOW, "other": GatewayModel(OTHER_FLOW, name="Other")})
        options.setdefault(
            "keys", {GATEWAY_KEY: "alice", BOB_KEY: GatewayUser("bob", models={"other"})}
        )
        app = openai_app(
            lambda: AsyncFlowise(
                fake.url, api_key=FLOWISE_KEY, timeouts=Timeouts(connect=2), retries=NO_RETRIES
            ),
            **options,
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://gateway",
                headers={"Authorization": f"Bearer {GATEWAY_KEY}"},
            ) as http:
                yield http

    return make


def openai_client(http: httpx.AsyncClient, key: str = GATEWAY_KEY) -> Any:
    return openai.AsyncOpenAI(
        base_url="http://gateway/v1", api_key=key, http_client=http, max_retries=0
    )


def assert_no_secrets(text: str, fake: FakeFlowise) -> None:
    assert FLOWISE_KEY not in text
    assert fake.url.removeprefix("http://") not in text
    assert "127.0.0.1" not in text


async def test_completion_text_and_what_flowise_receives(
    gateway: Gateway, fake: FakeFlowise
) -> None:
    """Non-streamed: the flow's tokens joined; Flowise gets question + history, no sampling."""
    fake.answer(FLOW, "Hel", "lo ", "there")
    async with gateway() as http:
        response = await http.post(
            "/v1/chat/completions",
            json=body(
                {"role": "system", "content": "sys"},
                user("first"),
                assistant("reply"),
                user("second"),
                temperature=0,
                max_tokens=3,
            ),
        )
    assert response.status_code == 200
    answer = response.json()
    assert answer["object"] == "chat.completion"
    assert answer["model"] == "bot"
    assert answer["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello there",
        "refusal": None,
    }
    assert answer["choices"][0]["finish_reason"] == "stop"
    # This flow reported no usage: zeros, never a missing field (clients rely on it).
    assert answer["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    [sent] = fake.predictions
    assert sent.path == f"/api/v1/prediction/{FLOW}"
    assert sent.authorized
    assert sent.json["question"] == "second"
    assert sent.json["history"] == [
        {"role": "userMessage", "content": "first"},
        {"role": "apiMessage", "content": "reply"},
    ]
    uuid.UUID(sent.json["chatId"])  # a fresh chat
    assert not {"temperature", "max_tokens", "overrideConfig", "system"} & set(sent.json)
    assert_no_secrets(response.text, fake)


async def test_each_unnamed_request_is_a_fresh_chat(gateway: Gateway, fake: FakeFlowise) -> None:
    fake.answer(FLOW, "ok")
    async with gateway() as http:
        for _ in range(2):
            response = await http.post("/v1/chat/completions", json=body(user("q")))
            assert response.status_code == 200
    first, second = (p.json["chatId"] for p in fake.predictions)
    assert first != second


async def test_streamed_chunks_end_with_done(gateway: Gateway, fake: FakeFlowise) -> None:
    """A role chunk, one chunk per token, the finish chunk, then [DONE]."""
    fake.answer(FLOW, "Hel", "lo")
    async with gateway() as http:
        response = await http.post("/v1/chat/completions", json=body(user("q"), stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    data = sse_data(response.text)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Hel"},
        {"content": "lo"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "stop"]
    assert all("usage" not in c for c in chunks)


async def test_reasoning_goes_out_as_reasoning_content(gateway: Gateway, fake: FakeFlowise) -> None:
    """thinking events: reasoning_content deltas and message field; reasoning=False drops them."""
    thinking = [
        ev.ThinkingEvent(text="Let me "),
        ev.ThinkingEvent(text="think."),
        ev.ThinkingEvent(text="", duration=1.5),  # closes the block: no text, no delta
    ]
    fake.answer(FLOW, "Hi", events=thinking)
    async with gateway() as http:
        streamed = await http.post("/v1/chat/completions", json=body(user("q"), stream=True))
        whole = await http.post("/v1/chat/completions", json=body(user("q")))
        parsed = await openai_client(http).chat.completions.create(
            model="bot", messages=[{"role": "user", "content": "q"}]
        )
    deltas = [json.loads(item)["choices"][0]["delta"] for item in sse_data(streamed.text)[:-1]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Hi"},
        {"reasoning_content": "Let me "},
        {"reasoning_content": "think."},
        {},
    ]
    message = whole.json()["choices"][0]["message"]
    assert message["content"] == "Hi"
    assert message["reasoning_content"] == "Let me think."
    assert parsed.choices[0].message.content == "Hi"
    assert getattr(parsed.choices[0].message, "reasoning_content", None) == "Let me think."

    async with gateway(reasoning=False) as http:
        streamed = await http.post("/v1/chat/completions", json=body(user("q"), stream=True))
        whole = await http.post("/v1/chat/completions", json=body(user("q")))
    deltas = [json.loads(item)["choices"][0]["delta"] for item in sse_data(streamed.text)[:-1]]
    assert deltas == [{"role": "assistant", "content": ""}, {"content": "Hi"}, {}]
    assert "reasoning_content" not in whole.json()["choices"][0]["message"]


async def test_usage_from_usage_metadata(gateway: Gateway, fake: FakeFlowise) -> None:
    """usageMetadata events are summed into OpenAI usage, streamed (include_usage) and not."""
    usage_events = [
        ev.UsageMetadataEvent(input_tokens=2, output_tokens=3, total_tokens=5),
        ev.UsageMetadataEvent(input_tokens=1, output_tokens=1, total_tokens=2),
    ]
    fake.answer(FLOW, "a", "b", events=usage_events)
    expected = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    async with gateway() as http:
        streamed = await http.post(
            "/v1/chat/completions",
            json=body(user("q"), stream=True, stream_options={"include_usage": True}),
        )
        whole = await http.post("/v1/chat/completions", json=body(user("q")))
    chunks = [json.loads(item) for item in sse_data(streamed.text)[:-1]]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == expected
    assert all(c["usage"] is None for c in chunks[:-1])
    assert whole.json()["usage"] == expected


async def test_usage_chunk_without_reported_usage_is_zeros(
    gateway: Gateway, fake: FakeFlowise
) -> None:
    """include_usage on a flow that reports none: a usage object of zeros, not null."""
    fake.answer(FLOW, "a", "b")
    async with gateway() as http:
        streamed = await http.post(
            "/v1/chat/completions",
            json=body(user("q"), stream=True, stream_options={"include_usage": True}),
        )
        parsed = [
            chunk
            async for chunk in await openai_client(http).chat.completions.create(
                model="bot",
                messages=[user("q")],
                stream=True,
                stream_options={"include_usage": True},
            )
        ]
    chunks = [json.loads(item) for item in sse_data(streamed.text)[:-1]]
    zeros = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == zeros
    assert parsed[-1].usage is not None
    assert parsed[-1].usage.total_tokens == 0


async def test_usage_from_agent_flow_nodes_of_a_json_answer(
    gateway: Gateway, fake: FakeFlowise
) -> None:
    """A flow that cannot stream answers JSON: usage comes from its executed nodes."""
    node = {
        "nodeId": "llm_0",
        "nodeLabel": "LLM",
        "data": {"output": {"usageMetadata": {"input_tokens": 4, "output_tokens": 6}}},
        "previousNodeIds": [],
        "status": "FINISHED",
    }
    fake.answer(FLOW, "whole answer", streaming=False, extra={"agentFlowExecutedData": [node]})
    async with gateway() as http:
        response = await http.post("/v1/chat/completions", json=body(user("q"), stream=True))
        whole = await http.post("/v1/chat/completions", json=body(user("q")))
    contents = [
        json.loads(item)["choices"][0]["delta"].get("content")
        for item in sse_data(response.text)[:-1]
    ]
    assert "".join(c or "" for c in contents) == "whole answer"
    assert whole.json()["usage"] == {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}


async def test_named_conversation_is_the_chat_id(gateway: Gateway, fake: FakeFlowise) -> None:
    fake.answer(FLOW, "ok")
    async with gateway() as http:
        response = await http.post(
            "/v1/chat/completions",
            json=body(user("earlier"), assistant("a"), user("now")),
            headers={"X-Conversation-Id": "conv-42"},
        )
    assert response.status_code == 200
    [sent] = fake.predictions
    assert sent.json["chatId"] == "conv-42"
    assert sent.json["question"] == "now"
    assert "history" not in sent.json


async def test_user_conversations_keep_users_apart(gateway: Gateway, fake: FakeFlowise) -> None:
    """With user_conversations, one conversation id names a different chat per user."""
    fake.answer(FLOW, "ok")
    fake.answer(OTHER_FLOW, "ok")
    async with gateway(
        user_conversations=True, keys={GATEWAY_KEY: "alice", BOB_KEY: "bob"}
    ) as http:
        for key in (GATEWAY_KEY, BOB_KEY):
            response = await http.post(
                "/v1/chat/completions",
                json=body(user("q")),
                headers={"Authorization": f"Bearer {key}", "X-Conversation-Id": "c-1"},
            )
            assert response.status_code == 200
    assert [p.json["chatId"] for p in fake.predictions] == ["alice:c-1", "bob:c-1"]


async def test_models_list_and_per_user_models(gateway: Gateway, fake: FakeFlowise) -> None:
    """The configured aliases are the models; a user limited to some sees only those."""
    fake.answer(FLOW, "ok")  # the fake lists the chatflows it has a reply for
    fake.answer(OTHER_FLOW, "ok")
    async with gateway() as http:
        alice = openai_client(http)
        bob = openai_client(http, BOB_KEY)
        assert sorted(m.id for m in (await alice.models.list()).data) == ["bot", "other"]
        assert [m.id for m in (await bob.models.list()).data] == ["other"]
        retrieved = await alice.models.retrieve("other")
        assert (retrieved.id, retrieved.owned_by) == ("other", "flowise")
        assert retrieved.model_extra["name"] == "Other"
        with pytest.raises(openai.NotFoundError):
            await bob.chat.completions.create(model="bot", messages=[user("q")])
        with pytest.raises(openai.NotFoundError):
            await bob.models.retrieve("bot")
    assert fake.predictions == []


async def test_errors_are_openai_exceptions(gateway: Gateway, fake: FakeFlowise) -> None:
    """401, 404 model and 400 refusals arrive as openai's own exception classes."""
    fake.answer(FLOW, "ok")
    async with gateway() as http:
        with pytest.raises(openai.AuthenticationError) as denied:
            await openai_client(http, "wrong").chat.completions.create(
                model="bot", messages=[user("q")]
            )
        assert denied.value.body["code"] == "invalid_api_key"
        client = openai_client(http)
        with pytest.raises(openai.NotFoundError) as missing:
            await client.chat.completions.create(model="nope", messages=[user("q")])
        assert missing.value.body["code"] == "model_not_found"
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(
                model="bot",
                messages=[user("q")],
                tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
            )
        assert refused.value.body["param"] == "tools"
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(model="bot", messages=[user("q")], n=2)
        answer = await client.chat.completions.create(model="bot", messages=[user("q")])
        assert answer.choices[0].message.content == "ok"
    assert len(fake.predictions) == 1


async def test_missing_key_and_other_routes(gateway: Gateway, fake: FakeFlowise) -> None:
    async with gateway() as http:
        no_key = await http.get("/v1/models", headers={"Authorization": ""})
        basic = await http.get("/v1/models", headers={"Authorization": f"Basic {GATEWAY_KEY}"})
        unknown = await http.post("/v1/embeddings", json={"input": "x"})
    assert no_key.status_code == basic.status_code == 401
    assert no_key.json()["error"]["type"] == "invalid_request_error"
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_url"


async def test_without_keys_anyone_may_ask(gateway: Gateway, fake: FakeFlowise) -> None:
    fake.answer(FLOW, "ok")
    async with gateway(keys=None) as http:
        response = await http.post(
            "/v1/chat/completions", json=body(user("q")), headers={"Authorization": ""}
        )
    assert response.status_code == 200


async def test_rate_limit_is_429_with_retry_after(gateway: Gateway, fake: FakeFlowise) -> None:
    """The serving module's rate limit, per gateway user: openai's RateLimitError."""
    fake.answer(FLOW, "ok")
    fake.answer(OTHER_FLOW, "ok")
    limit = Access(rate_limit=TokenBucket(rate=0.01, burst=1))
    async with gateway(access=limit) as http:
        client = openai_client(http)
        await client.chat.completions.create(model="bot", messages=[user("q")])
        with pytest.raises(openai.RateLimitError) as limited:
            await client.chat.completions.create(model="bot", messages=[user("q")])
        # Another user has a bucket of their own.
        await openai_client(http, BOB_KEY).chat.completions.create(
            model="other", messages=[user("q")]
        )
    assert int(limited.value.response.headers["retry-after"]) >= 90
    assert limited.value.body["code"] == "rate_limit_exceeded"


async def test_application_authorization_hook_sees_the_gateway_user(
    gateway: Gateway, fake: FakeFlowise
) -> None:
    seen = []

    def authorize(request: Any) -> None:
        seen.append(request.state.gateway_user.name)

    fake.answer(FLOW, "ok")
    async with gateway(access=Access(authorize=authorize)) as http:
        response = await http.post("/v1/chat/completions", json=body(user("q")))
    assert response.status_code == 200
    assert seen == ["alice"]


async def test_flow_error_before_the_answer_is_a_502(gateway: Gateway, fake: FakeFlowise) -> None:
    """The flow fails before any text: an HTTP error, safe message, no retry asked."""
    fake.answer(FLOW, error="Error: secret internals at http://10.0.0.5")
    async with gateway() as http:
        whole = await http.post("/v1/chat/completions", json=body(user("q")))
        streamed = await http.post("/v1/chat/completions", json=body(user("q"), stream=True))
        with pytest.raises(openai.InternalServerError):
            await openai_client(http).chat.completions.create(model="bot", messages=[user("q")])
    for response in (whole, streamed):
        assert response.status_code == 502
        assert response.headers["x-should-retry"] == "false"
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("server_error", "flow_error")
        assert "10.0.0.5" not in response.text
        assert_no_secrets(response.text, fake)


async def test_error_after_streaming_began_ends_without_done(
    gateway: Gateway, fake: FakeFlowise
) -> None:
    """Text went out, then the flow failed: an error object, no [DONE]; openai raises."""
    fake.answer(FLOW, "partial", error="Error: model exploded at http://10.0.0.5")
    async with gateway() as http:
        response = await http.post("/v1/chat/completions", json=body(user("q"), stream=True))
        stream = await openai_client(http).chat.completions.create(
            model="bot", messages=[user("q")], stream=True
        )
        received = []
        with pytest.raises(openai.APIError) as caught:
            async for chunk in stream:
                received.append(chunk.choices[0].delta.content)
    data = sse_data(response.text)
    assert "[DONE]" not in data
    last = json.loads(data[-1])
    assert last["error"]["code"] == "flow_error"
    assert "10.0.0.5" not in response.text
    assert "partial" in received
    assert not isinstance(caught.value, openai.APIStatusError)


async def test_upstream_failures_map_to_openai_statuses(
    gateway: Gateway, fake: FakeFlowise
) -> None:
    """Flowise's 429 keeps its Retry-After; its 401 (the server key) is the gateway's 502."""
    fake.answer(FLOW, status=429, message="slow down", headers={"Retry-After": "7"}, times=1)
    fake.answer(FLOW, status=401, body={"error": "Unauthorized Access"}, times=1)
    async with gateway() as http:
        limited = await http.post("/v1/chat/completions", json=body(user("q")))
        refused = await http.post("/v1/chat/completions", json=body(user("q")))
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"
    assert refused.status_code == 502
    assert refused.json()["error"]["code"] == "unavailable"
    assert_no_secrets(refused.text, fake)


async def test_unreachable_flowise_is_a_502() -> None:
    app = openai_app(
        lambda: AsyncFlowise(
            "http://127.0.0.1:9", api_key=FLOWISE_KEY, timeouts=Timeouts(connect=2)
        ),
        models={"bot": FLOW},
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            response = await http.post("/v1/chat/completions", json=body(user("q")))
    assert response.status_code == 502
    assert "127.0.0.1" not in response.text
    assert response.json()["error"] == {
        "message": "The assistant is not available right now. Please try again later.",
        "type": "server_error",
        "param": None,
        "code": "unavailable",
    }


async def test_bad_json_and_large_bodies(gateway: Gateway, fake: FakeFlowise) -> None:
    async with gateway(max_body=1000) as http:
        bad = await http.post(
            "/v1/chat/completions", content=b"{nope", headers={"Content-Type": "application/json"}
        )
        large = await http.post("/v1/chat/completions", json=body(user("x" * 2000)))
    assert bad.status_code == 400
    assert large.status_code == 413
    assert fake.predictions == []


async def test_second_request_on_a_busy_conversation_is_409_and_leaving_aborts(
    gateway: Gateway, fake: FakeFlowise
) -> None:
    """One answer at a time per conversation; a client that leaves frees it and aborts the run."""
    fake.answer(FLOW, "a", "b", "c", stall_after=2, times=1)
    fake.answer(FLOW, "done")
    headers = {"X-Conversation-Id": "busy-1"}
    async with gateway() as http:
        first = asyncio.create_task(
            http.post("/v1/chat/completions", json=body(user("q"), stream=True), headers=headers)
        )
        # The run is under way on the server: its lock is held (an abort follows a cancel even
        # before the answer's headers).
        await wait_until(lambda: fake.predictions, what="the first run at the server")
        second = await http.post("/v1/chat/completions", json=body(user("q")), headers=headers)
        elsewhere = await http.post(
            "/v1/chat/completions", json=body(user("q")), headers={"X-Conversation-Id": "free"}
        )
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await wait_until(lambda: fake.aborts, what="the abort of the first run")
        third = await http.post("/v1/chat/completions", json=body(user("q")), headers=headers)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "conversation_busy"
    assert elsewhere.status_code == 200
    assert fake.aborts == [(FLOW, "busy-1")]
    assert third.status_code == 200
    assert third.json()["choices"][0]["message"]["content"] == "done"


# -- the command ----------------------------------------------------------------------------


def serve_args(*argv: str) -> Any:
    from flowise_async.cli import build_parser

    return build_parser().parse_args(["serve-openai", *argv])


async def test_serve_openai_builds_the_gateway_from_its_options(
    fake: FakeFlowise, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--model aliases and $FLOWISE_GATEWAY_KEYS configure the app the command serves."""
    from flowise_async._gateway_cli import build_app

    monkeypatch.setenv("FLOWISE_GATEWAY_KEYS", f"alice:{GATEWAY_KEY}, bob:{BOB_KEY}")
    fake.answer(FLOW, "from the command")
    app = build_app(
        serve_args("--base-url", fake.url, "--api-key", FLOWISE_KEY, "--model", f"bot={FLOW}")
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            client = openai_client(http, BOB_KEY)
            assert [m.id for m in (await client.models.list()).data] == ["bot"]
            answer = await client.chat.completions.create(model="bot", messages=[user("q")])
            with pytest.raises(openai.AuthenticationError):
                await openai_client(http, FLOWISE_KEY).models.list()
    assert answer.choices[0].message.content == "from the command"
    assert fake.predictions[0].authorized


@pytest.mark.parametrize(("flag", "reasoning"), [((), "why"), (("--no-reasoning",), None)])
async def test_serve_openai_passes_reasoning_unless_told_not_to(
    fake: FakeFlowise, monkeypatch: pytest.MonkeyPatch, flag: tuple[str, ...], reasoning: Any
) -> None:
    from flowise_async._gateway_cli import build_app

    monkeypatch.setenv("FLOWISE_GATEWAY_KEYS", f"alice:{GATEWAY_KEY}")
    fake.answer(FLOW, "ok", events=[ev.ThinkingEvent(text="why")])
    app = build_app(serve_args("--base-url", fake.url, "--model", f"bot={FLOW}", *flag))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            answer = await openai_client(http).chat.completions.create(
                model="bot", messages=[user("q")]
            )
    assert getattr(answer.choices[0].message, "reasoning_content", None) == reasoning


@pytest.mark.parametrize(
    ("argv", "keys", "message"),
    [
        ((), "", "no gateway keys"),
        ((), "alice-without-name", "gateway key 1 is not NAME:KEY"),
        (("--model", "no-equals-sign"), "a:b", "--model expects ALIAS=CHATFLOW_ID"),
        (("--rate", "-1"), "a:b", "--rate must be positive"),
        (("--state-url", "http://127.0.0.1:6379"), "a:b", "--state-url must be a redis://"),
        (("--lock-ttl", "0"), "a:b", "--lock-ttl must be positive"),
    ],
)
def test_serve_openai_usage_errors(
    argv: tuple[str, ...],
    keys: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Wrong options exit with 2 and a message that never shows a key."""
    from flowise_async.cli import main

    monkeypatch.setenv("FLOWISE_GATEWAY_KEYS", keys)
    assert main(["serve-openai", "--port", "1", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "alice-without-name" not in err


def test_serve_openai_keys_file_and_no_auth(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from flowise_async._gateway_cli import read_keys

    monkeypatch.delenv("FLOWISE_GATEWAY_KEYS", raising=False)
    keys = tmp_path / "keys"
    keys.write_text("# team keys\nalice:k1\n\nbob: k2  # laptop\n", encoding="utf-8")
    assert read_keys(serve_args("--keys-file", str(keys))) == {"k1": "alice", "k2": "bob"}
    assert read_keys(serve_args("--no-auth")) is None


@pytest.mark.parametrize("stream", [False, True])
async def test_a_client_leaving_before_the_answer_starts_aborts_the_run(
    fake: FakeFlowise, stream: bool
) -> None:
    """Waiting for a whole answer, or for a stream's first token: leaving closes and aborts."""
    fake.answer(FLOW, "never", stall_after=0, times=1)
    fake.answer(FLOW, "later")
    app = openai_app(
        lambda: AsyncFlowise(fake.url, api_key=FLOWISE_KEY, retries=NO_RETRIES),
        models={"bot": FLOW},
        keys={GATEWAY_KEY: "alice"},
    )
    request = json.dumps(body(user("q"), stream=stream)).encode()
    incoming = [{"type": "http.request", "body": request, "more_body": False}]
    gone = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {GATEWAY_KEY}".encode()),
            (b"x-conversation-id", b"leaving"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("gateway", 80),
    }
    async with app.router.lifespan_context(app):
        call = asyncio.create_task(app(scope, receive, send))
        await wait_until(lambda: fake.predictions, what="the run at the server")
        await asyncio.sleep(0.2)  # not a synchronisation: time for a wrong early answer to show
        assert not call.done()  # still waiting for the flow
        gone.set()
        async with asyncio.timeout(5):
            await call
            while not fake.aborts:
                await asyncio.sleep(0.01)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            again = await http.post(
                "/v1/chat/completions",
                json=body(user("q")),
                headers={"Authorization": f"Bearer {GATEWAY_KEY}", "X-Conversation-Id": "leaving"},
            )
    assert fake.aborts == [(FLOW, "leaving")]
    assert again.status_code == 200  # the conversation is free again
    assert not [m for m in sent if m.get("type") == "http.response.start" and m["status"] == 200]


def test_the_docs_mapping_table_names_every_ignored_field() -> None:
    """Each field the gateway accepts without sending it is in the documentation's table."""
    from pathlib import Path

    from flowise_async.openai_gateway import IGNORED_FIELDS

    page = Path(__file__).resolve().parents[2] / "docs" / "openai-gateway.md"
    text = page.read_text(encoding="utf-8")
    assert sorted(f for f in IGNORED_FIELDS if f"`{f}`" not in text) == []


async def test_a_quiet_flow_gets_keep_alive_comments(gateway: Gateway, fake: FakeFlowise) -> None:
    """While the flow is quiet mid-answer, comments keep proxies open; clients skip them."""
    fake.answer(FLOW, "slow", " answer", delay=0.3)
    async with gateway(heartbeat=0.05) as http:
        response = await http.post("/v1/chat/completions", json=body(user("q"), stream=True))
        stream = await openai_client(http).chat.completions.create(
            model="bot", messages=[user("q")], stream=True
        )
        texts = [chunk.choices[0].delta.content async for chunk in stream]
    assert ": keep-alive" in response.text.splitlines()
    assert "".join(t or "" for t in texts) == "slow answer"


async def test_no_first_event_in_time_is_a_504(gateway: Gateway, fake: FakeFlowise) -> None:
    """A flow that says nothing within first_event_timeout: 504, and the run is aborted."""
    fake.answer(FLOW, "never", stall_after=0)
    async with gateway(first_event_timeout=0.3) as http:
        response = await http.post(
            "/v1/chat/completions",
            json=body(user("q"), stream=True),
            headers={"X-Conversation-Id": "silent"},
        )
        async with asyncio.timeout(5):
            while not fake.aborts:
                await asyncio.sleep(0.01)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "timeout"
    assert fake.aborts == [(FLOW, "silent")]
