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

import logging
import os
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from flowise_async import AsyncFlowise, FlowiseError
from flowise_async.fastapi import SSEResponse, flowise_lifespan, get_flowise, sse_response
from flowise_async.serving import describe_error


logger = logging.getLogger("fastapi_app")


PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Flowise relay</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; }
  form { display: flex; gap: .5rem; }
  input { flex: 1; padding: .4rem; }
  #out { white-space: pre-wrap; border: 1px solid #ccc; border-radius: 6px; padding: .8rem;
         min-height: 4rem; margin-top: 1rem; }
  #out[data-state="error"] { border-color: #c33; }
</style>
<form id="f">
  <input id="q" value="What is Flowise?" aria-label="Question"><button>Ask</button>
</form>
<div id="out" data-state="idle"></div>
<script>
document.getElementById("f").onsubmit = (e) => {
  e.preventDefault();
  const out = document.getElementById("out");
  out.textContent = "";
  out.dataset.state = "streaming";
  const q = encodeURIComponent(document.getElementById("q").value);
  const source = new EventSource("/chat?question=" + q);
  source.addEventListener("token", (m) => { out.textContent += JSON.parse(m.data); });
  source.addEventListener("error", (m) => {
    // A frame from the relay has data; a dropped connection has none.
    out.dataset.state = "error";
    out.textContent += "\\n" + (m.data ? JSON.parse(m.data).message : "Connection lost.");
    source.close();
  });
  source.addEventListener("end", () => {
    if (out.dataset.state === "streaming") out.dataset.state = "done";
    source.close();
  });
};
</script>
</html>
"""


#: The app's client, as a dependency of the route handlers.
Flowise = Annotated[AsyncFlowise, Depends(get_flowise)]


class Ask(BaseModel):
    """The body of ``POST /ask``."""

    question: str
    chat_id: str | None = None


def create_app(
    base_url: str | None = None,
    chatflow_id: str | None = None,
    api_key: str | None = None,
    **client_options: Any,
) -> FastAPI:
    """
    Build the app. Without arguments it reads ``FLOWISE_BASE_URL``, ``FLOWISE_API_KEY`` and
    ``FLOWISE_CHATFLOW_ID`` at start-up; *client_options* go to `AsyncFlowise`.
    """

    def client() -> AsyncFlowise:
        # abort_on_exit: a browser that leaves also stops the run on the server.
        return AsyncFlowise(base_url, api_key=api_key, abort_on_exit=True, **client_options)

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
        """
        Wait for the whole answer. Flowise's errors become HTTP errors with a safe status and
        message: Flowise's address and error text stay in the server's log.
        """
        try:
            prediction = await flowise.predictions.create(
                flow_id(), body.question, chat_id=body.chat_id
            )
        except FlowiseError as exc:
            logger.warning("the flow failed: %s", exc)
            error = describe_error(exc)
            raise HTTPException(error.status, error.message, headers=error.headers()) from None
        return {"text": prediction.text, "chat_id": prediction.chat_id}

    return app


app = create_app()
