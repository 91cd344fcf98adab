"""
An OpenAI-compatible gateway in front of Flowise flows.

Install with ``python -m pip install "./flowise_async[fastapi]"`` next to a clone.

Any client that speaks OpenAI's chat completions API (the ``openai`` package, LangChain's
``ChatOpenAI``, Open WebUI, LibreChat ...) can talk to Flowise chatflows and agent flows
through it::

    app = openai_app(
        lambda: AsyncFlowise(FLOWISE_URL, api_key=FLOWISE_KEY),
        models={"support-bot": CHATFLOW_ID},
        keys={GATEWAY_KEY: "alice"},
    )

Routes (under ``/v1``):

- ``GET models`` and ``GET models/{model}``: the flows a gateway user may use, as models;
- ``POST chat/completions``, streamed (``stream: true``, chunks ending with
  ``data: [DONE]``) and not.

How a request maps to Flowise (the whole table is in the documentation):

- the last ``user`` message is the question;
- a named conversation (header ``X-Conversation-Id`` or ``metadata.conversation_id``) is the
  Flowise chat id, and only the last message is sent: Flowise's memory keeps the rest. A
  second request on a conversation that is still answering gets ``409``;
- without a name each request is a fresh chat, and the earlier ``user`` and ``assistant``
  messages go as Flowise's ``history``;
- ``system`` messages and sampling parameters are not sent (the flow decides); tools, images,
  audio, ``n > 1``, ``logprobs`` and ``response_format`` are refused with ``400``.

Gateway users have their own bearer keys; the Flowise key and address stay on the server and
never appear in a response. Errors come in OpenAI's shape and status codes, so OpenAI clients
raise their own exception classes. A client that goes away closes the upstream stream at once
and the run is aborted on the Flowise server (Flowise stops agent flows; classic chatflows
finish their run).
"""

from __future__ import annotations

from .serving.gateway import (
    FLOW_TYPES,
    IGNORED_FIELDS,
    ChatRequest,
    ChatRequestError,
    GatewayModel,
    GatewayUser,
    openai_app,
    openai_error,
    openai_router,
    parse_chat_request,
)


__all__ = [
    "FLOW_TYPES",
    "IGNORED_FIELDS",
    "ChatRequest",
    "ChatRequestError",
    "GatewayModel",
    "GatewayUser",
    "openai_app",
    "openai_error",
    "openai_router",
    "parse_chat_request",
]


def __getattr__(name: str) -> object:
    # The module's other names moved with it to `flowise_async.serving.gateway`.
    import warnings  # noqa: PLC0415

    from .serving import gateway  # noqa: PLC0415

    if name.startswith("__") or not hasattr(gateway, name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"{__name__}.{name} moved: import it from flowise_async.serving.gateway",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(gateway, name)
