"""
The Streamlit page of examples/ (``st.write_stream`` of a `SyncStream`), driven by Streamlit's
own testing API against the fake server. Runs in the ``streamlit`` nox session, which installs
Streamlit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowise_async.testing import FakeFlowise


st_testing = pytest.importorskip(
    "streamlit.testing.v1", reason="Streamlit is installed by the streamlit nox session only"
)

PAGE = Path(__file__).resolve().parents[2] / "examples" / "streamlit_chat.py"
TOKENS = ["Flowise", " is", " a", " low-code", " LLM", " app", " builder."]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFlowise]:
    """The fake server on its own loop in a thread (the page's script blocks on the client)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = FakeFlowise(max_stall=10)
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(30)
    monkeypatch.setenv("FLOWISE_BASE_URL", fake.url)
    monkeypatch.setenv("FLOWISE_CHATFLOW_ID", "flow")
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.aclose(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_the_page_streams_the_whole_answer_and_keeps_the_chat(server: FakeFlowise) -> None:
    """Two questions: each answer is shown whole, both runs in one chat, no abort."""
    server.answer("flow", *TOKENS, delay=0.01)
    app = st_testing.AppTest.from_file(str(PAGE), default_timeout=30)
    app.run()
    assert not app.exception
    app.chat_input[0].set_value("What is Flowise?").run()
    assert not app.exception
    messages = app.chat_message
    assert [m.name for m in messages] == ["user", "assistant"]
    assert messages[1].markdown[0].value == "".join(TOKENS)

    app.chat_input[0].set_value("And again?").run()
    assert not app.exception
    texts = [m.markdown[0].value for m in app.chat_message]
    assert texts == ["What is Flowise?", "".join(TOKENS), "And again?", "".join(TOKENS)]
    chat_ids = {request.json["chatId"] for request in server.requests}
    assert len(chat_ids) == 1
    assert [request.json["question"] for request in server.requests] == [
        "What is Flowise?",
        "And again?",
    ]
    assert server.aborts == []
