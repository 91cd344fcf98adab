"""
The OpenAI-compatible gateway front: chat completions answered by Flowise flows.

Its guide is the docstring of `flowise_async.openai_gateway`, the import path users keep;
this module holds the code, on the foundation of `flowise_async.serving`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import attrs

from .. import events as ev
from .._accumulate import PredictionAccumulator
from .._client import AsyncFlowise
from .._event_table import answer_text, reasoning_text
from .._exceptions import APIStatusError, FlowiseError, NotFoundError
from .._stream import EventStream
from .._wire import sse_fields
from . import (
    Access,
    ConversationLock,
    ErrorMessageHook,
    MemoryStateStore,
    RequestRejectedError,
    SafeError,
    StateStore,
    describe_error,
    guarded_events,
)
from .access import maybe_await
from .body import read_json
from .log import mark_started, record_failure, started_at
from .output import OPENAI_HEARTBEAT, data_frame, event_stream
from .relay import flowise_lifespan, get_flowise
from .streaming import CallerLeftError, unless_caller_leaves


try:
    from fastapi import APIRouter, Depends, FastAPI, Request
    from fastapi.responses import JSONResponse, Response
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "flowise_async.openai_gateway needs FastAPI. From the folder holding your clone of "
        'flowise_async: python -m pip install "./flowise_async[fastapi]"'
    ) from exc


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

logger = logging.getLogger(__name__)

#: The Flowise flow types offered as models when no model table is configured.
FLOW_TYPES: Final[frozenset[str]] = frozenset({"CHATFLOW", "AGENTFLOW"})

#: Request fields that are accepted and not sent to the flow (the flow decides).
IGNORED_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "seed",
        "user",
        "service_tier",
        "store",
        "reasoning_effort",
        "verbosity",
        "parallel_tool_calls",
        "prompt_cache_key",
        "safety_identifier",
        "metadata",
        "top_logprobs",
        "prediction",
    }
)

MAX_BODY = 4 * 1024 * 1024
MAX_CONVERSATION_ID = 200
_DONE = sse_fields(b"data: [DONE]")
_TEXT_PARTS = frozenset({"text", "input_text"})
_REFUSED_PARTS = {
    "image_url": "Images are not supported by this gateway.",
    "input_audio": "Audio input is not supported by this gateway.",
    "file": "Files are not supported by this gateway.",
}


# -- configuration --------------------------------------------------------------------------


@attrs.frozen
class GatewayModel:
    """
    A flow offered as a model.

    Attributes:
        chatflow_id: The Flowise chatflow or agent flow id (never shown to clients).
        name: A readable name for model pickers (``name`` in ``/v1/models``); defaults to the
            flow's name in Flowise.
    """

    chatflow_id: str
    name: str | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class GatewayUser:
    """
    Who a gateway key belongs to.

    Attributes:
        name: The user's name (the rate-limit bucket, and what the authorization hook sees
            as ``request.state.gateway_user``).
        models: The model ids this user may use; ``None`` allows every model of the gateway.
            Other models are answered as unknown (404).
    """

    name: str
    models: Collection[str] | None = attrs.field(default=None, kw_only=True)

    def may_use(self, model: str) -> bool:
        """Whether this user may use *model*."""
        return self.models is None or model in self.models


# -- request mapping ------------------------------------------------------------------------


class ChatRequestError(RequestRejectedError):
    """
    A chat completion request the gateway cannot serve (answered ``400`` in OpenAI's shape).

    Args:
        message: What the client may read.
        param: The request field at fault (``"tools"``, ``"messages[2].content[0]"`` ...).
        code: A short machine-readable code (``"unsupported_parameter"`` ...).
    """

    param: str | None
    code: str

    def __init__(
        self, message: str, *, param: str | None = None, code: str = "invalid_request"
    ) -> None:
        super().__init__(message, status=400)
        self.param = param
        self.code = code


@attrs.frozen(kw_only=True)
class ChatRequest:
    """
    A chat completion request, mapped to a Flowise prediction.

    Attributes:
        model: The requested model id.
        question: The text of the last ``user`` message (Flowise's ``question``).
        history: Earlier messages as Flowise ``history`` (``userMessage`` / ``apiMessage``);
            empty for a named conversation, whose memory Flowise keeps.
        conversation_id: The named conversation (Flowise's ``chatId``), or ``None`` for a
            fresh chat.
        stream: Whether the answer is streamed.
        include_usage: Whether a streamed answer ends with a usage chunk.
        ignored: The fields that were accepted but not sent to the flow.
    """

    model: str
    question: str
    history: list[dict[str, str]] = attrs.field(factory=list)
    conversation_id: str | None = None
    stream: bool = False
    include_usage: bool = False
    ignored: frozenset[str] = frozenset()


def _text_of(content: Any, index: int) -> str | None:
    """The text of a message's ``content``; refuses images, audio and files."""
    if content is None or isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ChatRequestError(
            "A message's content must be a string or a list of parts.",
            param=f"messages[{index}].content",
        )
    texts = []
    for number, part in enumerate(content):
        param = f"messages[{index}].content[{number}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _REFUSED_PARTS:
            raise ChatRequestError(
                _REFUSED_PARTS[str(kind)], param=param, code="unsupported_content"
            )
        if kind not in _TEXT_PARTS or not isinstance(part.get("text"), str):
            raise ChatRequestError("Only text content parts are supported.", param=param)
        texts.append(part["text"])
    return "".join(texts)


def _conversation_id(value: Any, source: str) -> str | None:
    if value is None or value == "":
        return None
    if (
        not isinstance(value, str)
        or len(value) > MAX_CONVERSATION_ID
        or not value.isprintable()
        or value != value.strip()
    ):
        raise ChatRequestError(
            f"The conversation id must be printable text of at most {MAX_CONVERSATION_ID} "
            "characters, without surrounding spaces.",
            param=source,
        )
    return value


def _refuse(body: Mapping[str, Any]) -> None:
    """Refuse what a flow cannot do, with OpenAI's ``param`` naming the field."""
    for field in ("tools", "functions"):
        if body.get(field):
            raise ChatRequestError(
                "Tools are not supported: the flow decides which tools it uses.",
                param=field,
                code="unsupported_parameter",
            )
    for field in ("tool_choice", "function_call"):
        if body.get(field) not in (None, "none", "auto"):
            raise ChatRequestError(
                "Tools are not supported: the flow decides which tools it uses.",
                param=field,
                code="unsupported_parameter",
            )
    n = body.get("n")
    if n is not None and n != 1:
        raise ChatRequestError(
            "Only one choice per request is supported (n must be 1).",
            param="n",
            code="unsupported_parameter",
        )
    if body.get("logprobs"):
        raise ChatRequestError(
            "Log probabilities are not available from a flow.",
            param="logprobs",
            code="unsupported_parameter",
        )
    response_format = body.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, dict) or response_format.get("type") != "text"
    ):
        raise ChatRequestError(
            "Structured output is not supported: the flow decides the answer's format.",
            param="response_format",
            code="unsupported_parameter",
        )
    modalities = body.get("modalities")
    if body.get("audio") or (isinstance(modalities, list) and set(modalities) - {"text"}):
        raise ChatRequestError(
            "Audio output is not supported by this gateway.",
            param="modalities",
            code="unsupported_parameter",
        )


def parse_chat_request(
    body: Any, headers: Mapping[str, str] | None = None, *, conversation_headers: Sequence[str] = ()
) -> ChatRequest:
    """
    Map a chat completion request body to what is sent to Flowise.

    Args:
        body: The decoded JSON body.
        headers: The request headers (case-insensitive mapping, as Starlette's).
        conversation_headers: Header names that name the conversation, checked in order
            before ``metadata.conversation_id``.

    Returns:
        The `ChatRequest`.

    Raises:
        ChatRequestError: The request is malformed or asks for what a flow cannot do.
    """
    if not isinstance(body, dict):
        raise ChatRequestError("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ChatRequestError("model is required.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ChatRequestError("messages must be a non-empty list.", param="messages")
    _refuse(body)
    stream, include_usage = _streaming(body)
    question, turns = _conversation_turns(messages)
    conversation = _named_conversation(body, headers, conversation_headers)
    history = []
    if conversation is None:
        history = [
            {"role": "userMessage" if role == "user" else "apiMessage", "content": text}
            for role, text in turns
        ]
    return ChatRequest(
        model=model,
        question=question,
        history=history,
        conversation_id=conversation,
        stream=stream,
        include_usage=include_usage,
        ignored=frozenset(IGNORED_FIELDS & set(body)),
    )


def _streaming(body: Mapping[str, Any]) -> tuple[bool, bool]:
    """``stream`` and ``stream_options.include_usage``."""
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise ChatRequestError("stream must be a boolean.", param="stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ChatRequestError("stream_options must be an object.", param="stream_options")
    return bool(stream), bool(options.get("include_usage")) if options else False


def _conversation_turns(messages: list[Any]) -> tuple[str, list[tuple[str, str]]]:
    """The question (the last user message) and the earlier user and assistant turns."""
    turns: list[tuple[str, str]] = []
    question = None
    for index, message in enumerate(messages):
        role, text = _message(message, index)
        if index == len(messages) - 1:
            if role == "user" and text:
                question = text
        elif role in ("user", "assistant") and text:
            turns.append((role, text))
    if question is None:
        raise ChatRequestError(
            "The last message must be a user message with text.", param="messages"
        )
    return question, turns


def _message(message: Any, index: int) -> tuple[str, str | None]:
    """One message's role and text; refuses tool messages and unknown roles."""
    if not isinstance(message, dict):
        raise ChatRequestError("Each message must be an object.", param=f"messages[{index}]")
    role = message.get("role")
    if role in ("tool", "function") or message.get("tool_calls") or message.get("function_call"):
        raise ChatRequestError(
            "Tool messages are not supported: the flow runs its own tools.",
            param=f"messages[{index}]",
            code="unsupported_parameter",
        )
    if role not in ("system", "developer", "user", "assistant"):
        raise ChatRequestError(f"Unknown message role {role!r}.", param=f"messages[{index}].role")
    return str(role), _text_of(message.get("content"), index)


def _named_conversation(
    body: Mapping[str, Any], headers: Mapping[str, str] | None, names: Sequence[str]
) -> str | None:
    """The conversation named by the first of the *names* headers, or ``metadata``."""
    for name in names:
        value = (headers or {}).get(name)
        if value:
            return _conversation_id(value, name)
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        return _conversation_id(metadata.get("conversation_id"), "metadata.conversation_id")
    return None


# -- answers --------------------------------------------------------------------------------


def _error_body(
    message: str, kind: str, code: str | None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


_STATUS_KINDS = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    409: ("conflict_error", "conversation_busy"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def openai_error(error: SafeError, exc: BaseException | None = None) -> dict[str, Any]:
    """
    The OpenAI-shaped error body of a `~flowise_async.serving.SafeError`:
    ``{"error": {message, type, param, code}}``.

    Client errors keep their status's type (``invalid_request_error``, ``rate_limit_error``
    ...); server-side failures are ``server_error`` with the safe error type as ``code``
    (``unavailable``, ``timeout``, ``flow_error``, ``interrupted``).
    """
    if error.status >= 500:
        return _error_body(error.message, "server_error", error.type)
    kind, code = _STATUS_KINDS.get(error.status, ("invalid_request_error", "invalid_request"))
    param = None
    if isinstance(exc, ChatRequestError):
        code, param = exc.code, exc.param
    return _error_body(error.message, kind, code, param)


def _error_response(error: SafeError, exc: BaseException | None = None) -> JSONResponse:
    headers = error.headers()
    if error.type in {"flow_error", "interrupted"}:
        # The flow ran (or started to) and failed: sending it again would repeat the run.
        headers["x-should-retry"] = "false"
    return JSONResponse(openai_error(error, exc), status_code=error.status, headers=headers)


class _Answer:
    """What a completion collects from the flow's events (as their rows in the event table say)."""

    __slots__ = ("parts", "reasoning", "with_reasoning")

    def __init__(self, *, with_reasoning: bool = True) -> None:
        self.parts = PredictionAccumulator()
        self.reasoning: list[str] = []
        self.with_reasoning = with_reasoning

    def take(self, event: ev.Event) -> dict[str, str] | None:
        """
        Note *event*; return the delta it adds to the answer, if any: ``{"content": ...}``
        for answer text, ``{"reasoning_content": ...}`` for the model's reasoning (Flowise's
        ``thinking`` events; the field that DeepSeek's API, vLLM and Open WebUI use).
        """
        self.parts.add(event)
        text = answer_text(event)
        if text:
            return {"content": text}
        thought = reasoning_text(event)
        if thought and self.with_reasoning:
            self.reasoning.append(thought)
            return {"reasoning_content": thought}
        return None

    def usage_payload(self) -> dict[str, int]:
        """
        The run's usage (`PredictionAccumulator.usage`: what Flowise reported, else the
        executed nodes of an agent flow) in OpenAI's shape; zeros when Flowise reported none
        (OpenAI always sends usage, and clients rely on it).
        """
        usage = self.parts.usage
        prompt = (usage and usage.input_tokens) or 0
        completion = (usage and usage.output_tokens) or 0
        total = usage.total_tokens if usage is not None else None
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion if total is None else total,
        }


# -- the router -----------------------------------------------------------------------------


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@attrs.frozen
class _Flow:
    model: str
    chatflow_id: str
    name: str
    created: int


class _Catalogue:
    """The models of the gateway: the configured table, or the server's flows (cached)."""

    def __init__(
        self,
        models: Mapping[str, str | GatewayModel] | None,
        flow_types: Collection[str],
        ttl: float,
    ) -> None:
        self.table = (
            None
            if models is None
            else {
                alias: model if isinstance(model, GatewayModel) else GatewayModel(model)
                for alias, model in models.items()
            }
        )
        self.flow_types = frozenset(flow_types)
        self.ttl = ttl
        self._flows: dict[str, _Flow] | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self._started = int(time.time())

    async def flows(self, flowise: AsyncFlowise) -> dict[str, _Flow]:
        async with self._lock:
            now = time.monotonic()
            if self._flows is None or now >= self._expires:
                self._flows = await self._load(flowise)
                self._expires = now + self.ttl
            return self._flows

    async def _load(self, flowise: AsyncFlowise) -> dict[str, _Flow]:
        try:
            listed = await flowise.chatflows.list()
        except APIStatusError as exc:
            if self.table is None or exc.status >= 500:
                raise
            # The key may run the flows without listing them (401/403): trust the table.
            return {
                alias: _Flow(alias, model.chatflow_id, model.name or alias, self._started)
                for alias, model in self.table.items()
            }
        by_id = {flow.id: flow for flow in listed}
        out: dict[str, _Flow] = {}
        if self.table is None:
            for flow in listed:
                if (flow.type or "CHATFLOW") in self.flow_types:
                    out[flow.id] = _Flow(flow.id, flow.id, flow.name, _timestamp(flow.created_date))
            return out
        for alias, model in self.table.items():
            found = by_id.get(model.chatflow_id)
            if found is not None:
                name = model.name or found.name or alias
                out[alias] = _Flow(alias, found.id, name, _timestamp(found.created_date))
        return out


def _unknown_model(model: str) -> RequestRejectedError:
    return RequestRejectedError(
        f"The model {model!r} does not exist or you do not have access to it.", status=404
    )


def _timestamp(iso: str | None) -> int:
    if not iso:
        return 0
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def openai_router(
    models: Mapping[str, str | GatewayModel] | None = None,
    *,
    keys: Mapping[str, str | GatewayUser] | None = None,
    access: Access | None = None,
    conversation_headers: Sequence[str] = ("X-Conversation-Id",),
    user_conversations: bool = False,
    prefix: str = "/v1",
    flow_types: Collection[str] = FLOW_TYPES,
    models_ttl: float = 30.0,
    error_message: ErrorMessageHook | None = None,
    first_event_timeout: float | None = 60.0,
    heartbeat: float | None = 15.0,
    max_body: int = MAX_BODY,
    reasoning: bool = True,
    lock_ttl: float = 30.0,
) -> APIRouter:
    """
    Build the router of the OpenAI-compatible gateway.

    The app must own a client (`flowise_async.fastapi.flowise_lifespan`); its API key and
    base URL never reach a gateway client.

    Args:
        models: Model id -> chatflow id (or `GatewayModel`): the allow-list and its aliases.
            ``None`` offers every flow of the *flow_types* the Flowise key can list, under
            its chatflow id.
        keys: Gateway key -> user name (or `GatewayUser`). A request must carry one as
            ``Authorization: Bearer <key>``, else it gets ``401``. ``None`` lets anyone in:
            only behind an authentication of your own (*access*).
        access: Further checks: the application's authorization hook (it can read
            ``request.state.gateway_user``), a chatflow allow-list and a rate limit
            (keyed by the gateway user's name unless the hook names someone else).
        conversation_headers: Request headers naming the conversation, checked in order
            before ``metadata.conversation_id`` (e.g. add ``"X-OpenWebUI-Chat-Id"``).
        user_conversations: Keep each gateway user's conversations apart: the Flowise chat
            id becomes ``"<user name>:<conversation id>"``, so that a user cannot continue
            another user's conversation by its id. Off: the conversation id is the chat id.
        prefix: Where the routes live.
        flow_types: The flow types offered when *models* is ``None``.
        models_ttl: Seconds the list of the server's flows is kept before it is read again.
        error_message: The application's error messages (see
            `flowise_async.serving.describe_error`).
        first_event_timeout: Seconds the flow's first event may take before a ``504`` (for a
            flow that cannot stream, the first event is its whole answer). None: no limit
            but the client's own timeouts.
        heartbeat: Seconds of quiet before a keep-alive comment in a streamed answer.
        max_body: The largest request body accepted, in bytes (``413`` above).
        reasoning: Pass the model's reasoning (Flowise's ``thinking`` events) on as
            ``reasoning_content``: in the deltas of a streamed answer and in the message of a
            whole one. False: only the answer text goes out.
        lock_ttl: Seconds a conversation's lock lives without a renewal; a run renews it
            every third of that while it lives, so the lock of a worker that dies frees its
            conversation within *lock_ttl* (locks live in ``access.state``: see
            `flowise_async.serving.ConversationLock`).

    Returns:
        The router; add it with ``app.include_router(...)``.
    """
    gateway = _OpenAIGateway(
        _Catalogue(models, flow_types, models_ttl),
        keys=keys,
        access=access,
        conversation_headers=conversation_headers,
        user_conversations=user_conversations,
        error_message=error_message,
        first_event_timeout=first_event_timeout,
        heartbeat=heartbeat,
        max_body=max_body,
        reasoning=reasoning,
        lock_ttl=lock_ttl,
    )
    router = APIRouter(prefix=prefix, dependencies=[Depends(mark_started)])
    router.add_api_route("/models", gateway.list_models, methods=["GET"])
    router.add_api_route("/models/{model:path}", gateway.get_model, methods=["GET"])
    router.add_api_route("/chat/completions", gateway.chat_completions, methods=["POST"])
    router.add_api_route(
        "/{path:path}", gateway.other, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
    )
    return router


class _OpenAIGateway:
    """The gateway's routes, each a method, over its models, users, checks and locks."""

    def __init__(
        self,
        catalogue: _Catalogue,
        *,
        keys: Mapping[str, str | GatewayUser] | None,
        access: Access | None,
        conversation_headers: Sequence[str],
        user_conversations: bool,
        error_message: ErrorMessageHook | None,
        first_event_timeout: float | None,
        heartbeat: float | None,
        max_body: int,
        reasoning: bool,
        lock_ttl: float = 30.0,
    ) -> None:
        if not (lock_ttl > 0 and math.isfinite(lock_ttl)):
            raise ValueError(f"lock_ttl must be a positive number of seconds, not {lock_ttl!r}")
        self.lock_ttl = lock_ttl
        self.catalogue = catalogue
        self.users = None
        if keys is not None:
            self.users = {
                _digest(key): user if isinstance(user, GatewayUser) else GatewayUser(user)
                for key, user in keys.items()
            }
        self.base = access or Access()
        self.checks = attrs.evolve(self.base, authorize=self._authorize)
        self.store: StateStore = (
            self.base.state if self.base.state is not None else MemoryStateStore()
        )
        self.conversation_headers = conversation_headers
        self.user_conversations = user_conversations
        self.error_message = error_message
        self.first_event_timeout = first_event_timeout
        self.heartbeat = heartbeat
        self.max_body = max_body
        self.reasoning = reasoning

    async def _authorize(self, request: Request) -> Any:
        user: GatewayUser | None = request.state.gateway_user
        who = None
        if self.base.authorize is not None:
            who = await maybe_await(self.base.authorize(request))
        if who is None and user is not None:
            who = user.name
        return who

    def authenticate(self, request: Request) -> GatewayUser | None:
        if self.users is None:
            request.state.gateway_user = None
            return None
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        user = self.users.get(_digest(token.strip())) if scheme.lower() == "bearer" else None
        if user is None:
            raise RequestRejectedError(
                "Incorrect API key provided. Use the key the gateway's administrator gave you.",
                status=401,
            )
        request.state.gateway_user = user
        return user

    def visible(self, flows: Mapping[str, _Flow], user: GatewayUser | None) -> list[_Flow]:
        allowed = self.base.chatflows
        return [
            flow
            for flow in flows.values()
            if (user is None or user.may_use(flow.model))
            and (allowed is None or flow.chatflow_id in allowed)
        ]

    async def resolve(self, request: Request, model: str) -> _Flow:
        user: GatewayUser | None = request.state.gateway_user
        flows = await self.catalogue.flows(get_flowise(request))
        flow = flows.get(model)
        if flow is None or (user is not None and not user.may_use(model)):
            raise _unknown_model(model)
        return flow

    def failed(self, exc: BaseException, request: Request, model: str | None) -> JSONResponse:
        """The safe OpenAI-shaped answer to *exc*, logged for the operator."""
        if not isinstance(exc, FlowiseError | TimeoutError):
            logger.exception("the OpenAI gateway failed on a request")
        error = describe_error(exc, self.error_message)
        record_failure(
            "gateway",
            request=request,
            flow=model,
            error=error,
            exc=exc,
            started=started_at(request),
        )
        return _error_response(error, exc)

    @staticmethod
    def model_object(flow: _Flow) -> dict[str, Any]:
        return {
            "id": flow.model,
            "object": "model",
            "created": flow.created,
            "owned_by": "flowise",
            "name": flow.name,
        }

    async def list_models(self, request: Request) -> Response:
        try:
            user = self.authenticate(request)
            flows = await self.catalogue.flows(get_flowise(request))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a safe answer
            return self.failed(exc, request, None)
        data = [self.model_object(flow) for flow in self.visible(flows, user)]
        return JSONResponse({"object": "list", "data": data})

    async def get_model(self, model: str, request: Request) -> Response:
        try:
            self.authenticate(request)
            flow = await self.resolve(request, model)
            if self.base.chatflows is not None and flow.chatflow_id not in self.base.chatflows:
                raise _unknown_model(model)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a safe answer
            return self.failed(exc, request, model)
        return JSONResponse(self.model_object(flow))

    async def admit(
        self, request: Request
    ) -> tuple[ChatRequest, _Flow, str | None, ConversationLock | None]:
        """The checks before a run: who, what, allowed, and the conversation's lock."""
        self.authenticate(request)
        invalid = ChatRequestError("The request body is not valid JSON.")
        chat = parse_chat_request(
            await read_json(request, self.max_body, invalid=invalid),
            request.headers,
            conversation_headers=self.conversation_headers,
        )
        request.state.gateway_model = chat.model
        flow = await self.resolve(request, chat.model)
        await self.checks.check(request, flow.chatflow_id)
        chat_id = chat.conversation_id
        user: GatewayUser | None = request.state.gateway_user
        if chat_id is not None and self.user_conversations and user is not None:
            chat_id = f"{user.name}:{chat_id}"
        if chat_id is None:
            return chat, flow, None, None
        lock = ConversationLock(
            self.store, f"conversation:{flow.chatflow_id}:{chat_id}", ttl=self.lock_ttl
        )
        if not await lock.acquire():
            raise RequestRejectedError(
                "This conversation is still answering another request; send the next "
                "message when it has finished.",
                status=409,
            )
        return chat, flow, chat_id, lock

    async def chat_completions(self, request: Request) -> Response:
        request.state.gateway_model = None
        try:
            chat, flow, chat_id, lock = await self.admit(request)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a safe answer
            return self.failed(exc, request, request.state.gateway_model)
        try:
            stream = get_flowise(request).predictions.stream(
                flow.chatflow_id,
                chat.question,
                chat_id=chat_id,
                history=chat.history or None,
                abort_on_exit=True,
            )
            run = _Run(
                chat,
                flow,
                stream,
                first_event_timeout=self.first_event_timeout,
                heartbeat=self.heartbeat if chat.stream else None,
                release=lock.release if lock is not None else None,
                reasoning=self.reasoning,
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes a safe answer
            if lock is not None:
                await lock.release()
            return self.failed(exc, request, chat.model)
        return await run.answer(request, self)

    async def other(self, path: str, request: Request) -> Response:
        error = SafeError(type="rejected", message="Unknown route.", status=404)
        record_failure(
            "gateway",
            request=request,
            flow=None,
            error=error,
            exc=RequestRejectedError(error.message, status=404),
            started=started_at(request),
        )
        body = _error_body("Unknown route.", "invalid_request_error", "unknown_url")
        return JSONResponse(body, status_code=404)


class _Run:
    """One completion: the upstream stream, the answer collected, the conversation lock."""

    def __init__(
        self,
        chat: ChatRequest,
        flow: _Flow,
        stream: EventStream,
        *,
        first_event_timeout: float | None,
        heartbeat: float | None,
        release: Callable[[], Awaitable[None]] | None,
        reasoning: bool = True,
    ) -> None:
        self.chat = chat
        self.flow = flow
        self.events = guarded_events(
            stream, first_event_timeout=first_event_timeout, heartbeat=heartbeat
        )
        self.answer_parts = _Answer(with_reasoning=reasoning)
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self._release = release
        self._closed = False

    async def close(self) -> None:
        """Close the upstream (aborting an unfinished run) and free the conversation."""
        if self._closed:
            return
        self._closed = True
        try:
            aclose = getattr(self.events, "aclose", None)  # an async generator
            if aclose is not None:
                await aclose()
        finally:
            if self._release is not None:
                await self._release()

    async def _until_first_event(self) -> ev.Event | None:
        async for event in self.events:
            if event is not None:
                return event
        return None

    async def _collect(self) -> None:
        async for event in self.events:
            if event is not None:
                self.answer_parts.take(event)

    async def answer(self, request: Request, gateway: _OpenAIGateway) -> Response:
        """The HTTP answer: a whole completion, or the start of a streamed one."""
        handed_over = False
        try:
            if not self.chat.stream:
                await unless_caller_leaves(request, self._collect())
                return JSONResponse(self._completion())
            first = await unless_caller_leaves(request, self._until_first_event())
            body = _Body(self._chunks(first, gateway, request), self.close)
            handed_over = True
            return event_stream(body)
        except CallerLeftError:
            return Response(status_code=499)  # the client will not read it
        except NotFoundError:
            # The flow is gone from the server (the model list is cached for a while).
            return gateway.failed(_unknown_model(self.chat.model), request, self.chat.model)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a safe answer
            return gateway.failed(exc, request, self.chat.model)
        finally:
            if not handed_over:
                await self.close()

    def _completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.answer_parts.parts.text,
            "refusal": None,
        }
        if self.answer_parts.reasoning:
            message["reasoning_content"] = "".join(self.answer_parts.reasoning)
        out: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.chat.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "system_fingerprint": None,
            "usage": self.answer_parts.usage_payload(),
        }
        return out

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.chat.model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if self.chat.include_usage:
            chunk["usage"] = None
        return data_frame(chunk)

    async def _chunks(
        self, first: ev.Event | None, gateway: _OpenAIGateway, request: Request
    ) -> AsyncIterator[bytes]:
        yield self._chunk({"role": "assistant", "content": ""})
        try:
            if first is not None:
                delta = self.answer_parts.take(first)
                if delta:
                    yield self._chunk(delta)
                async for event in self.events:
                    if event is None:
                        yield OPENAI_HEARTBEAT
                        continue
                    delta = self.answer_parts.take(event)
                    if delta:
                        yield self._chunk(delta)
        except Exception as exc:  # noqa: BLE001 - the stream ends with a safe error
            error = describe_error(exc, gateway.error_message)
            record_failure(
                "gateway",
                request=request,
                flow=self.chat.model,
                error=error,
                exc=exc,
                started=started_at(request),
            )
            # No [DONE]: OpenAI clients raise on the error object.
            yield data_frame(openai_error(error, exc))
            return
        yield self._chunk({}, "stop")
        if self.chat.include_usage:
            usage = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.chat.model,
                "system_fingerprint": None,
                "choices": [],
                "usage": self.answer_parts.usage_payload(),
            }
            yield data_frame(usage)
        yield _DONE


class _Body:
    """The streamed body: its chunks, then (on every way out) the run's clean-up."""

    __slots__ = ("_chunks", "_cleanup", "_done")

    def __init__(self, chunks: AsyncIterator[bytes], cleanup: Callable[[], Awaitable[None]]):
        self._chunks = chunks
        self._cleanup = cleanup
        self._done = False

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await anext(self._chunks)
        except StopAsyncIteration:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            aclose = getattr(self._chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            await self._cleanup()


def openai_app(
    flowise: Callable[[], AsyncFlowise] | None = None,
    models: Mapping[str, str | GatewayModel] | None = None,
    **options: Any,
) -> FastAPI:
    """
    A FastAPI app serving the gateway, owning one `~flowise_async.AsyncFlowise` for its life.

    Args:
        flowise: Builds the client at start-up; defaults to ``AsyncFlowise()`` (configured
            from ``FLOWISE_BASE_URL`` and ``FLOWISE_API_KEY``).
        models: The model table (see `openai_router`).
        **options: The other options of `openai_router` (``keys``, ``access`` ...).

    Returns:
        The app; run it with uvicorn (``uvicorn.run(app)``) or
        ``flowise-async serve-openai``.
    """
    app = FastAPI(
        title="Flowise OpenAI-compatible gateway",
        lifespan=flowise_lifespan(flowise),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.include_router(openai_router(models, **options))
    return app
