"""``AsyncFlowise``: the client's lifecycle, configuration and API groups."""

from __future__ import annotations

import asyncio
import enum
import os
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal, Unpack

import aiohttp

from ._chat import ChatSession
from ._config import Limits, Retries, Timeouts, as_timeouts
from ._exceptions import ClientStateError, UnexpectedContentError
from ._logs import logger, setup_logging
from ._options import CallOptions, FinalOptions
from ._raw import RawResponses
from ._resources._base import RequestOptions, call_options
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
from ._resources.predictions import ABORT, Predictions
from ._resources.tools import Tools
from ._resources.upsert_history import UpsertHistory
from ._resources.variables import Variables
from ._resources.vectors import Vectors
from ._sse import DEFAULT_MAX_EVENT_SIZE
from ._transport import PING, VERSION, RequestSpec, Transport, run_bounded
from .mock import MockTransport


__all__ = ["AsyncFlowise"]

DEFAULT_BASE_URL = "http://localhost:3000"
_ABORT_TIMEOUT = 5.0


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class _Lifecycle:
    """The state a client shares with its views (``with_options``, ``with_raw_response``)."""

    __slots__ = ("aborts", "busy_chats", "state")

    def __init__(self) -> None:
        self.state = _State.UNOPENED
        self.aborts: set[asyncio.Task[Any]] = set()
        # The chat ids a ChatSession of this client (or of a view) is asking on right now.
        self.busy_chats: set[str] = set()


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
        timeouts: The timeouts (`Timeouts`), or a number of seconds for *connect*,
            *headers*, *idle* and *event* (the others keep their defaults).
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

    The client logs to the standard ``flowise_async`` logger (responses at ``DEBUG``, retries
    and aborts at ``INFO``); ``FLOWISE_ASYNC_LOG=debug`` (or ``info``) in the environment
    prints that log to stderr. `with_options` gives a view with other settings for some
    calls, `with_raw_response` the HTTP responses behind the results.

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
        timeouts: Timeouts | float | None = None,
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
        setup_logging()  # FLOWISE_ASYNC_LOG=debug|info
        base_url = base_url or os.environ.get("FLOWISE_BASE_URL") or DEFAULT_BASE_URL
        if api_key is None:
            api_key = os.environ.get("FLOWISE_API_KEY") or None
        if max_event_size <= 0:
            raise ValueError("max_event_size must be positive")
        self._transport = Transport(
            base_url,
            api_key=api_key,
            timeouts=Timeouts() if timeouts is None else as_timeouts(timeouts),
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
        self._life = _Lifecycle()
        self._owns_session = session is None
        self._options: FinalOptions = self._transport.defaults
        self._is_view = False
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

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        expect: Literal["json", "text", "any"] = "json",
        **options: Unpack[RequestOptions],
    ) -> Any:
        """
        Call a route of the Flowise API that this client has no method for.

        The request goes through the client as every API method does: the base URL, the API
        key, the pool, the timeouts, the retry policy (as for the API groups' methods:
        idempotent methods are retried, others only with
        ``Retries(retry_non_idempotent=True)``), the error types and the key's redaction.
        Prefer the API groups where they cover the route: they check arguments and return
        typed results.

        Args:
            method: ``GET``, ``POST``, ``PUT``, ``PATCH`` or ``DELETE`` (any case).
            path: The route below the base URL, starting with ``/``, e.g.
                ``"/api/v1/nodes"``. Absolute URLs are refused, so that the key never goes
                to another host.
            params: Query parameters.
            json: A JSON body.
            expect: ``"json"`` (default): the body decoded as JSON; ``"text"``: the body as
                text; ``"any"``: JSON when the server says it is JSON, else text. An empty
                body is ``None``.
            **options: Per-call options (`RequestOptions`).

        Returns:
            The decoded body.

        Raises:
            ValueError: An unknown method, or a path that is not a route below the base URL.
            APIStatusError: The server answered 4xx or 5xx (a subclass per status).
            UnexpectedContentError: ``expect="json"`` and the body is not JSON, e.g. the HTML
                page Flowise answers on unknown routes.
            APIConnectionError: The server could not be reached.

        Example::

            nodes = await flowise.request("GET", "/api/v1/nodes")
            raw = await flowise.with_raw_response.request("GET", "/api/v1/nodes")
        """
        verb = method.upper() if isinstance(method, str) else method
        if verb not in _METHODS:
            raise ValueError(f"method must be one of {', '.join(_METHODS)}, got {method!r}")
        if (
            not isinstance(path, str)
            or not path.startswith("/")
            or path.startswith("//")
            or any(c in path for c in "\r\n\\#")
        ):
            raise ValueError(
                f"path must be a route below the base URL starting with '/', got {path!r}"
            )
        if expect not in ("json", "text", "any"):
            raise ValueError(f"expect must be 'json', 'text' or 'any', got {expect!r}")
        final = self._options.over(call_options(options))
        return await self._live_transport().request(
            verb, path, params=params, json_body=json, expect=expect, options=final
        )

    async def ping(self) -> str:
        """
        Check that the server answers: ``GET /api/v1/ping`` (public).

        Returns:
            The server's answer, ``"pong"``.

        Raises:
            APIConnectionError: The server could not be reached.
        """
        text = await self._live_transport().call(RequestSpec.of(PING, options=self._options))
        return str(text or "")

    async def version(self) -> str:
        """The server's version, e.g. ``"3.1.4"`` (``GET /api/v1/version``, public)."""
        transport = self._live_transport()
        data = await transport.call(RequestSpec.of(VERSION, options=self._options))
        if not isinstance(data, dict) or not isinstance(data.get("version"), str):
            options = self._options
            redact = transport.redactor((options.api_key,) if options.api_key else ())
            raise UnexpectedContentError(
                "the answer of GET /api/v1/version has no version: "
                f"{redact.cut(str(data), 200)}: is the base URL a Flowise server?",
                status=200,
                method="GET",
                url=self.base_url + "/api/v1/version",
                body=redact.cut(str(data), 500),
            )
        return str(data["version"])

    # -- properties -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The server root (without credentials)."""
        return self._transport.display_url(self._transport.base_url)

    @property
    def timeouts(self) -> Timeouts:
        """The default timeouts (of this view, for a client from `with_options`)."""
        return self._options.timeouts

    @property
    def limits(self) -> Limits:
        """The connection pool limits."""
        return self._transport.limits

    @property
    def retries(self) -> Retries:
        """The retry policy (of this view, for a client from `with_options`)."""
        return self._options.retries

    @property
    def is_closed(self) -> bool:
        """Whether `aclose` was called."""
        return self._life.state is _State.CLOSED

    def __repr__(self) -> str:
        view = " view" if self._is_view else ""
        return f"<AsyncFlowise{view} base_url={self.base_url!r} state={self._life.state.value}>"

    # -- views ------------------------------------------------------------------------------

    def with_options(
        self,
        *,
        timeouts: Timeouts | float | None = None,
        retries: Retries | None = None,
        headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        abort_on_exit: bool | None = None,
        max_event_size: int | None = None,
    ) -> AsyncFlowise:
        """
        A view of this client with other settings, sharing its connection pool and session.

        Creating a view opens nothing and costs next to nothing: make one per call if you
        like. The client it comes from owns the pool: closing that client closes the view
        too, and leaving ``async with`` on a view (or its `aclose`) closes nothing.

        Args:
            timeouts: Timeouts of the view; the fields you set replace this client's, the
                others stay this client's (`Timeouts.merge`). A number of seconds sets
                *connect*, *headers*, *idle* and *event*.
            retries: The retry policy of the view.
            headers: Headers added to this client's (a value given here wins).
            api_key: Another API key (e.g. one per tenant). Like the client's, it never
                appears in a repr, a log line, an exception or a raw response.
            abort_on_exit: The view's default for streams left before their end.
            max_event_size: The largest single event the view's streams accept.

        Returns:
            A client view (an `AsyncFlowise`).

        Example::

            slow = flowise.with_options(timeouts=Timeouts(headers=600))
            answer = await slow.predictions.create(flow_id, "Summarise the report")
        """
        if timeouts is not None:
            timeouts = as_timeouts(timeouts)
        _check_type("retries", retries, Retries)
        _check_type("headers", headers, Mapping)
        _check_type("api_key", api_key, str)
        if max_event_size is not None and max_event_size <= 0:
            raise ValueError("max_event_size must be positive")
        own = CallOptions(timeouts=timeouts, retries=retries, headers=headers, api_key=api_key)
        view = object.__new__(AsyncFlowise)
        view._transport = self._transport
        view._life = self._life
        view._owns_session = False
        view._is_view = True
        view._options = self._options.over(own)
        view.abort_on_exit = self.abort_on_exit if abort_on_exit is None else abort_on_exit
        view.max_event_size = self.max_event_size if max_event_size is None else max_event_size
        view._attach_resources()
        return view

    @property
    def with_raw_response(self) -> RawResponses:
        """
        The same API groups, answering with the HTTP response behind each result.

        ``await flowise.with_raw_response.chatflows.list()`` returns an `APIResponse` whose
        ``data`` (or ``parse()``) is what ``flowise.chatflows.list()`` returns, with the
        status, headers, timing and attempt count of the response. For a stream,
        ``async with flowise.with_raw_response.predictions.stream(...) as response`` gives
        an `APIResponse` whose ``data`` is the open `EventStream`. Request headers in it are
        redacted: the API key never shows.
        """
        return RawResponses(self)

    def pool_stats(self) -> dict[str, int]:
        """
        Connection pool figures: ``acquired`` (in use by a request or stream), ``idle`` (kept
        alive for reuse) and ``limit``.
        """
        return self._transport.pool_stats()

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncFlowise:
        if self._life.state is _State.CLOSED:
            raise ClientStateError("this AsyncFlowise is closed; create a new one")
        self._life.state = _State.OPEN
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
        Calling it twice is harmless; on a view (`with_options`) it does nothing.
        """
        if self._life.state is _State.CLOSED or self._is_view:
            return
        try:
            while self._life.aborts:  # abort calls use the session: finish them first
                await asyncio.gather(*self._life.aborts, return_exceptions=True)
        finally:
            self._life.state = _State.CLOSED
            await self._transport.aclose()

    def __del__(self) -> None:
        transport = getattr(self, "_transport", None)  # absent if __init__ failed
        if transport is None:
            return
        life = getattr(self, "_life", None)
        if life is None:
            return
        if life.state is not _State.CLOSED and self._owns_session and transport.session_open:
            warnings.warn(
                f"{self!r} was not closed: use 'async with AsyncFlowise(...)' or await aclose()",
                ResourceWarning,
                stacklevel=1,
            )

    def _live_transport(self) -> Transport:
        if self._life.state is _State.CLOSED:
            raise ClientStateError("this AsyncFlowise is closed; create a new one")
        if self._life.state is _State.UNOPENED:
            # Allowed without "async with" (then aclose() is the caller's job).
            self._life.state = _State.OPEN
        return self._transport

    def _schedule_abort(self, chatflow_id: str, chat_id: str) -> None:
        """Abort a run on the server in a tracked, time-boxed task awaited by `aclose`."""
        if self._life.state is not _State.OPEN:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        logger.info("aborting the run of chatflow %s, chat %s", chatflow_id, chat_id)
        spec = RequestSpec.of(
            ABORT,
            {"chatflow_id": chatflow_id, "chat_id": chat_id},
            retry=False,
            options=self._options,
        )
        call = self._transport.call(spec)
        task = loop.create_task(run_bounded(call, _ABORT_TIMEOUT))
        self._life.aborts.add(task)
        task.add_done_callback(self._life.aborts.discard)

    async def wait_for_aborts(self) -> None:
        """Wait until the abort calls scheduled by closed streams have finished."""
        if self._life.aborts:
            await asyncio.gather(*self._life.aborts, return_exceptions=True)


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

    @property
    def options(self) -> FinalOptions:
        return self._client._options

    def live_transport(self) -> Transport:
        return self._client._live_transport()

    def schedule_abort(self, chatflow_id: str, chat_id: str) -> None:
        self._client._schedule_abort(chatflow_id, chat_id)


def _check_type(name: str, value: object, expected: type) -> None:
    if value is not None and not isinstance(value, expected):
        raise TypeError(f"{name} must be a {expected.__name__}, got {type(value).__name__}")
