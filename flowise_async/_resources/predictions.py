"""``client.predictions``: run a chatflow, streamed or not; abort a run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypedDict, Unpack

from .. import _hooks
from .._batch import Batch, BatchInput, OnEvent, ProgressCallback
from .._config import Limits, Retries, Timeouts, as_timeouts
from .._convert import structure_prediction
from .._exceptions import EventDecodeError
from .._options import FinalOptions
from .._stream import Body, EventStream
from .._transport import RawResponse, RequestSpec, unexpected_content
from ..models._chat_messages import ChatMessage
from ..models._prediction import Action, Prediction, RunStatus, recovered
from ..models._request import HumanInput, Message, PredictionRequest, Upload
from . import _resume
from ._base import Endpoint, RequestOptions, Resource
from ._files import FileInput, form_files, override_form


__all__ = ["PredictionOptions", "Predictions"]


class PredictionOptions(TypedDict, total=False):
    """The per-call options of `Predictions.resume`, `resume_stream` and `stream_with_files`
    besides *timeouts*: the same as those of `Predictions.create`."""

    retries: Retries
    headers: Mapping[str, str]
    extra_headers: Mapping[str, str]
    extra_query: Mapping[str, Any]
    extra_body: Mapping[str, Any]


# Re-sent only when it certainly never reached the server (see Retries).
PREDICTION = Endpoint("POST", "/api/v1/prediction/{chatflow_id}", retry=True)
# With files (multipart): never re-sent, a file object cannot be read twice.
PREDICTION_FILES = Endpoint("POST", "/api/v1/prediction/{chatflow_id}", retry=False)
ABORT = Endpoint("PUT", "/api/v1/chatmessage/abort/{chatflow_id}/{chat_id}", expect="any")
_MESSAGES = Endpoint("GET", "/api/v1/chatmessage/{chatflow_id}", answer=list[ChatMessage])


class Predictions(Resource):
    """
    Run chatflows: ``POST /api/v1/prediction/{chatflowId}``.
    """

    __slots__ = ()

    async def create(
        self,
        chatflow_id: str,
        question: str | None = None,
        *,
        chat_id: str | None = None,
        override_config: Mapping[str, Any] | None = None,
        history: Sequence[Message | Mapping[str, Any]] | None = None,
        uploads: Sequence[Upload | Mapping[str, Any]] | None = None,
        form: Mapping[str, Any] | None = None,
        human_input: HumanInput | Mapping[str, Any] | None = None,
        action: Mapping[str, Any] | None = None,
        lead_email: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeouts: Timeouts | float | None = None,
        retries: Retries | None = None,
        headers: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        recover_from_history: bool = False,
    ) -> Prediction:
        """
        Run a chatflow and wait for the whole answer.

        Args:
            chatflow_id: The chatflow (or agent flow) to run.
            question: The user message. Required unless *form*, *human_input* or *uploads*
                replaces it.
            chat_id: The conversation to continue; the server starts a new one if omitted.
            override_config: Runtime overrides of node inputs (``overrideConfig``); only
                those the flow's API configuration enables are applied. ``sessionId`` here
                selects the memory session.
            history: Messages to prepend to the memory (`Message` or dicts with
                ``role`` and ``content``).
            uploads: Files and URLs (`Upload`), e.g. ``Upload.from_path("cat.png")``.
            form: Form values for an agent flow whose start node takes a form.
            human_input: Resume an agent flow stopped for human input.
            action: The answer to a previous ``action`` event.
            lead_email: Stored with the user message.
            extra_body: Further body fields, sent as they are.
            timeouts: Timeouts for this call: the fields you set replace the client's, the
                others stay the client's. The server sends the headers only when the run is
                over, so *headers* bounds the run time.
            retries: The retry policy for this call (a prediction is re-sent only when it
                certainly never reached the server).
            headers: Headers added to this request (over the client's ``headers=``).
            extra_headers: The same as *headers* (the name every API method takes).
            extra_query: Query parameters added to the URL.
            recover_from_history: When the answer came back empty (`RunStatus.NO_ANSWER`,
                a known failure of queue-mode deployments), read the answer the server
                stored from the chat's messages (one more request) and return it as
                complete; the status stays ``NO_ANSWER`` if none was stored.

        Returns:
            The typed result; check ``status`` (`RunStatus`) for how the run ended.

        Raises:
            APIStatusError: The server refused or failed the run (e.g. `NotFoundError` for
                an unknown chatflow, `InternalServerError` for a failing flow).
            APIConnectionError: The server could not be reached.
        """
        body = PredictionRequest(
            question=question,
            chat_id=chat_id,
            override_config=override_config,
            history=history,
            uploads=uploads,
            form=form,
            human_input=human_input,
            action=action,
            lead_email=lead_email,
            extra_body=extra_body,
        ).body(streaming=False)
        options = _options(timeouts, retries, headers, extra_headers, extra_query)
        work = self._create(chatflow_id, body, options, recover_from_history)
        if not _hooks.follows_calls():
            return await work
        run = _hooks.CallInfo(
            "run",
            "POST",
            _run_path(chatflow_id),
            chatflow_id=chatflow_id,
            chat_id=chat_id,
            question=question,
            route=PREDICTION.route,
        )
        return await _hooks.observed(run, work)

    async def _create(
        self,
        chatflow_id: str,
        body: dict[str, Any],
        options: RequestOptions,
        recover_from_history: bool,
    ) -> Prediction:
        data = await self._call(
            PREDICTION, {"chatflow_id": chatflow_id}, json_body=body, options=options
        )
        prediction = _prediction(data)
        if recover_from_history:
            prediction = await self.recover(chatflow_id, prediction)
        return prediction

    async def recover(
        self, chatflow_id: str, prediction: Prediction, **options: Unpack[RequestOptions]
    ) -> Prediction:
        """
        Complete a `RunStatus.NO_ANSWER` prediction with the answer the server stored.

        Queue-mode deployments can end a run's stream with ``metadata`` and ``end`` but
        without its answer, which the worker stored all the same. This reads the chat's
        messages (``GET /api/v1/chatmessage/{chatflowId}``) for the answer message named by
        the prediction's ``chat_message_id`` (or the chat's latest answer) and returns the
        prediction with that text and ``COMPLETE``. Any other prediction is returned as it
        is, without a request.

        Args:
            chatflow_id: The chatflow that ran.
            prediction: The result of `create` or of a stream's ``final()``.

        Returns:
            The completed prediction, or *prediction* unchanged if nothing was stored.
        """
        if prediction.status is not RunStatus.NO_ANSWER or not prediction.chat_id:
            return prediction
        message_id = prediction.chat_message_id
        params = {"chatId": prediction.chat_id, "order": "DESC", "messageId": message_id}
        messages: list[ChatMessage] = await self._call(
            _MESSAGES, {"chatflow_id": chatflow_id}, params=params, options=options
        )
        for message in messages:
            if message.role != "apiMessage" or not message.content:
                continue
            if message_id is None or message.id == message_id:
                return recovered(prediction, message.content)
        return prediction

    def stream(
        self,
        chatflow_id: str,
        question: str | None = None,
        *,
        chat_id: str | None = None,
        override_config: Mapping[str, Any] | None = None,
        history: Sequence[Message | Mapping[str, Any]] | None = None,
        uploads: Sequence[Upload | Mapping[str, Any]] | None = None,
        form: Mapping[str, Any] | None = None,
        human_input: HumanInput | Mapping[str, Any] | None = None,
        action: Mapping[str, Any] | None = None,
        lead_email: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        raise_on_error: bool = True,
        abort_on_exit: bool | None = None,
        timeouts: Timeouts | float | None = None,
        retries: Retries | None = None,
        headers: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        keep_text: bool = True,
    ) -> EventStream:
        """
        Run a chatflow and stream its events.

        Use it as ``async with client.predictions.stream(...) as stream:`` and iterate
        ``async for event in stream``. The request is sent when the block is entered.

        Args:
            chatflow_id: The chatflow to run.
            question: The user message (see `create` for this and the other body options).
            chat_id: The conversation id. When omitted a fresh UUID is generated, because
                Flowise keeps one response per ``chatId``: two concurrent streams on one id
                steal each other's events. It is ``stream.chat_id`` from the start.
            raise_on_error: Raise `ServerEventError` for an in-band ``error`` event (the
                default), or yield it as an `ErrorEvent`.
            abort_on_exit: When the stream is left before its end, ask the server to abort
                the run (``PUT /api/v1/chatmessage/abort/...``). Defaults to the client's
                setting. Flowise honours aborts in agent flows only.
            timeouts: Timeouts for this stream: the fields you set replace the client's.
            retries: The retry policy for this stream (re-sent only before its first byte,
                and only when the request certainly never reached the server).
            headers: Headers added to this request; *extra_headers* is the same.
            extra_query: Query parameters added to the URL.
            keep_text: Keep the answer text for `EventStream.text` and `EventStream.final`
                (the default; it costs about the answer's size). With False the token texts
                are only yielded, and ``text`` and ``final()`` raise `ClientStateError`.

        Returns:
            An unopened `EventStream`.

        Example::

            async with client.predictions.stream(flow_id, "What is Flowise?") as stream:
                async for text in stream.text_stream():
                    print(text, end="", flush=True)
        """
        chat_id = chat_id if chat_id is not None else str(uuid.uuid4())
        body = PredictionRequest(
            question=question,
            chat_id=chat_id,
            override_config=override_config,
            history=history,
            uploads=uploads,
            form=form,
            human_input=human_input,
            action=action,
            lead_email=lead_email,
            extra_body=extra_body,
        ).body(streaming=True)
        final = self._final(_options(timeouts, retries, headers, extra_headers, extra_query))
        spec = RequestSpec.of(
            PREDICTION, {"chatflow_id": chatflow_id}, json=body, streamed=True, options=final
        )

        async def opener() -> Body:
            return await _checked(await self._transport.send_spec(spec))

        return self._event_stream(
            opener,
            chatflow_id,
            chat_id,
            raise_on_error=raise_on_error,
            abort_on_exit=abort_on_exit,
            options=final,
            keep_text=keep_text,
            question=question,
        )

    def _event_stream(
        self,
        opener: Callable[[], Awaitable[Body]],
        chatflow_id: str,
        chat_id: str,
        *,
        raise_on_error: bool,
        abort_on_exit: bool | None,
        options: FinalOptions,
        keep_text: bool = True,
        question: Any = None,
    ) -> EventStream:
        """The stream of one prediction whose request *opener* sends (not sent yet) with
        *options*, which also give the stream its event timeout."""
        ctx = self._ctx
        if abort_on_exit is None:
            abort_on_exit = ctx.abort_on_exit
        hook = None
        if abort_on_exit:

            def hook() -> None:
                ctx.schedule_abort(chatflow_id, chat_id)

        return EventStream(
            opener,
            chat_id=chat_id,
            chatflow_id=chatflow_id,
            raise_on_error=raise_on_error,
            abort_hook=hook,
            max_event_size=ctx.max_event_size,
            event_timeout=options.timeouts.event,
            recover=lambda prediction: self.recover(chatflow_id, prediction),
            keep_text=keep_text,
            question=question,
        )

    def batch(
        self,
        chatflow_id: str,
        inputs: Iterable[BatchInput] | AsyncIterable[BatchInput],
        *,
        concurrency: int | None = None,
        stream: bool = True,
        retries: int = 0,
        fail_fast: bool = False,
        on_progress: ProgressCallback | None = None,
        total: int | None = None,
        override_config: Mapping[str, Any] | None = None,
        timeouts: Timeouts | float | None = None,
    ) -> Batch:
        """
        Run many predictions of one chatflow, a bounded number at a time.

        ``await`` the returned `Batch` for the results in input order, or iterate
        ``batch.as_completed()`` to handle each as soon as it is ready. A failed item is a
        result with ``ok`` false; the others go on.

        Args:
            chatflow_id: The chatflow every item runs.
            inputs: Questions (``str``), `PredictionRequest` objects or mappings with the
                same keys; a list, any iterable, or an async iterator (read lazily).
            concurrency: Items in flight at most; defaults to 16, and may not exceed the
                client's connection pool (``Limits.max_connections``).
            stream: Stream each item (the default) or wait for whole answers; an item's
                ``streaming`` field overrides it.
            retries: Further attempts for an item that failed before any of its answer
                arrived, for the failures the client's `Retries` treats as retryable
                (connection errors before the request was sent, 429/502/503/504). An item is
                sent at most ``retries + 1`` times (this replaces the client's attempts for
                it); one the server may have started, or a stream that delivered events, is
                never sent again.
            fail_fast: Stop at the first failed item: the items in flight are cancelled and
                its error is raised.
            on_progress: Called with a `BatchProgress` after every item (keep it quick).
            total: The number of inputs, for progress figures, when *inputs* has no length.
            override_config: ``overrideConfig`` for the items that do not set their own.
            timeouts: Overrides the client's timeouts for every item.

        Each item runs under its own ``chat_id`` (a fresh UUID unless the item gives one).

        Example::

            results = await flowise.predictions.batch(flow_id, questions, concurrency=32)
            answers = [r.value.text for r in results if r.ok]
        """
        if timeouts is not None:
            timeouts = as_timeouts(timeouts)  # a bad value fails here, not in every item

        async def run_one(options: dict[str, Any], streamed: bool, on_event: OnEvent) -> Prediction:
            if not streamed:
                return await self.create(chatflow_id, timeouts=timeouts, **options)
            async with self.stream(chatflow_id, timeouts=timeouts, **options) as events:
                async for event in events:
                    on_event(event)
                return await events.final()

        return Batch(
            run_one,
            chatflow_id,
            inputs,
            policy=self._ctx.retries,
            pool_size=_pool_size(self._ctx.limits),
            concurrency=concurrency,
            stream=stream,
            retries=retries,
            fail_fast=fail_fast,
            on_progress=on_progress,
            total=total,
            override_config=override_config,
            timeouts=timeouts,
        )

    async def create_with_files(
        self,
        chatflow_id: str,
        question: str | None = None,
        *,
        files: Iterable[FileInput],
        chat_id: str | None = None,
        override_config: Mapping[str, Any] | None = None,
        lead_email: str | None = None,
        timeouts: Timeouts | float | None = None,
        retries: Retries | None = None,
        headers: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Prediction:
        """
        Run a chatflow whose document loader reads the request's files (multipart/form-data).

        Each file goes to the loader input that fits its type (``.txt`` to ``txtFile``,
        ``.pdf`` to ``pdfFile`` ...); paths are streamed from disk without blocking the loop.
        The server reads every form field as an override, so *override_config* entries are
        sent as fields of their own: give scalar values (the server parses only ``vars``
        as JSON). The flow must allow those overrides in its API configuration, the
        loader's file input (e.g. ``txtFile``) included: otherwise the server ignores the
        files without an error.

        Args:
            chatflow_id: The chatflow to run.
            question: The user message.
            files: Paths, or ``(name, bytes)`` / ``(name, bytes, mime)`` tuples. A file's
                extension must match its MIME type (the server checks).
            chat_id: The conversation to continue.
            override_config: Node input overrides, e.g. ``{"returnSourceDocuments": True}``.
            lead_email: Stored with the user message.
            timeouts: Timeouts for this call: the fields you set replace the client's.
            retries: The retry policy for this call.
            headers: Headers added to this request; *extra_headers* is the same.
            extra_query: Query parameters added to the URL.
            extra_body: Further form fields, sent as they are.

        Returns:
            The typed result, as `create` returns it.

        Example::

            answer = await client.predictions.create_with_files(
                flow_id, "What does the report say?", files=[Path("report.txt")]
            )
        """
        parts, form = _files_form(
            files, question, chat_id, lead_email, override_config, streaming=False
        )
        work = self._create_with_files(
            chatflow_id,
            form,
            parts,
            _options(timeouts, retries, headers, extra_headers, extra_query, extra_body),
        )
        if not _hooks.follows_calls():
            return await work
        run = _hooks.CallInfo(
            "run",
            "POST",
            _run_path(chatflow_id),
            chatflow_id=chatflow_id,
            chat_id=chat_id,
            question=question,
            route=PREDICTION_FILES.route,
        )
        return await _hooks.observed(run, work)

    async def _create_with_files(
        self, chatflow_id: str, form: Mapping[str, Any], parts: Any, options: RequestOptions
    ) -> Prediction:
        data = await self._call(
            PREDICTION_FILES, {"chatflow_id": chatflow_id}, form=form, files=parts, options=options
        )
        return _prediction(data)

    async def resume(
        self,
        chatflow_id: str,
        chat_id: str,
        decision: _resume.Decision = "proceed",
        *,
        feedback: str | None = None,
        action: Action | None = None,
        start_node_id: str | None = None,
        override_config: Mapping[str, Any] | None = None,
        timeouts: Timeouts | float | None = None,
        **options: Unpack[PredictionOptions],
    ) -> Prediction:
        """
        Answer an agent flow run that stopped for a person, and wait for the rest of the run.

        Args:
            chatflow_id: The agent flow.
            chat_id: The chat of the waiting run (``prediction.chat_id``, ``stream.chat_id``).
            decision: ``"proceed"`` (approve) or ``"reject"`` (take the reject branch).
            feedback: A text for the flow (the Human Input node passes it on as a user
                message when its feedback is on).
            action: The pending action (``prediction.pending_action``); its node id is sent
                as ``startNodeId``, which servers before Flowise 3.0.3 need.
            start_node_id: The node to resume, when *action* is not at hand.
            override_config: ``overrideConfig`` for the rest of the run.
            timeouts: Overrides the client's timeouts for this call.
            **options: ``retries``, ``headers``, ``extra_headers``, ``extra_query``,
                ``extra_body``, as for `create`.

        Returns:
            The result of the rest of the run; its ``pending_action`` is set if it stopped
            again.

        Raises:
            NotWaitingError: The chat's run is not waiting (finished, failed, or none).
            ValueError: A *decision* other than ``"proceed"`` or ``"reject"``, or feedback
                for a node whose feedback is off.

        Example::

            answer = await flowise.predictions.create(flow_id, "Delete the file")
            if answer.pending_action:
                answer = await flowise.predictions.resume(flow_id, answer.chat_id, "proceed")
        """
        return await _resume.resume(
            self,
            chatflow_id,
            chat_id,
            decision,
            feedback=feedback,
            action=action,
            start_node_id=start_node_id,
            override_config=override_config,
            timeouts=timeouts,
            **options,
        )

    def resume_stream(
        self,
        chatflow_id: str,
        chat_id: str,
        decision: _resume.Decision = "proceed",
        *,
        feedback: str | None = None,
        action: Action | None = None,
        start_node_id: str | None = None,
        override_config: Mapping[str, Any] | None = None,
        abort_on_exit: bool | None = None,
        timeouts: Timeouts | float | None = None,
        **options: Unpack[PredictionOptions],
    ) -> EventStream:
        """
        `resume`, streamed: answer a waiting run and stream the rest of it.

        Use it like `stream` (``async with ... as stream``). A chat that is not waiting
        raises `NotWaitingError` from the iteration (the server says so in the stream).

        Example::

            async with flowise.predictions.resume_stream(flow_id, chat_id, "reject") as s:
                async for text in s.text_stream():
                    print(text, end="")
        """
        return _resume.resume_stream(
            self,
            chatflow_id,
            chat_id,
            decision,
            feedback=feedback,
            action=action,
            start_node_id=start_node_id,
            override_config=override_config,
            abort_on_exit=abort_on_exit,
            timeouts=timeouts,
            **options,
        )

    def stream_with_files(
        self,
        chatflow_id: str,
        question: str | None = None,
        *,
        files: Iterable[FileInput],
        chat_id: str | None = None,
        override_config: Mapping[str, Any] | None = None,
        lead_email: str | None = None,
        raise_on_error: bool = True,
        abort_on_exit: bool | None = None,
        timeouts: Timeouts | float | None = None,
        **options: Unpack[PredictionOptions],
    ) -> EventStream:
        """
        `create_with_files`, streamed: send files to the flow's document loaders
        (multipart/form-data) and stream the answer.

        Files given as paths are streamed from disk: a large upload does not grow the
        client's memory. The request is not re-sent on a failed connection (a file object
        cannot be read twice). Use it like `stream`; the arguments are those of
        `create_with_files`, and *raise_on_error*, *abort_on_exit* as in `stream`.

        Example::

            async with flowise.predictions.stream_with_files(
                flow_id, "Summarise the report", files=[Path("report.txt")]
            ) as stream:
                async for text in stream.text_stream():
                    print(text, end="")
        """
        parts, form = _files_form(
            files, question, chat_id, lead_email, override_config, streaming=True
        )
        chat_id = form["chatId"]  # a streamed run gets its id now, for its abort
        final = self._final(
            _options(
                timeouts,
                options.get("retries"),
                options.get("headers"),
                options.get("extra_headers"),
                options.get("extra_query"),
                options.get("extra_body"),
            )
        )

        spec = RequestSpec.of(
            PREDICTION_FILES,
            {"chatflow_id": chatflow_id},
            form=form,
            files=tuple(parts),
            streamed=True,
            options=final,
        )

        async def opener() -> Body:
            return await _checked(await self._transport.send_spec(spec))

        return self._event_stream(
            opener,
            chatflow_id,
            chat_id,
            raise_on_error=raise_on_error,
            abort_on_exit=abort_on_exit,
            options=final,
            question=question,
        )

    async def abort(
        self, chatflow_id: str, chat_id: str, **options: Unpack[RequestOptions]
    ) -> None:
        """
        Ask the server to abort a running prediction: ``PUT
        /api/v1/chatmessage/abort/{chatflowId}/{chatId}``.

        Flowise answers 200 even when nothing runs; it stops agent flows, while classic
        chatflows run to their end.
        """
        await self._call(ABORT, {"chatflow_id": chatflow_id, "chat_id": chat_id}, options=options)


def _options(  # noqa: PLR0917 - private, called with the same six values each time
    timeouts: Timeouts | float | None,
    retries: Retries | None,
    headers: Mapping[str, str] | None,
    extra_headers: Mapping[str, str] | None,
    extra_query: Mapping[str, Any] | None,
    extra_body: Mapping[str, Any] | None = None,
) -> RequestOptions:
    """The `RequestOptions` of a prediction call's keyword arguments (``headers`` and
    ``extra_headers`` are one option), merged by `Resource._final` as every call's are."""
    options: RequestOptions = {}
    if timeouts is not None:
        options["timeouts"] = timeouts
    if retries is not None:
        options["retries"] = retries
    if headers or extra_headers:
        options["extra_headers"] = {**(headers or {}), **(extra_headers or {})}
    if extra_query is not None:
        options["extra_query"] = extra_query
    if extra_body is not None:
        options["extra_body"] = extra_body
    return options


def _pool_size(limits: Limits) -> int:
    pool = limits.max_connections
    if limits.max_connections_per_host:
        pool = min(pool, limits.max_connections_per_host)
    return pool


def _prediction(data: Any) -> Prediction:
    """Structure a JSON prediction answer; a wrong shape is an `EventDecodeError`."""
    try:
        return structure_prediction(data)
    except (ValueError, TypeError) as exc:
        raise EventDecodeError(
            f"the answer of the prediction is not a prediction object: {exc}",
            event=None,
            data=str(data)[:200],
        ) from None


def _files_form(
    files: Iterable[FileInput],
    question: str | None,
    chat_id: str | None,
    lead_email: str | None,
    override_config: Mapping[str, Any] | None,
    *,
    streaming: bool,
) -> tuple[list[Any], dict[str, Any]]:
    """
    The file parts and the text fields of a multipart prediction. Flowise reads the form as
    the request body (``streaming`` as the text ``"true"``) and copies every field into
    ``overrideConfig``, so the overrides are top-level fields. A streamed run gets a fresh
    chat id when none is given.
    """
    parts = form_files(files)
    if not parts:
        use = "stream" if streaming else "create"
        raise ValueError(f"files is empty: use {use}() for a prediction without files")
    if question is not None and not isinstance(question, str):
        raise TypeError(f"question must be a string, got {type(question).__name__}")
    if streaming:
        if chat_id is not None and (not isinstance(chat_id, str) or not chat_id):
            raise ValueError("chat_id must be a non-empty string")
        chat_id = chat_id if chat_id is not None else str(uuid.uuid4())
    fields = PredictionRequest(
        question=question, chat_id=chat_id, lead_email=lead_email
    ).wire_fields()
    if streaming:
        fields["streaming"] = "true"
    return parts, override_form(override_config, fields)


async def _checked(raw: RawResponse) -> Body:
    """Accept an event stream or a JSON answer; anything else is a clear error."""
    content_type = raw.content_type
    if content_type in {"text/event-stream", "application/json"}:
        return raw
    try:
        body = await raw.read_all(1024 * 1024)
    except BaseException:
        raw.close(reuse=False)
        raise
    raw.close(reuse=True)
    raise unexpected_content(raw, body)


def _run_path(chatflow_id: str) -> str:
    """The path of a run's request, as the hooks' `CallInfo` shows it."""
    return RequestSpec(
        method=PREDICTION.method, route=PREDICTION.route, path_params={"chatflow_id": chatflow_id}
    ).path
