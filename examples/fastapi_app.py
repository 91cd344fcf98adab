"""
A FastAPI app that relays a Flowise chatflow to browsers as server-sent events.

Run it with::

    FLOWISE_BASE_URL=http://localhost:3000 FLOWISE_CHATFLOW_ID=<id> \\
        uvicorn examples.fastapi_app:app --port 8000

then open http://localhost:8000/ (a tiny page using ``EventSource``), or::

    curl -N "http://localhost:8000/chat?question=What+is+Flowise%3F"

One `AsyncFlowise` lives as long as the app (created in the lifespan, closed at shutdown);
every request borrows it. When a browser leaves mid-answer, the upstream stream is closed at
once and the run is aborted on the Flowise server (``abort_on_exit=True``).
"""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from flowise_async import AsyncFlowise, FlowiseError, NotFoundError
from flowise_async.fastapi import SSEResponse, flowise_lifespan, get_flowise, sse_response


PAGE = """<!doctype html>
<meta charset="utf-8"><title>Flowise relay</title>
<form id="f"><input id="q" size="60" value="What is Flowise?"><button>Ask</button></form>
<pre id="out"></pre>
<script>
document.getElementById("f").onsubmit = (e) => {
  e.preventDefault();
  const out = document.getElementById("out");
  out.textContent = "";
  const q = encodeURIComponent(document.getElementById("q").value);
  const source = new EventSource("/chat?question=" + q);
  source.addEventListener("token", (m) => { out.textContent += JSON.parse(m.data); });
  source.addEventListener("error", (m) => {
    if (m.data) out.textContent += "\\n[error] " + JSON.parse(m.data).message;
  });
  source.addEventListener("end", () => source.close());
};
</script>
"""


#: The app's client, as a dependency of the route handlers.
Flowise = Annotated[AsyncFlowise, Depends(get_flowise)]


class Ask(BaseModel):
    """The body of ``POST /ask``."""

    question: str
    chat_id: str | None = None


def create_app(
    base_url: str | None = None, chatflow_id: str | None = None, api_key: str | None = None
) -> FastAPI:
    """
    Build the app. Without arguments it reads ``FLOWISE_BASE_URL``, ``FLOWISE_API_KEY`` and
    ``FLOWISE_CHATFLOW_ID`` at start-up.
    """

    def client() -> AsyncFlowise:
        # abort_on_exit: a browser that leaves also stops the run on the server.
        return AsyncFlowise(base_url, api_key=api_key, abort_on_exit=True)

    app = FastAPI(title="Flowise relay", lifespan=flowise_lifespan(client))

    def flow_id() -> str:
        value = chatflow_id or os.environ.get("FLOWISE_CHATFLOW_ID")
        if not value:
            raise HTTPException(500, "set FLOWISE_CHATFLOW_ID")
        return value

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE

    @app.get("/chat")
    async def chat(question: str, flowise: Flowise, chat_id: str | None = None) -> SSEResponse:
        """Stream the answer as SSE: ``token`` frames, then ``metadata`` and ``end``."""
        stream = flowise.predictions.stream(flow_id(), question, chat_id=chat_id)
        return sse_response(stream, events={"token", "metadata", "sourceDocuments"})

    @app.post("/ask")
    async def ask(body: Ask, flowise: Flowise) -> dict[str, str | None]:
        """Wait for the whole answer; Flowise's errors become HTTP errors."""
        try:
            prediction = await flowise.predictions.create(
                flow_id(), body.question, chat_id=body.chat_id
            )
        except NotFoundError as exc:
            raise HTTPException(404, exc.message) from None
        except FlowiseError as exc:
            raise HTTPException(502, exc.message) from None
        return {"text": prediction.text, "chat_id": prediction.chat_id}

    return app


app = create_app()
