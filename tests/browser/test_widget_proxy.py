"""The official ``flowise-embed`` widget in Chromium, through the proxy, to a real Flowise."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest


pytest.importorskip("playwright.async_api", reason="needs playwright (nox -s browser)")
pytest.importorskip("fastapi", reason="needs the fastapi extra")

from fastapi import FastAPI

from harness.fake_llm import echo_reply
from harness.server import RealFlowise
from tests._examples import load_example
from tests.browser import setup
from tests.browser.conftest import Serve


pytestmark = pytest.mark.integration


example: Any = load_example("widget_proxy.py", "browser_widget_example")


async def test_widget_streams_through_the_proxy_and_never_sees_the_key(
    browser: Any,
    serve: Serve,
    real_flowise: RealFlowise,
    chatflows: dict[str, str],
    artifacts: Path,
) -> None:
    """The answer streams into the widget; no request or page shows the key or Flowise."""
    script = setup.ensure_widget()
    flow_id = chatflows["conversation"]
    app = example.create_app(
        real_flowise.base_url, flow_id, real_flowise.api_key, widget_script=script
    )
    url = await serve(app)
    question = f"widget {uuid.uuid4().hex[:8]} [[words=5]] [[delay=80]]"
    expected = echo_reply(question)

    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    requests: list[Any] = []
    responses: list[Any] = []
    # Playwright wants Python functions as handlers, not built-in methods such as list.append.
    page.on("request", lambda request: requests.append(request))  # noqa: PLW0108
    page.on("response", lambda response: responses.append(response))  # noqa: PLW0108
    await page.goto(url + "/")
    box = page.get_by_placeholder("Type your question")
    await box.wait_for(timeout=30_000)
    await box.fill(question)
    await box.press("Enter")
    answer = page.locator(".chatbot-host-bubble").filter(has_text=expected)
    await answer.first.wait_for(timeout=60_000)
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=str(artifacts / "widget-answer.png"))

    # The widget asked the proxy for a stream and got Flowise's event stream from it.
    predictions = [r for r in requests if "/api/v1/prediction/" in r.url]
    assert len(predictions) == 1
    assert predictions[0].url == f"{url}/api/v1/prediction/support"
    assert json.loads(predictions[0].post_data)["streaming"] is True
    streamed = next(r for r in responses if r.request is predictions[0])
    assert streamed.status == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert '"event":"token"' in (await streamed.text())

    # Nothing the browser sent or received names the key, Flowise's address or the flow id.
    secrets = {
        real_flowise.api_key,
        urlsplit(real_flowise.base_url).netloc,
        urlsplit(real_flowise.llm_base_url).netloc,
        flow_id,
    }
    seen = [await page.content()]
    for request in requests:
        assert urlsplit(request.url).netloc == urlsplit(url).netloc, request.url
        seen += [request.url, json.dumps(await request.all_headers()), request.post_data or ""]
    for response in responses:
        seen.append(json.dumps(await response.all_headers()))
        seen.append(await response.text())
    everything = "\n".join(seen)
    for secret in secrets:
        assert secret not in everything
    await page.close()


async def test_widget_routes_against_real_flowise(
    real_flowise: RealFlowise, chatflows: dict[str, str]
) -> None:
    """Config without flowData, feedback and leads where enabled, the rest 404 (no browser)."""
    import httpx

    from flowise_async import AsyncFlowise
    from flowise_async.fastapi import flowise_lifespan
    from flowise_async.widget import WidgetFlow, widget_router

    flow_id = chatflows["conversation"]
    app = FastAPI(
        lifespan=flowise_lifespan(
            lambda: AsyncFlowise(real_flowise.base_url, api_key=real_flowise.api_key)
        )
    )
    flows = {"open": WidgetFlow(flow_id, feedback=True, leads=True), "plain": flow_id}
    app.include_router(widget_router(flows))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as http:
            config = await http.get("/api/v1/public-chatbotConfig/open")
            assert config.status_code == 200
            assert "flowData" not in config.json()
            assert config.json()["uploads"]["isImageUploadAllowed"] is False
            assert (await http.get("/api/v1/chatflows-streaming/open")).json() == {
                "isStreaming": True
            }
            answer = await http.post("/api/v1/prediction/open", json={"question": "rate me"})
            assert answer.status_code == 200
            assert answer.json()["text"] == echo_reply("rate me")
            message_id = answer.json()["chatMessageId"]
            chat_id = answer.json()["chatId"]
            rated = await http.post(
                "/api/v1/feedback/open",
                json={"chatId": chat_id, "messageId": message_id, "rating": "THUMBS_UP"},
            )
            assert rated.status_code == 200, rated.text
            assert rated.json()["rating"] == "THUMBS_UP"
            assert flow_id not in rated.text
            lead = await http.post(
                "/api/v1/leads/open", json={"name": "Ada", "email": "ada@example.com"}
            )
            assert lead.status_code == 200, lead.text
            assert lead.json()["email"] == "ada@example.com"
            assert flow_id not in lead.text
            for path in ("/api/v1/feedback/plain", "/api/v1/leads/plain"):
                assert (await http.post(path, json={"messageId": "x"})).status_code == 404
    async with AsyncFlowise(real_flowise.base_url, api_key=real_flowise.api_key) as client:
        stored = await client.feedback.list(flow_id)
        assert any(item.message_id == message_id for item in stored)
