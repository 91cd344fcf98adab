"""
OpenTelemetry for flowise_async: a span per run, the GenAI client metrics, trace context.

Install the extra (``python -m pip install "./flowise_async[otel]"`` next to a clone) and switch
it on once::

    from flowise_async.otel import FlowiseAsyncInstrumentor

    FlowiseAsyncInstrumentor().instrument()

or let ``opentelemetry-instrument`` find it (the ``opentelemetry_instrumentor`` entry point).
It follows the OpenTelemetry GenAI semantic conventions v1.41.0 (status Development):

- a prediction (``create``, ``stream``, their ``_with_files`` forms, a resumed run) is one
  CLIENT span
  ``invoke_agent {chatflow_id}``; a streamed one lasts the whole stream and ends exactly once:
  on the ``end`` event, an error, ``break``/``aclose``, cancellation, a timeout, or when an
  abandoned stream is garbage collected;
- every other API call is a CLIENT span ``{method} {route template}``;
- the metrics ``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage`` and, for
  streams, ``gen_ai.client.operation.time_to_first_chunk`` and
  ``gen_ai.client.operation.time_per_output_chunk``;
- a W3C ``traceparent`` header on every request.

It is built on the library's public hooks (`flowise_async.Hooks`) and patches nothing:
``instrument()`` registers its hooks, ``uninstrument()`` removes them. Switched off it costs
nothing; instrumented with no SDK (the API's no-op tracer and meter providers) no run is
followed, only the trace context of the requests is passed on.
"""

from __future__ import annotations

import json
import os
import time
import weakref
from typing import Any, Final

import attrs
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.metrics import Histogram, NoOpMeterProvider, get_meter
from opentelemetry.trace import (
    NoOpTracerProvider,
    ProxyTracerProvider,
    Span,
    SpanKind,
    StatusCode,
    Tracer,
)

from . import _hooks
from . import events as ev
from ._accumulate import PredictionAccumulator
from ._exceptions import APIStatusError, FlowiseError
from ._outcome import RunOutcome
from .models._prediction import Prediction, RunStatus


try:  # the global meter provider until an SDK one is set (no public name for its class)
    from opentelemetry.metrics._internal import _ProxyMeterProvider
except ImportError:  # pragma: no cover - a release that renamed it: treat it as recording
    _ProxyMeterProvider = NoOpMeterProvider  # type: ignore[misc,assignment]


__all__ = ["CAPTURE_CONTENT_ENV", "SEMCONV_VERSION", "FlowiseAsyncInstrumentor"]

#: The version of the GenAI semantic conventions followed (status Development).
SEMCONV_VERSION: Final = "1.41.0"
#: The environment switch for prompt and answer text on spans (``true`` to record them).
CAPTURE_CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

_SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
_PROVIDER = "flowise"
_OPERATION = "invoke_agent"
_PREDICTION_ROUTE = "/api/v1/prediction/{chatflow_id}"  # the route a run's own request takes
_ON = frozenset({"true", "1", "yes", "on", "span_only", "span_and_event"})

# Bucket boundaries the conventions advise.
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48)
_CHUNK_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)


def _error_type(error: BaseException) -> str:
    """A low-cardinality name for a failure: the exception's class name."""
    return type(error).__qualname__


def _capture_default() -> bool:
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in _ON


# The API's providers that record nothing (the proxies until an SDK is set as the global).
_SILENT_TRACING: Final = (NoOpTracerProvider, ProxyTracerProvider)
_SILENT_METRICS: Final = (NoOpMeterProvider, _ProxyMeterProvider)


@attrs.define(kw_only=True)
class _Telemetry:
    """The tracer, the instruments and the settings of one `instrument` call."""

    tracer: Tracer
    duration: Histogram
    tokens: Histogram
    first_chunk: Histogram
    per_chunk: Histogram
    capture: bool
    tracer_provider: Any = None
    """The provider given to `instrument`, else None (the global one, looked up per run)."""
    meter_provider: Any = None

    def recording(self) -> bool:
        """
        Whether anything would be recorded: a tracer or a meter provider other than the
        API's no-op ones (checked per run: a global SDK may be set after `instrument`).
        """
        tracing = self.tracer_provider or trace.get_tracer_provider()
        if not isinstance(tracing, _SILENT_TRACING):
            return True
        meters = self.meter_provider or metrics.get_meter_provider()
        return not isinstance(meters, _SILENT_METRICS)


_telemetry: _Telemetry | None = None


def _messages(role: str, text: str, **more: Any) -> str:
    return json.dumps(
        [{"role": role, "parts": [{"type": "text", "content": text}], **more}],
        ensure_ascii=False,
    )


def _server(request: _hooks.SentRequest) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if request.server_address:
        found["server.address"] = request.server_address
    if request.server_port is not None:
        found["server.port"] = request.server_port
    return found


class _Follower(_hooks.CallHooks):
    """A span of ours following one call: the base of a run's and of a plain call's."""

    __slots__ = ("attached", "span", "status")

    def __init__(self) -> None:
        self.span: Span | None = None
        self.status: int | None = None
        self.attached: object = None  # the context token while the span is current


def _ours(call: _hooks.CallInfo | None) -> _Follower | None:
    """Our follower of *call*, or of the nearest call it was made within."""
    while call is not None:
        for follower in call.hooks:
            if isinstance(follower, _Follower):
                return follower
        call = call.parent
    return None


def _parent_context(call: _hooks.CallInfo) -> Any:
    """The context a call's span starts in: its library parent's span, else the current."""
    parent = _ours(call.parent)
    if parent is None or parent.span is None:
        return None
    return trace.set_span_in_context(parent.span)


def _attach(follower: _Follower) -> None:
    """Make the span current while the call runs (hooks of a non-streamed call: one task)."""
    if follower.span is not None:
        follower.attached = otel_context.attach(trace.set_span_in_context(follower.span))


def _detach(follower: _Follower) -> None:
    """The span is no longer current (see `_attach`)."""
    token, follower.attached = follower.attached, None
    if token is not None:
        otel_context.detach(token)  # type: ignore[arg-type]


class _Run(_Follower):
    """
    One prediction: its span and metrics. `end` records it once, whatever calls it first
    (the last event, an error, ``aclose``, the garbage collector).
    """

    __slots__ = (
        "__weakref__",
        "base",
        "chat_id",
        "chatflow_id",
        "done",
        "error",
        "first",
        "fresh",
        "last",
        "outcome",
        "parts",
        "question",
        "read_at",
        "started",
        "streamed",
        "tel",
        "texts",
    )

    def __init__(self, call: _hooks.CallInfo, tel: _Telemetry) -> None:
        super().__init__()
        chatflow_id = call.chatflow_id or ""
        chat_id = call.chat_id
        streamed = call.streamed
        question = call.question
        # The metrics' attributes; the server's are added when the request is sent.
        self.base: dict[str, Any] = {
            "gen_ai.operation.name": _OPERATION,
            "gen_ai.provider.name": _PROVIDER,
        }
        self.chat_id = chat_id
        self.streamed = streamed
        self.question = question
        self.tel: _Telemetry | None = tel
        self.started = 0.0
        self.first: float | None = None
        self.last = 0.0  # when the last read that brought answer text arrived
        self.read_at = 0.0  # when the last read arrived
        self.fresh = False  # whether no token came from that read yet
        self.done = False
        self.error: str | None = None
        self.chatflow_id = chatflow_id
        self.outcome: RunOutcome | None = None  # created at the first event that tells
        self.parts = PredictionAccumulator()  # what the events add, as the event table says
        self.texts: list[str] | None = None
        self._start(chatflow_id, tel, _parent_context(call))
        _runs.add(self)

    def _start(self, chatflow_id: str, tel: _Telemetry, context: Any) -> None:
        attributes: dict[str, Any] = {
            **self.base,
            "gen_ai.agent.id": chatflow_id,
            "gen_ai.request.stream": self.streamed,
        }
        if self.chat_id:
            attributes["gen_ai.conversation.id"] = self.chat_id
        if tel.capture:
            self.texts = []
            if isinstance(self.question, str):
                attributes["gen_ai.input.messages"] = _messages("user", self.question)
        self.span = tel.tracer.start_span(
            f"{_OPERATION} {chatflow_id}",
            context=context,
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        self.started = time.perf_counter()

    # -- the hooks ---------------------------------------------------------------------------

    def chunk_read(self, size: int) -> None:
        """A read arrived: its first token makes it an output chunk."""
        self.read_at = time.perf_counter()
        self.fresh = True

    def event_received(self, event: ev.Event) -> None:
        """Each event handed to the consumer."""
        if self.done:
            return
        if type(event) is ev.TokenEvent:
            if self.fresh:
                self.chunk()
            if self.texts is not None:
                self.texts.append(event.text)
        else:
            self.other(event)

    def ended(
        self,
        outcome: _hooks.Outcome,
        *,
        prediction: Prediction | None = None,
        error: BaseException | None = None,
    ) -> None:
        """The run ended: with the first of the end, a failure, a close (see `end`)."""
        _detach(self)
        if error is not None:
            self.fail(error)
        else:
            self.end(outcome, prediction=prediction)

    # -- during the run ----------------------------------------------------------------------

    def chunk(self) -> None:
        """The first token of a read arrived: the read is an output chunk."""
        self.fresh = False
        now = self.read_at
        tel = self.tel
        if tel is not None:
            if self.first is None:
                self.first = now
                tel.first_chunk.record(now - self.started, self.base)
            else:
                tel.per_chunk.record(now - self.last, self.base)
        self.last = now

    def other(self, event: ev.Event) -> None:
        """Any other event: what tells how the run ended (`RunOutcome`), its parts, the end."""
        if RunOutcome.watches(event):
            if self.outcome is None:
                self.outcome = RunOutcome()
            self.outcome.add(event)
        elif type(event) is ev.EndEvent:
            self.end("end", prediction=self._settled())
        else:
            self.parts.add(event)

    def _settled(self) -> Prediction:
        """How a stream that reached its end ended: the same rules as its ``final()``."""
        prediction = attrs.evolve(
            self.parts.prediction(self.chat_id or ""),
            # The text itself when it is recorded; else only whether answer text came counts.
            text="".join(self.texts) if self.texts else "" if self.first is None else " ",
        )
        outcome = self.outcome or RunOutcome()
        return outcome.settle(prediction, chatflow_id=self.chatflow_id, redact=_same)

    # -- the end -----------------------------------------------------------------------------

    def fail(self, error: BaseException) -> None:
        """The run ended with *error*."""
        if not self.done:
            self.error = _error_type(error)
            self.end("error", error)

    def end(
        self,
        outcome: str,
        error: BaseException | None = None,
        prediction: Prediction | None = None,
    ) -> None:
        """End the span and record the metrics, once."""
        if self.done:
            return
        self.done = True
        _runs.discard(self)
        span, tel = self.span, self.tel
        if span is None or tel is None:
            return
        elapsed = time.perf_counter() - self.started
        usage = prediction.usage if prediction is not None else None
        self.chat_id = self.parts.fields().get("chat_id") or self.chat_id
        if prediction is not None:
            self.chat_id = prediction.chat_id or self.chat_id
            if prediction.status is RunStatus.FAILED and self.error is None:
                self.error = _error_type(prediction.error) if prediction.error else "failed"
        attributes: dict[str, Any] = {}
        if self.chat_id:
            attributes["gen_ai.conversation.id"] = self.chat_id
        if self.streamed:
            attributes["flowise.stream.outcome"] = outcome
        if prediction is not None:
            attributes["flowise.run.status"] = prediction.status.value
        status = self.status
        if status is not None:
            attributes["http.response.status_code"] = status
        if usage is not None:
            if usage.input_tokens is not None:
                attributes["gen_ai.usage.input_tokens"] = usage.input_tokens
            if usage.output_tokens is not None:
                attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
        if self.texts is not None:
            text = prediction.text if prediction is not None else "".join(self.texts)
            attributes["gen_ai.output.messages"] = _messages(
                "assistant", text, finish_reason="error" if self.error else "stop"
            )
        metric = self.base
        if self.error is not None:
            attributes["error.type"] = self.error
            metric = {**self.base, "error.type": self.error}
            span.set_status(StatusCode.ERROR, _description(error))
        span.set_attributes(attributes)
        span.end()
        tel.duration.record(elapsed, metric)
        if usage is not None:
            for kind, count in (("input", usage.input_tokens), ("output", usage.output_tokens)):
                if count is not None:
                    tel.tokens.record(count, {**self.base, "gen_ai.token.type": kind})


def _description(error: BaseException | None) -> str | None:
    """The span status description: the library's own messages carry no API key."""
    if isinstance(error, FlowiseError):
        return str(error)[:500]
    return None


def _same(text: str) -> str:
    return text


# Runs not ended yet: `uninstrument` ends them.
_runs: weakref.WeakSet[_Run] = weakref.WeakSet()


class _Call(_Follower):
    """An API call: a CLIENT span named by its method and route template."""

    __slots__ = ()

    def __init__(self, call: _hooks.CallInfo, tel: _Telemetry) -> None:
        super().__init__()
        # Named by the route template its endpoint declares (never an id or a key); the
        # method alone for a route without a declaration (`AsyncFlowise.request`).
        route = call.route
        attributes: dict[str, Any] = {"http.request.method": call.method}
        if route is not None:
            attributes["url.template"] = route
        self.span = tel.tracer.start_span(
            call.method if route is None else f"{call.method} {route}",
            context=_parent_context(call),
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )

    def ended(
        self,
        outcome: _hooks.Outcome,
        *,
        prediction: Prediction | None = None,
        error: BaseException | None = None,
    ) -> None:
        """The call ended: its status, its error type, the end of its span."""
        _detach(self)
        span = self.span
        if span is None:  # pragma: no cover - a call's span exists from its start
            return
        if error is not None:
            kind = str(error.status) if isinstance(error, APIStatusError) else _error_type(error)
            span.set_attribute("error.type", kind)
            span.set_status(StatusCode.ERROR, _description(error))
        if self.status is not None:
            span.set_attribute("http.response.status_code", self.status)
        span.end()


class _Hooks(_hooks.Hooks):
    """The instrumentation's hooks: every run and call of every client of the process."""

    def call_started(self, call: _hooks.CallInfo) -> _hooks.CallHooks | None:
        """A span for the call (a run's own request has none), while something records."""
        tel = _telemetry
        if tel is None or not tel.recording():
            return None  # no SDK: no span, no metric, no per-event work
        follower: _Follower
        if call.kind == "run":
            follower = _Run(call, tel)
        elif call.route == _PREDICTION_ROUTE and isinstance(_ours(call.parent), _Run):
            return None  # the run's own request: the run's span covers it
        else:
            follower = _Call(call, tel)
        if not call.streamed:
            _attach(follower)  # current while it runs: what it causes nests under it
        return follower

    def request_sent(self, request: _hooks.SentRequest) -> None:
        """Every request: the trace context in its headers, the server on our span."""
        ours = _ours(request.call)
        span = ours.span if ours is not None else None
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=None if span is None else trace.set_span_in_context(span))
        for name, value in carrier.items():
            request.headers.setdefault(name, value)  # a header the caller set wins
        if ours is None or span is None:
            return
        server = _server(request)
        if isinstance(ours, _Run):
            if "server.address" not in ours.base:  # known here, whoever started the run
                ours.base.update(server)
                span.set_attributes(server)
        elif request.attempt == 1:
            span.set_attributes(server)

    def response_headers(self, request: _hooks.SentRequest, meta: Any) -> None:
        """The status, for our span's ``http.response.status_code``."""
        ours = _ours(request.call)
        if ours is not None:
            ours.status = meta.status


_HOOKS: Final = _Hooks()


# -- the instrumentor --------------------------------------------------------------------------


class FlowiseAsyncInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """
    The OpenTelemetry instrumentor of flowise_async.

    ``instrument()`` takes the usual ``tracer_provider=`` and ``meter_provider=`` (the global
    ones by default) and ``capture_content=`` (record the question and the answer text on
    the prediction spans; by default the ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
    environment variable, off unless ``true``). The API key is never recorded.

    Example::

        from flowise_async.otel import FlowiseAsyncInstrumentor

        FlowiseAsyncInstrumentor().instrument()
    """

    def instrumentation_dependencies(self) -> tuple[str, ...]:
        """The packages this instrumentation applies to."""
        return ("flowise-async >= 0.1.0",)

    def _instrument(self, **kwargs: Any) -> None:
        global _telemetry  # noqa: PLW0603 - one instrumentation per process, as OpenTelemetry's
        from flowise_async import __version__  # noqa: PLC0415

        tracer = trace.get_tracer(
            __name__, __version__, kwargs.get("tracer_provider"), schema_url=_SCHEMA_URL
        )
        meter = get_meter(
            __name__, __version__, kwargs.get("meter_provider"), schema_url=_SCHEMA_URL
        )
        capture = kwargs.get("capture_content")
        _telemetry = _Telemetry(
            tracer=tracer,
            tracer_provider=kwargs.get("tracer_provider"),
            meter_provider=kwargs.get("meter_provider"),
            duration=meter.create_histogram(
                "gen_ai.client.operation.duration",
                unit="s",
                description="GenAI operation duration.",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
            ),
            tokens=meter.create_histogram(
                "gen_ai.client.token.usage",
                unit="{token}",
                description="Number of input and output tokens used.",
                explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
            ),
            first_chunk=meter.create_histogram(
                "gen_ai.client.operation.time_to_first_chunk",
                unit="s",
                description="Time from sending the request to the first output chunk.",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
            ),
            per_chunk=meter.create_histogram(
                "gen_ai.client.operation.time_per_output_chunk",
                unit="s",
                description="Time from the previous output chunk to this one.",
                explicit_bucket_boundaries_advisory=_CHUNK_BUCKETS,
            ),
            capture=_capture_default() if capture is None else bool(capture),
        )
        _hooks.add_hooks(_HOOKS)

    def _uninstrument(self, **kwargs: Any) -> None:
        global _telemetry  # noqa: PLW0603
        _hooks.remove_hooks(_HOOKS)
        for run in list(_runs):  # no longer followed: their spans end now
            run.end("uninstrumented")
        _telemetry = None
