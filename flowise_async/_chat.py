"""Chat sessions: one conversation with a chatflow or agent flow, under one chat id."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._config import Timeouts
from ._exceptions import ChatBusyError
from ._resources._resume import Decision
from ._stream import EventStream
from .models._chat_messages import ChatMessage
from .models._prediction import Action, Prediction
from .models._request import Upload


if TYPE_CHECKING:
    from ._client import AsyncFlowise

__all__ = ["ChatSession"]


class ChatSession:
    """
    A conversation with one chatflow or agent flow: it keeps the chat id across questions.

    Flowise keys a flow's memory (and an agent flow's runs) by the chat id, so every question
    asked through one session continues the same conversation. Create one with
    ``flowise.chat(chatflow_id)``; ask with `ask` (whole answers) or `stream`.

    A chat id answers one question at a time: Flowise merges two runs on one chat id into
    one response, so a second ask while one runs raises `ChatBusyError`, whether it comes
    from this session or another session of the same client (or of its ``with_options``
    views) on the same chat id. Plain ``predictions.create``/``stream`` calls are not
    guarded. Use one session per conversation (they are cheap: a session is just the chat
    id and a flag).

    Attributes:
        chatflow_id: The flow.
        chat_id: The conversation id (a fresh UUID unless given).
        last: The last whole answer of `ask` or `resume`, or ``None`` before the first.

    Example::

        chat = flowise.chat(flow_id)
        await chat.ask("My name is Ada.")
        answer = await chat.ask("What is my name?")
    """

    __slots__ = ("_busy", "_client", "_pending", "chat_id", "chatflow_id", "last")

    def __init__(self, client: AsyncFlowise, chatflow_id: str, chat_id: str | None = None) -> None:
        if not isinstance(chatflow_id, str) or not chatflow_id:
            raise ValueError(f"chatflow_id must be a non-empty string, got {chatflow_id!r}")
        if chat_id is not None and (not isinstance(chat_id, str) or not chat_id):
            raise ValueError(f"chat_id must be a non-empty string, got {chat_id!r}")
        self._client = client
        self.chatflow_id = chatflow_id
        self.chat_id = chat_id if chat_id is not None else str(uuid.uuid4())
        self.last: Prediction | None = None
        self._pending: Action | None = None
        self._busy = False

    def __repr__(self) -> str:
        state = "busy" if self._busy else ("waiting" if self._pending else "idle")
        return (
            f"<ChatSession chatflow_id={self.chatflow_id!r} chat_id={self.chat_id!r} state={state}>"
        )

    @property
    def busy(self) -> bool:
        """Whether a question of this session is being answered right now."""
        return self._busy

    @property
    def pending_action(self) -> Action | None:
        """
        The request the conversation's run stopped at (an agent flow waiting for a person),
        as the last answer (or `history`) showed it; ``None`` when nothing waits.
        """
        return self._pending

    # -- asking ----------------------------------------------------------------------------

    async def ask(
        self,
        question: str | None = None,
        *,
        override_config: Mapping[str, Any] | None = None,
        uploads: Sequence[Upload | Mapping[str, Any]] | None = None,
        form: Mapping[str, Any] | None = None,
        lead_email: str | None = None,
        timeouts: Timeouts | float | None = None,
    ) -> Prediction:
        """
        Ask a question in this conversation and wait for the whole answer.

        The options are those of ``predictions.create``.

        Raises:
            ChatBusyError: Another question of this session is being answered.
        """
        with self._turn():
            answer = await self._client.predictions.create(
                self.chatflow_id,
                question,
                chat_id=self.chat_id,
                override_config=override_config,
                uploads=uploads,
                form=form,
                lead_email=lead_email,
                timeouts=timeouts,
            )
            self._record(answer)
            return answer

    def stream(
        self,
        question: str | None = None,
        *,
        override_config: Mapping[str, Any] | None = None,
        uploads: Sequence[Upload | Mapping[str, Any]] | None = None,
        form: Mapping[str, Any] | None = None,
        lead_email: str | None = None,
        timeouts: Timeouts | float | None = None,
    ) -> contextlib.AbstractAsyncContextManager[EventStream]:
        """
        Ask a question in this conversation and stream the answer.

        Use it as ``async with chat.stream("...") as stream:``; the session is busy until
        the block is left. The options are those of ``predictions.stream``.

        Raises:
            ChatBusyError: (when the block is entered) Another question of this session is
                being answered.
        """
        return self._streamed(
            lambda: self._client.predictions.stream(
                self.chatflow_id,
                question,
                chat_id=self.chat_id,
                override_config=override_config,
                uploads=uploads,
                form=form,
                lead_email=lead_email,
                timeouts=timeouts,
            )
        )

    async def resume(
        self,
        decision: Decision = "proceed",
        *,
        feedback: str | None = None,
        timeouts: Timeouts | float | None = None,
    ) -> Prediction:
        """
        Answer the run that waits for a person (`pending_action`) and wait for the rest of it.

        Raises:
            NotWaitingError: The conversation's run is not waiting.
            ChatBusyError: Another question of this session is being answered.
        """
        with self._turn():
            answer = await self._client.predictions.resume(
                self.chatflow_id,
                self.chat_id,
                decision,
                feedback=feedback,
                action=self._pending,
                timeouts=timeouts,
            )
            self._record(answer)
            return answer

    def resume_stream(
        self,
        decision: Decision = "proceed",
        *,
        feedback: str | None = None,
        timeouts: Timeouts | float | None = None,
    ) -> contextlib.AbstractAsyncContextManager[EventStream]:
        """`resume`, streamed: ``async with chat.resume_stream("proceed") as stream:``."""
        return self._streamed(
            lambda: self._client.predictions.resume_stream(
                self.chatflow_id,
                self.chat_id,
                decision,
                feedback=feedback,
                action=self._pending,
                timeouts=timeouts,
            )
        )

    # -- history ---------------------------------------------------------------------------

    async def history(self) -> list[ChatMessage]:
        """
        The stored messages of this conversation, oldest first (needs an API key).

        Also brings `pending_action` up to date: it is the action of the last answer, if
        the run still waits on it (the server clears it when the run is resumed).
        """
        messages = await self._client.chat_messages.list(self.chatflow_id, chat_id=self.chat_id)
        if messages and messages[-1].role == "apiMessage":
            self._pending = messages[-1].action
        elif not messages:
            self._pending = None
        return messages

    # -- internals -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _turn(self) -> Any:
        # One question per chat id at a time, across every session of the client and its
        # views: Flowise would merge two runs on one chat id into one response.
        busy_chats = self._client._life.busy_chats
        if self._busy or self.chat_id in busy_chats:
            where = "this session" if self._busy else "another session of this client"
            raise ChatBusyError(
                f"chat {self.chat_id} is still answering a question ({where}): Flowise would "
                "merge two runs on one chat id into one response. Wait for the answer, or use "
                "another session (flowise.chat(...)) for a parallel conversation"
            )
        self._busy = True
        busy_chats.add(self.chat_id)
        try:
            yield
        finally:
            self._busy = False
            busy_chats.discard(self.chat_id)

    def _record(self, answer: Prediction) -> None:
        self.last = answer
        self._pending = answer.pending_action

    @contextlib.asynccontextmanager
    async def _streamed(self, make: Callable[[], EventStream]) -> AsyncIterator[EventStream]:
        with self._turn():
            async with make() as stream:
                try:
                    yield stream
                finally:
                    # What the stream showed (complete when it was read to its end).
                    self._pending = stream.pending_action
