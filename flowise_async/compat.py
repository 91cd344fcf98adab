"""
The call shapes of the official ``flowise`` Python SDK, asynchronous, on top of AsyncFlowise.

Porting code written for ``flowise`` (``from flowise import Flowise, PredictionData``) is
mostly a matter of changing the import, adding ``async``/``await`` and closing the client::

    from flowise_async.compat import Flowise, PredictionData

    async with Flowise("http://localhost:3000", api_key=KEY) as client:
        completion = await client.create_prediction(
            PredictionData(chatflowId=FLOW_ID, question="Tell me a joke!", streaming=True)
        )
        async for chunk in completion:  # JSON text of each event, as the SDK yields it
            print(chunk)

Differences from the official SDK, all on purpose:

- Every call is asynchronous, and the client holds a connection pool: use ``async with`` or
  ``await client.aclose()``.
- Errors are `~flowise_async.FlowiseError` subclasses (`~flowise_async.NotFoundError`,
  `~flowise_async.APITimeoutError` ...) instead of ``requests.HTTPError``; timeouts are always
  set (*timeout*, else the defaults of `~flowise_async.Timeouts`).
- Streamed chunks are the exact JSON text of each event: the SDK's
  ``line.replace("data:", "").strip()`` removed spaces around tokens and every ``data:`` inside
  them; these are kept here.
- `IMessage` is sent as ``{"role", "content"}``, the shape the server reads. The SDK sends
  ``message``/``type`` with ``content: null``, so its history arrives empty.

For new code use `~flowise_async.AsyncFlowise` directly: typed events instead of JSON strings.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from types import TracebackType
from typing import Any

from ._client import AsyncFlowise
from ._config import Timeouts
from ._resources._base import path_id
from ._stream import EventStream
from ._wire import event_payload, js_dumps
from .models._request import PredictionRequest


__all__ = ["Flowise", "IFileUpload", "IMessage", "PredictionChunks", "PredictionData"]


class IFileUpload:
    """
    A file or URL sent with a prediction, as in the official SDK.

    Args:
        data: A ``data:<mime>;base64,...`` URI, or the URL for *type* ``"url"``.
        type: ``"file"``, ``"file:rag"``, ``"file:full"``, ``"audio"`` or ``"url"``.
        name: The file name.
        mime: The MIME type.
    """

    def __init__(self, data: str | None, type: str, name: str, mime: str) -> None:
        self.data = data
        self.type = type
        self.name = name
        self.mime = mime

    def to_dict(self) -> dict[str, Any]:
        """The wire form: ``{"data", "type", "name", "mime"}``."""
        return {"data": self.data, "type": self.type, "name": self.name, "mime": self.mime}


class IMessage:
    """
    A history message, as in the official SDK, sent in the shape the server reads.

    Both spellings of the SDK work: ``IMessage(message=..., type=...)`` (its constructor) and
    ``IMessage(content=..., role=...)`` (its README). Either way the server receives
    ``{"role": ..., "content": ...}``.

    Args:
        message: The text (the SDK's constructor name for it).
        type: ``"userMessage"`` or ``"apiMessage"`` (the SDK's constructor name for the role).
        role: Same as *type*.
        content: Same as *message*.

    Raises:
        ValueError: The text or the role is missing.
    """

    def __init__(
        self,
        message: str | None = None,
        type: str | None = None,
        role: str | None = None,
        content: str | None = None,
    ) -> None:
        if (content if content is not None else message) is None:
            raise ValueError("IMessage needs its text: content= (or message=)")
        if (role or type) is None:
            raise ValueError('IMessage needs its role: role= (or type=) "userMessage"/"apiMessage"')
        self.message = message
        self.type = type
        self.role = role
        self.content = content

    def to_dict(self) -> dict[str, Any]:
        """The wire form: ``{"role", "content"}``."""
        return {
            "role": self.role or self.type,
            "content": self.content if self.content is not None else self.message,
        }


class PredictionData:
    """
    The arguments of a prediction, with the official SDK's (camelCase) names.

    Args:
        chatflowId: The chatflow to run.
        question: The user message.
        overrideConfig: Runtime overrides (``overrideConfig``).
        chatId: The conversation to continue.
        streaming: Stream the answer (when the flow can).
        history: `IMessage` items (or dicts with ``role`` and ``content``).
        uploads: `IFileUpload` items (or dicts).
    """

    def __init__(  # noqa: PLR0917 - the SDK's positional signature
        self,
        chatflowId: str,  # noqa: N803 - the SDK's names
        question: str,
        overrideConfig: dict[str, Any] | None = None,  # noqa: N803
        chatId: str | None = None,  # noqa: N803
        streaming: bool | None = False,
        history: Sequence[IMessage | dict[str, Any]] | None = None,
        uploads: Sequence[IFileUpload | dict[str, Any]] | None = None,
    ) -> None:
        self.chatflowId = chatflowId
        self.question = question
        self.overrideConfig = overrideConfig
        self.chatId = chatId
        self.streaming = streaming
        self.history = history
        self.uploads = uploads

    def _history(self) -> list[dict[str, Any]] | None:
        if not self.history:
            return None
        return [m.to_dict() if isinstance(m, IMessage) else dict(m) for m in self.history]

    def _uploads(self) -> list[dict[str, Any]] | None:
        if not self.uploads:
            return None
        return [u.to_dict() if isinstance(u, IFileUpload) else dict(u) for u in self.uploads]


def sdk_timeouts(timeout: float | None) -> Timeouts | None:
    """The official SDK's one ``timeout`` as our `Timeouts`: connect, headers and idle."""
    return Timeouts(connect=timeout, headers=timeout, idle=timeout) if timeout else None


class Flowise:
    """
    The official SDK's client, asynchronous.

    Args:
        base_url: The server root; default ``http://localhost:3000``.
        api_key: Sent as ``Authorization: Bearer <key>``.
        timeout: Seconds for connecting, for the response headers and between two events
            (the SDK's *timeout*); ``None`` keeps the defaults of `~flowise_async.Timeouts`.
        client: An `~flowise_async.AsyncFlowise` to use instead of an own one (it is then
            not closed by `aclose`).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        *,
        client: AsyncFlowise | None = None,
    ) -> None:
        self.base_url = base_url or "http://localhost:3000"
        self.api_key = api_key or ""
        self.timeout = timeout
        self._owns_client = client is None
        if client is None:
            client = AsyncFlowise(
                self.base_url, api_key=api_key or None, timeouts=sdk_timeouts(timeout)
            )
        self.client = client
        self._open: set[PredictionChunks] = set()

    def create_prediction(self, data: PredictionData) -> PredictionChunks:
        """
        Run a prediction; iterate the result with ``async for``.

        As in the SDK, the chatflow's ability to stream is checked first
        (``GET /api/v1/chatflows-streaming/{id}``). A streamed run yields the JSON text of each
        event (``'{"event":"token","data":"Hi"}'``); otherwise the answer's JSON object is
        yielded once. The result can be awaited first (``await client.create_prediction(...)``)
        or iterated directly.
        """
        return PredictionChunks(self, data)

    async def aclose(self) -> None:
        """Close the predictions left unfinished, then the client (if this object made it)."""
        for chunks in list(self._open):
            await chunks.aclose()
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> Flowise:
        await self.client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class PredictionChunks:
    """
    The result of `Flowise.create_prediction`: an async iterator of strings or one dict.

    Leaving the loop early leaves the response open until `aclose` (or `Flowise.aclose`).
    """

    def __init__(self, owner: Flowise, data: PredictionData) -> None:
        self._owner = owner
        self._data = data
        self._started = False
        self._done = False
        self._stream: EventStream | None = None
        self._answer: Any = None

    def __await__(self) -> Generator[Any, None, PredictionChunks]:
        return self._self().__await__()

    async def _self(self) -> PredictionChunks:
        return self

    def __aiter__(self) -> PredictionChunks:
        return self

    async def __anext__(self) -> Any:
        if self._done:
            raise StopAsyncIteration
        try:
            if not self._started:
                self._started = True
                await self._start()
            stream = self._stream
            if stream is None:
                self._done = True
                return self._answer
            event = await anext(stream)
        except StopAsyncIteration:
            await self.aclose()
            raise
        except BaseException:
            await self.aclose()
            raise
        return js_dumps(event_payload(event))

    async def _start(self) -> None:
        data = self._data
        client = self._owner.client
        request = PredictionRequest(
            question=data.question,
            chat_id=data.chatId,
            override_config=data.overrideConfig,
            history=data._history(),
            uploads=data._uploads(),
        )
        if data.streaming and await client.chatflows.is_streaming(data.chatflowId):
            stream = client.predictions.stream(
                data.chatflowId, raise_on_error=False, **request.options()
            )
            await stream.__aenter__()
            self._stream = stream
            self._owner._open.add(self)
            return
        # The SDK yields the server's JSON answer as it is: no public method returns it
        # untyped, so it is read through the transport.
        self._answer = await client._live_transport().request(
            "POST",
            f"/api/v1/prediction/{path_id(data.chatflowId, 'chatflowId')}",
            json_body=request.body(streaming=False),
            retry=True,
        )

    async def aclose(self) -> None:
        """Close the response. Idempotent."""
        self._done = True
        self._owner._open.discard(self)
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.aclose()
