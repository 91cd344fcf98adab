"""
The widget proxy front: Flowise's wire format for the official chat widget.

Its guide is the docstring of `flowise_async.widget`, the import path users keep;
this module holds the code, on the foundation of `flowise_async.serving`.
"""

from __future__ import annotations

import email.policy
import json
from collections.abc import AsyncIterator, Collection, Mapping
from email.parser import BytesParser
from typing import Any

import attrs

from .. import events as ev
from .._client import AsyncFlowise
from .._convert import unstructure
from .._exceptions import FlowiseError
from .._wire import sse_frame
from ..models._request import PredictionRequest
from . import (
    Access,
    ErrorMessageHook,
    RequestRejectedError,
    SafeError,
    describe_error,
    describe_event_error,
    guarded_events,
)
from .body import read_body, read_json
from .errors import in_band_error
from .log import mark_started, record_failure, started_at
from .output import FLOWISE_HEARTBEAT, event_stream, flowise_error_frames
from .relay import get_flowise
from .streaming import CallerLeftError, unless_caller_leaves


try:
    from fastapi import APIRouter, Depends, Request
    from fastapi.responses import JSONResponse, Response, StreamingResponse
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "flowise_async.widget needs FastAPI. From the folder holding your clone of "
        'flowise_async: python -m pip install "./flowise_async[fastapi]"'
    ) from exc


__all__ = ["WidgetFlow", "widget_router"]

MAX_BODY = 1024 * 1024
MAX_UPLOAD = 10 * 1024 * 1024
_UPLOAD_FLAGS = ("isImageUploadAllowed", "isRAGFileUploadAllowed", "isSpeechToTextEnabled")
_PASSED_FIELDS = ("question", "chatId", "leadEmail", "action", "humanInput", "form")
# Headers of Flowise's file answer passed to the browser (nothing that names the server).
_FILE_HEADERS = ("content-type", "content-disposition", "content-length")


@attrs.frozen
class WidgetFlow:
    """
    One chatflow offered to the widget under a public id.

    Attributes:
        chatflow_id: The Flowise chatflow (or agent flow) id, kept on the server.
        origins: The page origins (``"https://example.com"``) allowed to use it; ``None``
            allows any. A browser request from another origin is refused (403); a request
            without ``Origin`` (not a cross-site browser request) passes.
        override_config: ``overrideConfig`` keys a browser may set (``True``: any). By default
            none: a public page must not reconfigure the flow.
        uploads: Allow files: the upload buttons, ``uploads`` in a prediction, the
            ``attachments`` and ``get-upload-file`` routes.
        history: Allow a browser-supplied ``history`` (off: Flowise's memory keeps the
            conversation, and a page cannot invent past turns).
        feedback: Offer the thumbs up/down routes.
        leads: Offer the lead-capture route.
    """

    chatflow_id: str
    origins: Collection[str] | None = attrs.field(default=None, kw_only=True)
    override_config: bool | Collection[str] = attrs.field(default=False, kw_only=True)
    uploads: bool = attrs.field(default=False, kw_only=True)
    history: bool = attrs.field(default=False, kw_only=True)
    feedback: bool = attrs.field(default=False, kw_only=True)
    leads: bool = attrs.field(default=False, kw_only=True)


def _error_response(error: SafeError) -> JSONResponse:
    # Flowise's own error shape ({"statusCode", "success", "message", "stack"}), safe values.
    body = {"statusCode": error.status, "success": False, **error.payload(), "stack": {}}
    return JSONResponse(body, status_code=error.status, headers=error.headers())


def _filtered_body(flow: WidgetFlow, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise RequestRejectedError("The request body must be a JSON object.", status=400)
    out = {key: body[key] for key in _PASSED_FIELDS if body.get(key) is not None}
    question = out.get("question")
    if question is not None and not isinstance(question, str):
        raise RequestRejectedError("question must be a string.", status=400)
    override = body.get("overrideConfig")
    if override:
        if not isinstance(override, dict):
            raise RequestRejectedError("overrideConfig must be an object.", status=400)
        allowed = flow.override_config
        if allowed is False or (allowed is not True and not set(override) <= set(allowed)):
            raise RequestRejectedError("This page may not change the flow's configuration.")
        out["overrideConfig"] = override
    if body.get("uploads"):
        if not flow.uploads:
            raise RequestRejectedError("Uploads are not allowed here.")
        out["uploads"] = body["uploads"]
    if body.get("history"):
        if not flow.history:
            raise RequestRejectedError("This page may not send a conversation history.")
        out["history"] = body["history"]
    return out


def _form_files(content_type: str, body: bytes) -> tuple[list[tuple[str, bytes, str]], bool]:
    # The widget's upload form: ``files`` parts (repeated) and an optional ``base64`` field;
    # other fields are dropped. The body is already bounded, so parsing it whole is safe.
    if not content_type.lower().startswith("multipart/form-data"):
        raise RequestRejectedError("The upload must be multipart/form-data.", status=400)
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise RequestRejectedError("The upload is not a valid form.", status=400)
    files: list[tuple[str, bytes, str]] = []
    base64 = False
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name == "files" and filename:
            files.append((filename, data, part.get_content_type()))
        elif name == "base64":
            base64 = data.strip() == b"true"
    if not files:
        raise RequestRejectedError("No file was sent.", status=400)
    return files, base64


def widget_router(
    flows: Mapping[str, WidgetFlow | str],
    *,
    access: Access | None = None,
    prefix: str = "/api/v1",
    error_message: ErrorMessageHook | None = None,
    first_event_timeout: float | None = 30.0,
    heartbeat: float | None = 15.0,
    max_body: int = MAX_BODY,
    max_upload: int = MAX_UPLOAD,
) -> APIRouter:
    """
    Build the router that the ``flowise-embed`` widget talks to.

    The app must own a client (`flowise_async.fastapi.flowise_lifespan`); its API key and
    base URL never reach the browser.

    Args:
        flows: Public id -> `WidgetFlow` (or a chatflow id, with the defaults). The widget's
            ``chatflowid`` is the public id.
        access: Authorization, chatflow allow-list and rate limit, checked on each request.
        prefix: Where the routes live (the widget calls ``{apiHost}/api/v1/...``).
        error_message: The application's error messages (see
            `flowise_async.serving.describe_error`).
        first_event_timeout: Seconds the first streamed event may take before an error frame.
        heartbeat: Seconds of quiet before a keep-alive comment in a stream.
        max_body: The largest request body accepted, in bytes (413 above).
        max_upload: The largest file upload (the whole multipart body) accepted, in bytes
            (413 above, refused before anything reaches Flowise).

    Returns:
        The router; add it with ``app.include_router(...)``.
    """
    proxy = _WidgetProxy(
        flows,
        access=access,
        error_message=error_message,
        first_event_timeout=first_event_timeout,
        heartbeat=heartbeat,
        max_body=max_body,
        max_upload=max_upload,
    )
    router = APIRouter(prefix=prefix, dependencies=[Depends(mark_started)])
    routes = (
        ("/prediction/{public_id}", proxy.prediction, ["POST"]),
        ("/chatflows-streaming/{public_id}", proxy.chatflows_streaming, ["GET"]),
        ("/public-chatbotConfig/{public_id}", proxy.chatbot_config, ["GET"]),
        ("/feedback/{public_id}", proxy.feedback, ["POST"]),
        ("/leads/{public_id}", proxy.leads, ["POST"]),
        ("/chatmessage/abort/{public_id}/{chat_id}", proxy.abort, ["PUT"]),
        ("/attachments/{public_id}/{chat_id}", proxy.attachments, ["POST"]),
        ("/get-upload-file", proxy.get_upload_file, ["GET"]),
        ("/{path:path}", proxy.preflight, ["OPTIONS"]),
        ("/{path:path}", proxy.other, ["GET", "POST", "PUT", "PATCH", "DELETE"]),
    )
    for path, endpoint, methods in routes:
        router.add_api_route(path, endpoint, methods=methods)
    return router


class _WidgetProxy:
    """The widget's routes, each a method, over the one table of flows and their checks."""

    def __init__(
        self,
        flows: Mapping[str, WidgetFlow | str],
        *,
        access: Access | None,
        error_message: ErrorMessageHook | None,
        first_event_timeout: float | None,
        heartbeat: float | None,
        max_body: int,
        max_upload: int,
    ) -> None:
        self.table = {
            public: flow if isinstance(flow, WidgetFlow) else WidgetFlow(flow)
            for public, flow in flows.items()
        }
        self.checks = access or Access()
        self.error_message = error_message
        self.first_event_timeout = first_event_timeout
        self.heartbeat = heartbeat
        self.max_body = max_body
        self.max_upload = max_upload

    # -- shared steps ---------------------------------------------------------------------

    @staticmethod
    def cors(request: Request, flow: WidgetFlow | None) -> dict[str, str]:
        origin = request.headers.get("origin")
        if origin is None or flow is None:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    async def admit(self, request: Request, public_id: str, need: str | None = None) -> WidgetFlow:
        flow = self.table.get(public_id)
        if flow is None or (need is not None and not getattr(flow, need)):
            raise RequestRejectedError("Not found.", status=404)
        origin = request.headers.get("origin")
        if flow.origins is not None and origin is not None and origin not in flow.origins:
            raise RequestRejectedError("This site may not use this chat.", status=403)
        await self.checks.check(request, flow.chatflow_id)
        return flow

    async def read_json(self, request: Request) -> Any:
        return await read_json(request, self.max_body)

    def answer(self, data: Any, public_id: str, flow: WidgetFlow, request: Request) -> JSONResponse:
        # The chatflow id stays on the server: Flowise's answers name it (e.g. feedback's
        # ``chatflowid``); the browser sees the public id instead.
        text = json.dumps(data, ensure_ascii=False).replace(flow.chatflow_id, public_id)
        return JSONResponse(json.loads(text), headers=self.cors(request, flow))

    def describe(self, exc: BaseException, request: Request, public_id: str) -> SafeError:
        """The safe error of *exc*, logged for the operator."""
        error = describe_error(exc, self.error_message)
        flow = public_id if public_id in self.table else None
        record_failure(
            "widget", request=request, flow=flow, error=error, exc=exc, started=started_at(request)
        )
        return error

    def failed(self, exc: BaseException, request: Request, public_id: str) -> JSONResponse:
        # A page the flow admits can read the error (else the widget shows a generic failure);
        # unknown ids and refused origins get no CORS header.
        response = _error_response(self.describe(exc, request, public_id))
        flow = self.table.get(public_id)
        origin = request.headers.get("origin")
        if flow is not None and (flow.origins is None or origin in flow.origins):
            response.headers.update(self.cors(request, flow))
        return response

    # -- routes ---------------------------------------------------------------------------

    async def prediction(self, public_id: str, request: Request) -> Response:
        try:
            flow = await self.admit(request, public_id)
            raw = await self.read_json(request)
            asked = PredictionRequest.from_dict(_filtered_body(flow, raw))  # wire names
            flowise = get_flowise(request)
            if raw.get("streaming") is True:
                return self.stream(flowise, public_id, flow, asked, request)
            prediction = await unless_caller_leaves(
                request, flowise.predictions.create(flow.chatflow_id, **asked.options())
            )
        except CallerLeftError:
            return Response(status_code=499)  # the browser left: the request was cancelled
        except (FlowiseError, TimeoutError) as exc:
            return self.failed(exc, request, public_id)
        return self.answer(unstructure(prediction), public_id, flow, request)

    def stream(
        self,
        flowise: AsyncFlowise,
        public_id: str,
        flow: WidgetFlow,
        asked: PredictionRequest,
        request: Request,
    ) -> Response:
        stream = flowise.predictions.stream(
            flow.chatflow_id, **asked.options(), raise_on_error=False, abort_on_exit=True
        )
        frames = self.frames(stream, public_id, flow, request)
        return event_stream(frames, headers=self.cors(request, flow))

    async def frames(
        self, stream: Any, public_id: str, flow: WidgetFlow, request: Request
    ) -> AsyncIterator[bytes]:
        hidden = flow.chatflow_id.encode()
        shown = public_id.encode()
        try:
            async for event in guarded_events(
                stream, first_event_timeout=self.first_event_timeout, heartbeat=self.heartbeat
            ):
                if event is None:
                    yield FLOWISE_HEARTBEAT
                elif isinstance(event, ev.ErrorEvent):
                    # Flowise's in-band error: the text may hold internals; send a safe one.
                    error = describe_event_error(event, self.error_message)
                    record_failure(
                        "widget",
                        request=request,
                        flow=public_id,
                        error=error,
                        exc=in_band_error(event),
                        started=started_at(request),
                    )
                    yield flowise_error_frames(error, end=False)
                else:
                    yield sse_frame(event).replace(hidden, shown)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a safe frame
            yield flowise_error_frames(self.describe(exc, request, public_id))

    async def chatflows_streaming(self, public_id: str, request: Request) -> Response:
        try:
            flow = await self.admit(request, public_id)
            streaming = await get_flowise(request).chatflows.is_streaming(flow.chatflow_id)
        except (FlowiseError, TimeoutError) as exc:
            return self.failed(exc, request, public_id)
        return JSONResponse({"isStreaming": streaming}, headers=self.cors(request, flow))

    async def chatbot_config(self, public_id: str, request: Request) -> Response:
        try:
            flow = await self.admit(request, public_id)
            flowise = get_flowise(request)
            chatflow = await flowise.chatflows.get(flow.chatflow_id)
            uploads = unstructure(await flowise.chatflows.uploads_config(flow.chatflow_id))
        except (FlowiseError, TimeoutError) as exc:
            return self.failed(exc, request, public_id)
        config = chatflow.chatbot_config if isinstance(chatflow.chatbot_config, dict) else {}
        if not flow.uploads and isinstance(uploads, dict):
            uploads = {**uploads, **dict.fromkeys(_UPLOAD_FLAGS, False)}
        config = {**config, "uploads": uploads}
        config.pop("flowData", None)
        return self.answer(config, public_id, flow, request)

    async def feedback(self, public_id: str, request: Request) -> Response:
        try:
            flow = await self.admit(request, public_id, "feedback")
            body = await self.read_json(request)
            if not isinstance(body, dict) or not isinstance(body.get("messageId"), str):
                raise RequestRejectedError("messageId is required.", status=400)
            created = await get_flowise(request).feedback.create(
                message_id=body["messageId"],
                rating=str(body.get("rating", "")),
                content=body.get("content"),
                chat_id=body.get("chatId"),
                chatflow_id=flow.chatflow_id,
            )
        except (FlowiseError, TimeoutError) as exc:
            return self.failed(exc, request, public_id)
        return self.answer(unstructure(created), public_id, flow, request)

    async def leads(self, public_id: str, request: Request) -> Response:
        try:
            flow = await self.admit(request, public_id, "leads")
            body = await self.read_json(request)
            if not isinstance(body, dict):
                raise RequestRejectedError("The request body must be a JSON object.", status=400)
            lead = await get_flowise(request).leads.create(
                flow.chatflow_id,
                name=body.get("name"),
                email=body.get("email"),
                phone=body.get("phone"),
                chat_id=body.get("chatId"),
            )
        except (FlowiseError, TimeoutError) as exc:
            return self.failed(exc, request, public_id)
        return self.answer(unstructure(lead), public_id, flow, request)

    async def abort(self, public_id: str, chat_id: str, request: Request) -> Response:
        try:
            flow = await self.admit(request, public_id)
            await get_flowise(request).predictions.abort(flow.chatflow_id, chat_id)
        except (FlowiseError, TimeoutError) as exc:
            return self.failed(exc, request, public_id)
        return JSONResponse(
            {"status": 200, "message": "Chat message aborted"}, headers=self.cors(request, flow)
        )

    async def attachments(self, public_id: str, chat_id: str, request: Request) -> Response:
        try:
            flow = await self.admit(request, public_id)
            _uploading(flow)
            body = await read_body(request, self.max_upload)
            files, base64 = _form_files(request.headers.get("content-type", ""), body)
            created = await get_flowise(request).attachments.create(
                flow.chatflow_id, chat_id, files, base64=base64
            )
        except (FlowiseError, TimeoutError) as exc:
            return self.failed(exc, request, public_id)
        return self.answer(unstructure(created), public_id, flow, request)

    async def get_upload_file(self, request: Request) -> Response:
        query = request.query_params
        try:
            flow = await self.admit(request, query.get("chatflowId", ""))
            _uploading(flow)
            chat_id, file_name = query.get("chatId"), query.get("fileName")
            if not chat_id or not file_name:
                raise RequestRejectedError("chatId and fileName are required.", status=400)
            params = {"chatflowId": flow.chatflow_id, "chatId": chat_id, "fileName": file_name}
            if query.get("download") == "true":
                params["download"] = "true"
            transport = get_flowise(request)._live_transport()
            upstream = await transport.send("GET", "/api/v1/get-upload-file", params=params)
        except (FlowiseError, TimeoutError) as exc:
            return self.failed(exc, request, query.get("chatflowId", ""))
        headers = {
            name: value
            for name, value in upstream.meta.headers.items()
            if name.lower() in _FILE_HEADERS
        }

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while chunk := await upstream.read():
                    yield chunk
            finally:
                upstream.close(reuse=True)

        return StreamingResponse(chunks(), headers={**headers, **self.cors(request, flow)})

    async def preflight(self, path: str, request: Request) -> Response:
        flow = None
        for index, part in enumerate(path.split("/")):
            if part in self.table and index > 0:
                flow = self.table[part]
                break
        origin = request.headers.get("origin")
        if flow is None or (flow.origins is not None and origin not in flow.origins):
            return Response(status_code=403)
        headers = {
            **self.cors(request, flow),
            "Access-Control-Allow-Methods": "GET, POST, PUT",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
        }
        return Response(status_code=204, headers=headers)

    async def other(self, path: str, request: Request) -> Response:
        error = SafeError(type="rejected", message="Not found.", status=404)
        exc = RequestRejectedError(error.message, status=404)
        record_failure(
            "widget", request=request, flow=None, error=error, exc=exc, started=started_at(request)
        )
        return _error_response(error)


def _uploading(flow: WidgetFlow) -> None:
    if not flow.uploads:
        raise RequestRejectedError("Uploads are not allowed here.")
