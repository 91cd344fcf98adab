"""
Seams for observers: what the transport and the streams report while they work.

A `~flowise_async.Hooks` registered with `~flowise_async.add_hooks` is told, for every
client of the process:

- `~flowise_async.Hooks.call_started`: an API call or a prediction run begins (in the task
  that makes it); it may return a `~flowise_async.CallHooks` that follows that one call:
  `~flowise_async.CallHooks.chunk_read` and `~flowise_async.CallHooks.event_received` for
  the body and the events of a stream, `~flowise_async.CallHooks.abort_sent` when a stream
  left early schedules its abort, and `~flowise_async.CallHooks.ended` exactly once, with
  the outcome;
- `~flowise_async.Hooks.request_sent`: each attempt of a request, just before it goes out
  (its headers may still be added to, e.g. a trace context);
- `~flowise_async.Hooks.retry`: an attempt failed and another follows after a pause;
- `~flowise_async.Hooks.response_headers`: the headers of a response arrived (any status).

Only what a registered hook overrides runs: with no hook (or hooks that override nothing)
the cost is one check per call and, for a stream, one per event. The OpenTelemetry
instrumentation (`flowise_async.otel`) is built on these hooks only. A hook must be quick
and must not raise: an exception it raises propagates into the call it observes.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Literal, TypeVar


if TYPE_CHECKING:
    from .events import Event
    from .models._prediction import Prediction

__all__ = [
    "CallHooks",
    "CallInfo",
    "Hooks",
    "Outcome",
    "SentRequest",
    "add_hooks",
    "remove_hooks",
]

T = TypeVar("T")

#: How a call ended: ``end`` (it completed; a stream read to its end), ``error`` (it failed:
#: an error status, the connection, a timeout, a cancellation, an in-band error, an exception
#: in the loop body), ``closed`` (a stream left before its end without an error: ``break``,
#: ``aclose()``), ``abandoned`` (a stream garbage collected before its end).
Outcome = Literal["end", "error", "closed", "abandoned"]


class CallInfo:
    """
    One API call (``kind="call"``) or one prediction run (``kind="run"``), as hooks see it.

    Attributes:
        kind: ``"call"`` or ``"run"``.
        method: The HTTP method (``POST`` for a run).
        path: The request path, ids filled in (a secret in it is the caller's to keep:
            ``chatflows.list_for_key`` puts a key there).
        route: The route template the endpoint declares (``/api/v1/chatflows/{chatflow_id}``),
            never an id or a key; ``None`` for a route without a declaration
            (`~flowise_async.AsyncFlowise.request`).
        chatflow_id: The chatflow of a run, else ``None``.
        chat_id: The conversation id of a run, when known before it starts.
        streamed: Whether the run is streamed.
        question: The question of a run (the user's text: record it only by choice).
        parent: The call this one was made within, by the library itself: the stream run
            whose abort this call is, the run a ``recover_from_history`` read belongs to;
            else ``None``.
        hooks: What `Hooks.call_started` returned for this call (the `CallHooks` of each
            registered `Hooks` that follows it): a hook finds its own state of the parent
            call there.
    """

    __slots__ = (
        "chat_id",
        "chatflow_id",
        "hooks",
        "kind",
        "method",
        "parent",
        "path",
        "question",
        "route",
        "streamed",
    )

    def __init__(
        self,
        kind: Literal["call", "run"],
        method: str,
        path: str,
        *,
        chatflow_id: str | None = None,
        chat_id: str | None = None,
        streamed: bool = False,
        question: Any = None,
        parent: CallInfo | None = None,
        route: str | None = None,
    ) -> None:
        self.kind = kind
        self.method = method
        self.path = path
        self.chatflow_id = chatflow_id
        self.chat_id = chat_id
        self.streamed = streamed
        self.question = question
        self.parent = parent
        self.route = route
        self.hooks: tuple[CallHooks, ...] = ()

    def __repr__(self) -> str:
        return f"<CallInfo {self.kind} {self.method} chatflow_id={self.chatflow_id!r}>"


class SentRequest:
    """
    One attempt of a request, as `Hooks.request_sent`, `Hooks.retry` and
    `Hooks.response_headers` see it.

    Attributes:
        method: The HTTP method.
        url: The URL, safe to show (no credentials, no key).
        headers: The request headers about to be sent: a hook may add to them (never log
            them: ``Authorization`` holds the API key).
        attempt: 1 for the first attempt.
        server_address: The server's host name.
        server_port: The server's port.
        call: The call this request belongs to, when a registered hook follows calls
            (overrides `Hooks.call_started`).
    """

    __slots__ = ("attempt", "call", "headers", "method", "server_address", "server_port", "url")

    def __init__(
        self,
        *,
        method: str,
        url: str,
        headers: dict[str, str],
        attempt: int,
        server_address: str | None,
        server_port: int | None,
        call: CallInfo | None,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.attempt = attempt
        self.server_address = server_address
        self.server_port = server_port
        self.call = call

    def __repr__(self) -> str:
        return f"<SentRequest {self.method} {self.url} attempt={self.attempt}>"


class CallHooks:
    """
    Follows one call (returned by `Hooks.call_started`); override what you need. The
    methods of a stream's run are called from the task that reads it, `ended` from whatever
    ends it (the reading task, ``aclose()``, the garbage collector).
    """

    __slots__ = ()

    def chunk_read(self, size: int) -> None:
        """A stream's body brought *size* bytes (one read)."""

    def event_received(self, event: Event) -> None:
        """A stream hands *event* to its consumer."""

    def abort_sent(self) -> None:
        """A stream left before its end schedules its abort call (``abort_on_exit``)."""

    def ended(
        self,
        outcome: Outcome,
        *,
        prediction: Prediction | None = None,
        error: BaseException | None = None,
    ) -> None:
        """
        The call ended (once): *prediction* is a non-streamed run's result, *error* what
        failed it (``outcome="error"``).
        """


class Hooks:
    """
    An observer of every client of the process: subclass it, override the methods you need
    (each does nothing by default), register it with `add_hooks`.

    Example::

        class Printer(Hooks):
            def response_headers(self, request, meta):
                print(request.method, request.url, meta.status)

        add_hooks(Printer())
    """

    def call_started(self, call: CallInfo) -> CallHooks | None:
        """An API call or a run begins; return a `CallHooks` to follow it, or ``None``."""
        return None

    def request_sent(self, request: SentRequest) -> None:
        """An attempt of a request is about to be sent (its headers may be added to)."""

    def retry(self, request: SentRequest, error: BaseException, delay: float) -> None:
        """The attempt *request* failed with *error*; another follows in *delay* seconds."""

    def response_headers(self, request: SentRequest, meta: Any) -> None:
        """
        The headers of the response to *request* arrived: *meta* is its
        `~flowise_async.ResponseMeta` (status, headers, time to the headers), whatever
        the status.
        """


# The registered hooks: tuples replaced (never mutated) on change, read once per call. Each
# of the others holds the hooks that override that method (only those are called).
_registered: tuple[Hooks, ...] = ()
_on_call: tuple[Hooks, ...] = ()
_on_sent: tuple[Hooks, ...] = ()
_on_retry: tuple[Hooks, ...] = ()
_on_headers: tuple[Hooks, ...] = ()


def _overriding(name: str) -> tuple[Hooks, ...]:
    default = getattr(Hooks, name)
    return tuple(h for h in _registered if getattr(type(h), name) is not default)


def _changed(hooks: tuple[Hooks, ...]) -> None:
    global _registered, _on_call, _on_sent, _on_retry, _on_headers  # noqa: PLW0603
    _registered = hooks
    _on_call = _overriding("call_started")
    _on_sent = _overriding("request_sent")
    _on_retry = _overriding("retry")
    _on_headers = _overriding("response_headers")


# The library's call in progress in this task (the parent of the calls it makes itself).
current_call: contextvars.ContextVar[CallInfo | None] = contextvars.ContextVar(
    "flowise_async_call", default=None
)


def add_hooks(hooks: Hooks) -> None:
    """
    Register *hooks* for every client of the process (calls that start afterwards).

    Raises:
        TypeError: *hooks* is not a `Hooks`.
    """
    if not isinstance(hooks, Hooks):
        raise TypeError(f"hooks must be a flowise_async.Hooks, got {type(hooks).__name__}")
    if hooks not in _registered:
        _changed((*_registered, hooks))


def remove_hooks(hooks: Hooks) -> None:
    """Unregister *hooks* (calls already followed keep their `CallHooks`). Idempotent."""
    _changed(tuple(h for h in _registered if h is not hooks))


def follows_calls() -> tuple[Hooks, ...]:
    """The hooks registered now that follow calls (override `Hooks.call_started`)."""
    return _on_call


def observes_requests() -> bool:
    """Whether a registered hook overrides one of the request hooks."""
    return bool(_on_sent or _on_retry or _on_headers)


def start_call(call: CallInfo) -> CallInfo | None:
    """
    Tell the registered hooks that *call* begins; None when no hook is registered (the
    caller then skips everything else). The library's current call is *call*'s parent.
    """
    hooks = _on_call
    if not hooks:
        return None
    if call.parent is None:
        call.parent = current_call.get()
    found: list[CallHooks] = []
    for hook in hooks:
        follower = hook.call_started(call)
        if follower is not None:
            found.append(follower)
    call.hooks = tuple(found)
    return call


async def observed(call: CallInfo, work: Awaitable[T]) -> T:
    """
    Await *work*, a non-streamed call, followed by the registered hooks: started, the
    library's current call while it runs, ended once with its outcome (all in this task).
    """
    if start_call(call) is None:
        return await work
    token = current_call.set(call)
    try:
        result = await work
    except BaseException as exc:
        end_call(call, "error", error=exc)
        raise
    finally:
        current_call.reset(token)
    end_call(call, "end", prediction=result if call.kind == "run" else None)  # type: ignore[arg-type]
    return result


def end_call(
    call: CallInfo,
    outcome: Outcome,
    *,
    prediction: Prediction | None = None,
    error: BaseException | None = None,
) -> None:
    """Tell *call*'s followers that it ended (the caller makes sure it is once)."""
    for follower in call.hooks:
        follower.ended(outcome, prediction=prediction, error=error)


def sent(request: SentRequest) -> None:
    """`Hooks.request_sent` of every registered hook."""
    for hook in _on_sent:
        hook.request_sent(request)


def retrying(request: SentRequest, error: BaseException, delay: float) -> None:
    """`Hooks.retry` of every registered hook."""
    for hook in _on_retry:
        hook.retry(request, error, delay)


def headers_arrived(request: SentRequest, meta: Any) -> None:
    """`Hooks.response_headers` of every registered hook."""
    for hook in _on_headers:
        hook.response_headers(request, meta)


class _Followers(CallHooks):
    """The followers of one stream's run, as one `CallHooks` (a stream keeps one)."""

    __slots__ = ("followers",)

    def __init__(self, followers: tuple[CallHooks, ...]) -> None:
        self.followers = followers

    def chunk_read(self, size: int) -> None:
        for follower in self.followers:
            follower.chunk_read(size)

    def event_received(self, event: Event) -> None:
        for follower in self.followers:
            follower.event_received(event)

    def abort_sent(self) -> None:
        for follower in self.followers:
            follower.abort_sent()

    def ended(
        self,
        outcome: Outcome,
        *,
        prediction: Prediction | None = None,
        error: BaseException | None = None,
    ) -> None:
        for follower in self.followers:
            follower.ended(outcome, prediction=prediction, error=error)


def follower_of(call: CallInfo) -> CallHooks | None:
    """One `CallHooks` for *call*'s followers: None, the only one, or all of them."""
    followers = call.hooks
    if not followers:
        return None
    if len(followers) == 1:
        return followers[0]
    return _Followers(followers)
