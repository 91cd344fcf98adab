"""
What the three fronts share: access for the relay, the operator's log (one record per failed
or refused request, never a secret), a state store that is down (a safe 503 and a record).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest


pytest.importorskip("fastapi", reason="needs the fastapi extra")
httpx = pytest.importorskip("httpx", reason="needs httpx (test extra)")

from fastapi import FastAPI, Request  # noqa: E402

from flowise_async import AsyncFlowise, Retries, Timeouts  # noqa: E402
from flowise_async.fastapi import flowise_lifespan, get_flowise, sse_response  # noqa: E402
from flowise_async.openai_gateway import openai_router  # noqa: E402
from flowise_async.serving import (  # noqa: E402
    Access,
    RequestRejectedError,
    StateStoreUnavailableError,
    StoreRateLimiter,
    TokenBucket,
)
from flowise_async.testing import FakeFlowise  # noqa: E402
from flowise_async.widget import widget_router  # noqa: E402


KEY = "sk-fronts-LEAK-canary"
USER_TEXT = "my private question 4242"
FLOWISE_TEXT = "boom at http://internal-llm.corp:8080 using sk-fronts-LEAK-canary"
GATEWAY_KEY = "gw-fronts-key"


@asynccontextmanager
async def app_of(fake: FakeFlowise, **routers: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI(
        lifespan=flowise_lifespan(
            lambda: AsyncFlowise(
                fake.url, api_key=KEY, timeouts=Timeouts(connect=2), retries=Retries(attempts=2)
            )
        )
    )
    relay_access = routers.pop("relay_access", None)

    @app.get("/chat")
    async def chat(request: Request, question: str) -> Any:
        stream = get_flowise(request).predictions.stream("flow-1", question)
        return sse_response(stream, access=relay_access)

    for router in routers.values():
        app.include_router(router)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            yield http


def records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.serving for r in caplog.records if r.name == "flowise_async.serving"]  # type: ignore[attr-defined]


def assert_no_secrets(caplog: pytest.LogCaptureFixture, fake: FakeFlowise) -> None:
    for record in caplog.records:
        text = record.getMessage() + repr(getattr(record, "serving", ""))
        for secret in (KEY, USER_TEXT, fake.url, fake.url.removeprefix("http://")):
            assert secret not in text, (secret, text)


async def test_relay_access_refuses_before_flowise(caplog: pytest.LogCaptureFixture) -> None:
    """access= on the relay: allow-list (404), authorization (403), rate limit (429)."""
    caplog.set_level(logging.INFO, logger="flowise_async.serving")

    def authorize(request: Request) -> str:
        if request.headers.get("x-user") is None:
            raise RequestRejectedError("Sign in first.", status=403)
        return request.headers["x-user"]

    async with FakeFlowise() as fake:
        fake.answer("flow-1", "hello")
        limited = Access(authorize=authorize, rate_limit=TokenBucket(rate=0.01, burst=1))
        async with app_of(fake, relay_access=limited) as http:
            anonymous = await http.get("/chat", params={"question": USER_TEXT})
            first = await http.get("/chat", params={"question": USER_TEXT}, headers={"x-user": "a"})
            second = await http.get(
                "/chat", params={"question": USER_TEXT}, headers={"x-user": "a"}
            )
        async with app_of(fake, relay_access=Access(chatflows={"other"})) as http:
            hidden = await http.get("/chat", params={"question": USER_TEXT})
        assert len(fake.predictions) == 1  # only the admitted request reached Flowise
        assert_no_secrets(caplog, fake)
    assert anonymous.status_code == 403
    assert anonymous.json() == {"type": "rejected", "message": "Sign in first."}
    assert first.status_code == 200
    assert "hello" in first.text
    assert second.status_code == 429
    assert int(second.headers["retry-after"]) >= 1
    assert hidden.status_code == 404
    logged = records(caplog)
    assert [(r["front"], r["kind"], r["status"]) for r in logged] == [
        ("relay", "rejected", 403),
        ("relay", "rejected", 429),
        ("relay", "rejected", 404),
    ]
    assert {r["route"] for r in logged} == {"/chat"}
    assert {r["flow"] for r in logged} == {"flow-1"}


async def test_one_record_per_failed_request_on_each_front(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Relay, widget and gateway log a failure once, with status and attempts, no secrets."""
    caplog.set_level(logging.INFO, logger="flowise_async.serving")
    async with FakeFlowise() as fake:
        fake.answer("flow-1", status=500, message=FLOWISE_TEXT)
        gateway = openai_router({"bot": "flow-1"}, keys={GATEWAY_KEY: "alice"})
        async with app_of(fake, widget=widget_router({"pub": "flow-1"}), gateway=gateway) as http:
            relayed = await http.get("/chat", params={"question": USER_TEXT})
            widget = await http.post("/api/v1/prediction/pub", json={"question": USER_TEXT})
            completion = await http.post(
                "/v1/chat/completions",
                json={"model": "bot", "messages": [{"role": "user", "content": USER_TEXT}]},
                headers={"Authorization": f"Bearer {GATEWAY_KEY}"},
            )
            refused = await http.post(
                "/v1/chat/completions",
                json={"model": "bot", "messages": [{"role": "user", "content": USER_TEXT}]},
            )
        assert_no_secrets(caplog, fake)
    assert "event: error" in relayed.text
    assert widget.status_code == 502
    assert completion.status_code == 502
    assert refused.status_code == 401
    logged = records(caplog)
    assert [(r["front"], r["kind"], r["upstream_status"]) for r in logged] == [
        ("relay", "unavailable", 500),
        ("widget", "unavailable", 500),
        ("gateway", "unavailable", 500),
        ("gateway", "rejected", None),
    ]
    assert [r["route"] for r in logged] == [
        "/chat",
        "/api/v1/prediction/{public_id}",
        "/v1/chat/completions",
        "/v1/chat/completions",
    ]
    assert [r["flow"] for r in logged] == ["flow-1", "pub", "bot", None]
    for record in logged[:3]:
        assert record["attempts"] == 1  # a prediction is not sent twice after a 500
        assert record["duration_ms"] >= 0
        # Flowise's text, redacted: the key is masked (the internal host is Flowise's own).
        assert record["flowise_error"] is not None
        assert "***" in record["flowise_error"]
        assert "internal-llm" in record["flowise_error"]
    levels = [r.levelno for r in caplog.records if r.name == "flowise_async.serving"]
    assert levels == [logging.WARNING] * 3 + [logging.INFO]


async def test_in_band_errors_are_logged_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="flowise_async.serving")
    async with FakeFlowise() as fake:
        fake.answer("flow-1", "part", error=FLOWISE_TEXT)
        async with app_of(fake, widget=widget_router({"pub": "flow-1"})) as http:
            relayed = await http.get("/chat", params={"question": USER_TEXT})
            widget = await http.post(
                "/api/v1/prediction/pub", json={"question": USER_TEXT, "streaming": True}
            )
        assert_no_secrets(caplog, fake)
    assert "internal-llm" not in relayed.text + widget.text
    logged = records(caplog)
    assert [(r["front"], r["kind"]) for r in logged] == [
        ("relay", "flow_error"),
        ("widget", "flow_error"),
    ]
    assert all("***" in (r["flowise_error"] or "") for r in logged)


class DownStore:
    """A state store whose server is gone."""

    async def take(self, key: str, *, rate: float, burst: int) -> float | None:
        raise StateStoreUnavailableError("store at redis://10.9.9.9:6379 refused")

    async def lock(self, key: str, owner: str, *, ttl: float) -> bool:
        raise StateStoreUnavailableError("store at redis://10.9.9.9:6379 refused")

    async def renew(self, key: str, owner: str, *, ttl: float) -> bool:
        raise StateStoreUnavailableError("down")

    async def unlock(self, key: str, owner: str) -> bool:
        raise StateStoreUnavailableError("down")

    async def aclose(self) -> None:
        return None


async def test_a_state_store_that_is_down_is_a_safe_503(caplog: pytest.LogCaptureFixture) -> None:
    """Rate limits and conversation locks on a store that is down: 503, a record, no detail."""
    caplog.set_level(logging.INFO, logger="flowise_async.serving")
    store = DownStore()
    async with FakeFlowise() as fake:
        fake.answer("flow-1", "hello")
        gateway = openai_router({"bot": "flow-1"}, access=Access(state=store))
        relay_access = Access(rate_limit=StoreRateLimiter(store, rate=1, burst=1))
        async with app_of(fake, gateway=gateway, relay_access=relay_access) as http:
            relayed = await http.get("/chat", params={"question": USER_TEXT})
            conversation = await http.post(
                "/v1/chat/completions",
                json={"model": "bot", "messages": [{"role": "user", "content": USER_TEXT}]},
                headers={"X-Conversation-Id": "c1"},
            )
            fresh = await http.post(
                "/v1/chat/completions",
                json={"model": "bot", "messages": [{"role": "user", "content": USER_TEXT}]},
            )
        assert len(fake.predictions) == 1  # the fresh chat needs no lock
    assert relayed.status_code == 503
    assert conversation.status_code == 503
    assert fresh.status_code == 200
    for response in (relayed, conversation):
        assert "redis" not in response.text
        assert "10.9.9.9" not in response.text
    logged = records(caplog)
    assert [(r["front"], r["kind"], r["status"]) for r in logged] == [
        ("relay", "unavailable", 503),
        ("gateway", "unavailable", 503),
    ]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("flowise_async.fastapi", "flowise_async.serving.relay"),
        ("flowise_async.widget", "flowise_async.serving.widget"),
        ("flowise_async.openai_gateway", "flowise_async.serving.gateway"),
    ],
)
def test_the_fronts_keep_their_import_paths(old: str, new: str) -> None:
    """Every public name stays where it was; other names moved, with a deprecation warning."""
    import importlib

    before, after = importlib.import_module(old), importlib.import_module(new)
    assert before.__all__ == after.__all__
    for name in before.__all__:
        assert getattr(before, name) is getattr(after, name)
    moved = next(
        name
        for name in vars(after)
        if not name.startswith("__") and name not in after.__all__ and name.isupper()
    )
    with pytest.warns(DeprecationWarning, match=new):
        assert getattr(before, moved) is getattr(after, moved)
    with pytest.raises(AttributeError):
        _ = before.no_such_name
