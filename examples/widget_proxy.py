"""
Flowise's official chat widget on your own page, with the API key and the Flowise server kept
behind your backend.

Run it with::

    FLOWISE_BASE_URL=http://localhost:3000 FLOWISE_API_KEY=<key> FLOWISE_CHATFLOW_ID=<id> \\
        uvicorn examples.widget_proxy:app --port 8000

then open http://localhost:8000/. The page loads the ``flowise-embed`` widget (from the CDN, or
from a local copy: ``WIDGET_SCRIPT=/path/to/flowise-embed/dist/web.js``) with
``apiHost`` set to this app; the widget knows the chatflow only as ``support``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse

from flowise_async import AsyncFlowise
from flowise_async.fastapi import flowise_lifespan
from flowise_async.serving import Access, TokenBucket
from flowise_async.widget import WidgetFlow, widget_router


CDN_SCRIPT = "https://cdn.jsdelivr.net/npm/flowise-embed@3.1.6/dist/web.js"

PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Support chat</title>
<body style="margin: 0">
<flowise-fullchatbot></flowise-fullchatbot>
<script type="module">
  import Chatbot from "__SCRIPT__";
  Chatbot.initFull({ chatflowid: "support", apiHost: window.location.origin });
</script>
</body>
</html>
"""


def create_app(
    base_url: str | None = None,
    chatflow_id: str | None = None,
    api_key: str | None = None,
    *,
    widget_script: str | Path | None = None,
    **client_options: Any,
) -> FastAPI:
    """
    Build the app. Without arguments it reads ``FLOWISE_BASE_URL``, ``FLOWISE_API_KEY``,
    ``FLOWISE_CHATFLOW_ID`` and ``WIDGET_SCRIPT`` at start-up; *client_options* go to
    `AsyncFlowise`.
    """
    flow_id = chatflow_id or os.environ.get("FLOWISE_CHATFLOW_ID", "")
    script = widget_script or os.environ.get("WIDGET_SCRIPT")

    def client() -> AsyncFlowise:
        return AsyncFlowise(base_url, api_key=api_key, **client_options)

    app = FastAPI(title="Widget proxy", lifespan=flowise_lifespan(client))
    # Per visitor: 20 requests at once (opening the widget makes three), then one a second.
    access = Access(rate_limit=TokenBucket(rate=1, burst=20))
    flows = {"support": WidgetFlow(flow_id, feedback=True)}
    app.include_router(widget_router(flows, access=access))

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE.replace("__SCRIPT__", "/widget/web.js" if script else CDN_SCRIPT)

    if script:

        @app.get("/widget/web.js")
        async def widget() -> FileResponse:
            return FileResponse(script, media_type="text/javascript")

    return app


app = create_app()
