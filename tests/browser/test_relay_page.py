"""The example chat page in Chromium, through the SSE relay, in front of a real Flowise."""

from __future__ import annotations

import asyncio
import time
import types
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest


pytest.importorskip("playwright.async_api", reason="needs playwright (nox -s browser)")
pytest.importorskip("fastapi", reason="needs the fastapi extra")

import aiohttp

from harness.fake_llm import echo_reply
from harness.server import RealFlowise
from tests._examples import load_example
from tests.browser.conftest import Serve


pytestmark = pytest.mark.integration


# Records every text the answer element shows, with the animation frame it showed in.
RECORDER = """
() => {
  const out = document.getElementById("out");
  window.__frame = 0;
  const tick = () => { window.__frame += 1; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  window.__states = [];
  new MutationObserver(() => {
    window.__states.push({ text: out.textContent, frame: window.__frame, t: performance.now() });
  }).observe(out, { childList: true, characterData: true, subtree: true });
}
"""


example: Any = load_example("fastapi_app.py", "browser_relay_example")
Seen = list[tuple[str, str, int]]


@pytest.fixture
async def traced() -> AsyncIterator[tuple[aiohttp.ClientSession, Seen]]:
    """An aiohttp session for the app's client that records (method, path, status)."""
    seen: Seen = []

    async def on_request_end(
        session: aiohttp.ClientSession,
        context: types.SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        seen.append((params.method, params.url.path, params.response.status))

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        yield session, seen


async def _ask(page: Any, question: str) -> None:
    await page.evaluate(RECORDER)
    await page.fill("#q", question)
    await page.click("button")


async def test_answer_appears_token_by_token(
    browser: Any,
    serve: Serve,
    real_flowise: RealFlowise,
    chatflows: dict[str, str],
    artifacts: Path,
) -> None:
    """The DOM grows over several frames and ends with exactly the model's answer."""
    app = example.create_app(real_flowise.base_url, chatflows["conversation"], real_flowise.api_key)
    url = await serve(app)
    question = f"browser {uuid.uuid4().hex[:8]} [[words=6]] [[delay=120]]"
    expected = echo_reply(question)
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(url + "/")
    await _ask(page, question)
    await page.wait_for_function(
        "document.getElementById('out').dataset.state !== 'streaming'", timeout=60_000
    )
    assert await page.get_attribute("#out", "data-state") == "done"
    assert await page.text_content("#out") == expected
    states = await page.evaluate("window.__states")
    texts = [state["text"] for state in states if state["text"]]
    assert len(set(texts)) >= 4, texts  # the answer grew piece by piece...
    assert len({state["frame"] for state in states if state["text"]}) >= 4  # ...across frames
    assert all(expected.startswith(text) for text in texts)
    assert states[-1]["t"] - next(s["t"] for s in states if s["text"]) > 300
    await page.screenshot(path=str(artifacts / "relay-answer.png"))
    await page.close()


async def _model_request(real: RealFlowise, marker: str, settle: float) -> dict[str, Any]:
    deadline = time.monotonic() + settle
    while True:
        mine = [r for r in await asyncio.to_thread(real.llm_requests) if marker in str(r["body"])]
        if mine and (mine[-1]["complete"] or mine[-1]["disconnected"]):
            return mine[-1]
        if time.monotonic() > deadline:
            pytest.fail(f"the model request for {marker} did not end within {settle} s: {mine}")
        await asyncio.sleep(0.1)


async def test_closing_the_tab_closes_upstream_and_aborts(
    browser: Any,
    serve: Serve,
    real_flowise: RealFlowise,
    chatflows: dict[str, str],
    traced: tuple[aiohttp.ClientSession, Seen],
) -> None:
    """Closing the tab mid-answer: the relay closes upstream, aborts; the model call stops."""
    session, seen = traced
    flow_id = chatflows["agentflow"]
    app = example.create_app(real_flowise.base_url, flow_id, real_flowise.api_key, session=session)
    url = await serve(app)
    marker = f"tab-{uuid.uuid4().hex[:8]}"
    page = await browser.new_page()
    await page.goto(url + "/")
    await _ask(page, f"{marker} [[words=80]] [[delay=100]]")
    await page.wait_for_function(
        "document.getElementById('out').textContent.length > 0", timeout=60_000
    )
    await page.close()

    # 80 tokens at 100 ms would take 8 s: the abort stops the model call within 2 s.
    request = await _model_request(real_flowise, marker, settle=2.0)
    assert request["disconnected"] is True
    assert request["complete"] is False

    client = app.state.flowise
    await client.wait_for_aborts()
    aborts = [entry for entry in seen if entry[0] == "PUT"]
    assert len(aborts) == 1
    assert aborts[0][1].startswith(f"/api/v1/chatmessage/abort/{flow_id}/")
    assert aborts[0][2] == 200
    assert client.pool_stats()["acquired"] == 0
