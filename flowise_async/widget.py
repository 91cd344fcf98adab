"""
A proxy for Flowise's official chat widget (``flowise-embed``) that keeps the API key and the
Flowise address on your server.

Install with ``python -m pip install "./flowise_async[fastapi]"`` next to a clone.

`widget_router` is a FastAPI router that speaks Flowise's own wire format for the routes the
widget calls, so the widget points its ``apiHost`` at your app instead of at Flowise::

    app = FastAPI(lifespan=flowise_lifespan(lambda: AsyncFlowise(URL, api_key=KEY)))
    app.include_router(
        widget_router({"support": WidgetFlow(CHATFLOW_ID, origins={"https://example.com"})})
    )

Routes (under ``/api/v1``; *public id* is the key of the *flows* mapping, never the chatflow id):

- ``POST prediction/{public id}``, streamed (Flowise's ``message`` frames) and not;
- ``GET chatflows-streaming/{public id}`` and ``GET public-chatbotConfig/{public id}`` (without
  ``flowData``, which holds the flow's internals; upload buttons hidden unless allowed);
- ``POST feedback/{public id}`` and ``POST leads/{public id}`` only for a flow with
  ``feedback=True`` / ``leads=True``;
- ``POST attachments/{public id}/{chat id}`` (the widget's file upload, multipart, at most
  *max_upload* bytes) and ``GET get-upload-file?chatflowId={public id}&chatId=&fileName=``
  (a file of the conversation, streamed back) only for a flow with ``uploads=True`` (403
  otherwise);
- ``PUT chatmessage/abort/{public id}/{chat id}`` (the widget's stop button);
- every other route answers 404.

Each request is checked by the per-flow ``Origin`` allow-list and an `~flowise_async.serving.Access`
(authorization hook, chatflow allow-list, rate limit). What a browser may send is limited:
``overrideConfig``, ``history`` and ``uploads`` are refused unless the flow allows them, and
other body fields are dropped. A browser that goes away closes the upstream at once and the run
is aborted on the server.
"""

from __future__ import annotations

from .serving.widget import (
    WidgetFlow,
    widget_router,
)


__all__ = [
    "WidgetFlow",
    "widget_router",
]


def __getattr__(name: str) -> object:
    # The module's other names moved with it to `flowise_async.serving.widget`.
    import warnings  # noqa: PLC0415

    from .serving import widget  # noqa: PLC0415

    if name.startswith("__") or not hasattr(widget, name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"{__name__}.{name} moved: import it from flowise_async.serving.widget",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(widget, name)
