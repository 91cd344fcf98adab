"""``AsyncFlowise``: the client's lifecycle, configuration and API groups."""

from __future__ import annotations

import asyncio
import enum
import os
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp

from ._chat import ChatSession
from ._config import Limits, Retries, Timeouts
from ._exceptions import ClientStateError
from ._resources._base import path_id
from ._resources.api_keys import ApiKeys
from ._resources.assistants import Assistants
from ._resources.attachments import Attachments
from ._resources.chat_messages import ChatMessages
from ._resources.chatflows import Chatflows
from ._resources.credentials import Credentials
from ._resources.document_store import DocumentStores
from ._resources.executions import Executions
from ._resources.feedback import FeedbackResource
from ._resources.leads import Leads
from ._resources.predictions import Predictions
from ._resources.tools import Tools
from ._resources.upsert_history import UpsertHistory
from ._resources.variables import Variables
from ._resources.vectors import Vectors
from ._sse import DEFAULT_MAX_EVENT_SIZE
from ._transport import Transport, logger, run_bounded
from .mock import MockTransport


__all__ = ["AsyncFlowise"]

DEFAULT_BASE_URL = "http://localhost:3000"
_ABORT_TIMEOUT = 5.0
_ABORT_PATH = "/api/v1/chatmessage/abort/{}/{}"


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class AsyncFlowise:
    """
    An asynchronous client for one Flowise server.

    Use it as an async context manager, one per application (not one per request): it owns a
    pooled ``aiohttp`` session, or borrows the *session* you pass (and then never closes it).

    Args:
        base_url: The server root, e.g. ``"http://localhost:3000"``. Defaults to
            ``FLOWISE_BASE_URL``, else ``http://localhost:3000``.
        api_key: Sent as ``Authorization: Bearer <key>``. Defaults to ``FLOWISE_API_KEY``.
            It never appears in a repr, a log line or an exception.
        timeouts: Connect, response-headers and idle timeouts (`Timeouts`).
        limits: Connection pool size and keep-alive (`Limits`).
        retries: Retry policy for failed connections and 429/502/503/504 (`Retries`).
        abort_on_exit: Default for streams: abort the run on the server when a stream is
            left before its end.
        max_event_size: The largest single event accepted from a stream, in characters.
        session: An ``aiohttp.ClientSession`` to use instead of an own one.
        headers: Extra headers sent with every request.
        ssl: ``aiohttp``'s *ssl* argument: ``True`` (verify, the default), ``False`` (don't
            verify: only for testing), or an ``ssl.SSLContext`` with your CA.
        trust_env: Read proxy settings from the environment (``HTTP_PROXY`` ...).
        transport: A `~flowise_async.mock.MockTransport` answering instead of the network
            (for tests).

    Example::

        async with AsyncFlowise("http://localhost:3000", api_key=KEY) as flowise:
            async with flowise.predictions.stream(CHATFLOW_ID, "Hi") as stream:
                async for text in stream.text_stream():
                    print(text, end="")
    """

    predictions: Predictions
    """Run chatflows, streamed or not."""
    chatflows: Chatflows
    """Create, read, update and delete chatflows."""
    attachments: Attachments
    """Turn files into text for ``file:full`` uploads."""
    chat_messages: ChatMessages
    """List and delete the stored messages of a chatflow."""
    assistants: Assistants
    """Create, read, update and delete assistants."""
    document_store: DocumentStores
    """Document stores (loaders, chunks, vector store, upsert)."""
    feedback: FeedbackResource
    """Rate answers (thumbs up/down with a comment)."""
    leads: Leads
    """Contact details left in chats."""
    tools: Tools
    """Create, read, update and delete custom tools."""
    variables: Variables
    """Create, list, update and delete variables (no read by id on the server)."""
    upsert_history: UpsertHistory
    """List and delete the past vector upserts of a chatflow."""
    vectors: Vectors
    """Upsert a chatflow's documents into its vector store."""
    credentials: Credentials
    """Create, read, update and delete credentials."""
    api_keys: ApiKeys
    """List, create, update, delete and verify API keys."""
    executions: Executions
    """List, read, share and delete agent flow runs."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeouts: Timeouts | None = None,
        limits: Limits | None = None,
        retries: Retries | None = None,
        abort_on_exit: bool = False,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        session: aiohttp.ClientSession | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: Any = True,
        trust_env: bool = False,
        transport: MockTransport | None = None,
    ) -> None:
        base_url = base_url or os.environ.get("FLOWISE_BASE_URL") or DEFAULT_BASE_URL
        if api_key is None:
            api_key = os.environ.get("FLOWISE_API_KEY") or None
        if max_event_size <= 0:
            raise ValueError("max_event_size must be positive")
        self._transport = Transport(
            base_url,
            api_key=api_key,
            timeouts=timeouts or Timeouts(),
            limits=limits or Limits(),
            retries=retries or Retries(),
            session=session,
            headers=headers,
            ssl=ssl,
            trust_env=trust_env,
            mock=transport,
        )
        self.abort_on_exit = abort_on_exit
        self.max_event_size = max_event_size
        self._state = _State.UNOPENED
        self._aborts: set[asyncio.Task[Any]] = set()
        self._owns_session = session is None
        self._attach_resources()

    def _attach_resources(self) -> None:
        ctx = _Context(self)
        self.predictions = Predictions(ctx)
        self.chatflows = Chatflows(ctx)
        self.attachments = Attachments(ctx)
        self.chat_messages = ChatMessages(ctx)
        self.assistants = Assistants(ctx)
        self.document_store = DocumentStores(ctx)
        self.feedback = FeedbackResource(ctx)
        self.leads = Leads(ctx)
        self.tools = Tools(ctx)
        self.variables = Variables(ctx)
        self.upsert_history = UpsertHistory(ctx)
        self.vectors = Vectors(ctx)
        self.credentials = Credentials(ctx)
        self.api_keys = ApiKeys(ctx)
        self.executions = Executions(ctx)

    def chat(self, chatflow_id: str, chat_id: str | None = None) -> ChatSession:
        """
        A conversation with one chatflow or agent flow that keeps its chat id.

        Args:
            chatflow_id: The flow to talk to.
            chat_id: An existing conversation to continue; a new one (a fresh UUID) if
                omitted.

        Returns:
            A `ChatSession`: ``ask()``, ``stream()``, ``resume()``, ``history()``.

        Example::

            chat = flowise.chat(flow_id)
            await chat.ask("My name is Ada.")
            print((await chat.ask("What is my name?")).text)
        """
        return ChatSession(self, chatflow_id, chat_id)

    async def ping(self) -> str:
        """
        Check that the server answers: ``GET /api/v1/ping`` (public).

        Returns:
            The server's answer, ``"pong"``.

        Raises:
            APIConnectionError: The server could not be reached.
        """
        text = await self._live_transport().request("GET", "/api/v1/ping", expect="text")
        return str(text or "")

    async def version(self) -> str:
        """The server's version, e.g. ``"3.1.4"`` (``GET /api/v1/version``, public)."""
        data = await self._live_transport().request("GET", "/api/v1/version")
        if not isinstance(data, dict) or not isinstance(data.get("version"), str):
            raise TypeError(f"unexpected answer of /api/v1/version: {str(data)[:200]}")
        return str(data["version"])

    # -- properties -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The server root (without credentials)."""
        return self._transport.display_url(self._transport.base_url)

    @property
    def timeouts(self) -> Timeouts:
        """The default timeouts."""
        return self._transport.timeouts

    @property
    def limits(self) -> Limits:
        """The connection pool limits."""
        return self._transport.limits

    @property
    def retries(self) -> Retries:
        """The retry policy."""
        return self._transport.retries

    @property
    def is_closed(self) -> bool:
        """Whether `aclose` was called."""
        return self._state is _State.CLOSED

    def __repr__(self) -> str:
        return f"<AsyncFlowise base_url={self.base_url!r} state={self._state.value}>"

    def pool_stats(self) -> dict[str, int]:
        """
        Connection pool figures: ``acquired`` (in use by a request or stream), ``idle`` (kept
        alive for reuse) and ``limit``.
        """
        return self._transport.pool_stats()

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncFlowise:
        if self._state is _State.CLOSED:
            raise ClientStateError("this AsyncFlowise is closed; create a new one")
        self._state = _State.OPEN
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """
        Wait for pending abort calls (bounded), then close the session if this client owns it.
        Calling it twice is harmless.
        """
        if self._state is _State.CLOSED:
            return
        try:
            while self._aborts:  # abort calls use the session: finish them first
                await asyncio.gather(*self._aborts, return_exceptions=True)
        finally:
            self._state = _State.CLOSED
            await self._transport.aclose()

    def __del__(self) -> None:
        transport = getattr(self, "_transport", None)  # absent if __init__ failed
        if transport is None:
            return
        if self._state is not _State.CLOSED and self._owns_session and transport.session_open:
            warnings.warn(
                f"{self!r} was not closed: use 'async with AsyncFlowise(...)' or await aclose()",
                ResourceWarning,
                stacklevel=1,
            )

    def _live_transport(self) -> Transport:
        if self._state is _State.CLOSED:
            raise ClientStateError("this AsyncFlowise is closed; create a new one")
        if self._state is _State.UNOPENED:
            # Allowed without "async with" (then aclose() is the caller's job).
            self._state = _State.OPEN
        return self._transport

    def _schedule_abort(self, chatflow_id: str, chat_id: str) -> None:
        """Abort a run on the server in a tracked, time-boxed task awaited by `aclose`."""
        if self._state is not _State.OPEN:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        logger.debug("aborting run of chatflow %s, chat %s", chatflow_id, chat_id)
        path = _ABORT_PATH.format(path_id(chatflow_id), path_id(chat_id))
        call = self._transport.request("PUT", path, expect="any", retry=False)
        task = loop.create_task(run_bounded(call, _ABORT_TIMEOUT))
        self._aborts.add(task)
        task.add_done_callback(self._aborts.discard)

    async def wait_for_aborts(self) -> None:
        """Wait until the abort calls scheduled by closed streams have finished."""
        if self._aborts:
            await asyncio.gather(*self._aborts, return_exceptions=True)


class _Context:
    """The `ResourceContext` the resources of one client share (a narrow view of it)."""

    __slots__ = ("_client",)

    def __init__(self, client: AsyncFlowise) -> None:
        self._client = client

    @property
    def abort_on_exit(self) -> bool:
        return self._client.abort_on_exit

    @property
    def max_event_size(self) -> int:
        return self._client.max_event_size

    @property
    def limits(self) -> Limits:
        return self._client.limits

    @property
    def retries(self) -> Retries:
        return self._client.retries

    def live_transport(self) -> Transport:
        return self._client._live_transport()

    def schedule_abort(self, chatflow_id: str, chat_id: str) -> None:
        self._client._schedule_abort(chatflow_id, chat_id)
