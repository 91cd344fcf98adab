"""
Resume an agent flow run that stopped for a person (human-in-the-loop).

A run that reaches a Human Input node (or an Agent node whose tool needs approval) stops and
sends an ``action``. It goes on when the client sends ``humanInput`` on the same chat: the
server resumes the latest execution of the chat's session if it is ``STOPPED``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from .._config import Timeouts
from .._exceptions import APIStatusError, NotWaitingError, ServerEventError
from .._stream import EventStream
from ..events import Event
from ..models._prediction import Action, Prediction
from ..models._request import HumanInput


if TYPE_CHECKING:
    from .predictions import Predictions

__all__ = [
    "Decision",
    "ResumeStream",
    "human_input_for",
    "not_waiting_error",
    "resume",
    "resume_stream",
]

#: The answer to a waiting run: let it go on, or take the reject branch.
Decision = Literal["proceed", "reject"]

_DECISIONS = ("proceed", "reject")

# What Flowise 3.x answers when the chat's latest execution cannot be resumed
# (packages/server/src/utils/buildAgentflow.ts).
_NOT_WAITING = re.compile(
    r"No previous execution found for session"
    r"|Cannot resume execution \S+ because it is in '(?P<state>[A-Z]+)' state"
    r"|No stopped node found in previous execution"
    r"|Node \S+ not found in previous execution"
)


def human_input_for(
    decision: Decision,
    *,
    feedback: str | None = None,
    action: Action | None = None,
    start_node_id: str | None = None,
) -> tuple[HumanInput, str]:
    """
    The ``humanInput`` of a resume and the question stored with it (as the Flowise chat
    window sends them: the feedback, else the decision's label).

    The node to resume is *start_node_id*, else the node of *action*; without either, the
    server finds the stopped node itself (Flowise 3.0.3 and later; older servers need it).

    Raises:
        ValueError: *decision* is not ``"proceed"`` or ``"reject"``; or feedback for a node
            whose feedback is off (the server would drop it).
        TypeError: A value of the wrong type.
    """
    if decision not in _DECISIONS:
        raise ValueError(f'decision must be "proceed" or "reject", got {decision!r}')
    if feedback is not None and not isinstance(feedback, str):
        raise TypeError(f"feedback must be a string, got {type(feedback).__name__}")
    if action is not None and not isinstance(action, Action):
        raise TypeError(f"action must be an Action, got {type(action).__name__}")
    if start_node_id is not None and (not isinstance(start_node_id, str) or not start_node_id):
        raise ValueError("start_node_id must be a non-empty string")
    if (
        feedback
        and action is not None
        and _is_human_input_node(action)
        and not action.feedback_enabled
    ):
        raise ValueError(
            f"the node {action.node_label or action.node_id!r} has feedback turned off: "
            "the server would drop the feedback text (send it without feedback, or turn "
            "on 'Enable Feedback' in the node)"
        )
    node_id = start_node_id or (action.node_id if action is not None else None)
    if action is not None:
        label = action.approve_label if decision == "proceed" else action.reject_label
    else:
        label = decision.capitalize()
    question = feedback if feedback else label
    return HumanInput(type=decision, start_node_id=node_id, feedback=feedback), question


def _is_human_input_node(action: Action) -> bool:
    return bool(action.node_id and action.node_id.startswith("humanInputAgentflow"))


def not_waiting_error(message: str, chatflow_id: str, chat_id: str) -> NotWaitingError | None:
    """A `NotWaitingError` when *message* is the server's "cannot resume" answer, else None."""
    match = _NOT_WAITING.search(message)
    if match is None:
        return None
    state = match.group("state")
    why = f"its latest run is {state}" if state else "it has no run stopped for a person"
    return NotWaitingError(
        f"chat {chat_id} of agent flow {chatflow_id} is not waiting for a person ({why}): "
        "nothing to resume. Check `prediction.pending_action` (or `stream.pending_action`) "
        f"before resuming. Server: {message}",
        chatflow_id=chatflow_id,
        chat_id=chat_id,
        state=state,
        server_message=message,
    )


class ResumeStream(EventStream):
    """
    The `EventStream` of a resumed run: the server's "cannot resume" error event is raised
    as `NotWaitingError` instead of `ServerEventError`.
    """

    __slots__ = ()

    async def __aenter__(self) -> EventStream:
        # A flow the server does not stream answers the request with plain JSON, and a
        # failure with an error status.
        try:
            return await super().__aenter__()
        except APIStatusError as exc:
            error = not_waiting_error(
                exc.server_message or exc.message, self.chatflow_id, self.chat_id
            )
            if error is None:
                raise
        raise error

    async def __anext__(self) -> Event:
        try:
            return await super().__anext__()
        except ServerEventError as exc:
            error = not_waiting_error(exc.server_message, self.chatflow_id, self.chat_id)
            if error is None:
                raise
        raise error


def _check_chat(chat_id: str) -> None:
    if not isinstance(chat_id, str) or not chat_id:
        raise ValueError(
            "chat_id must be the non-empty chat id of the waiting run (stream.chat_id, or "
            "prediction.chat_id)"
        )


async def resume(
    predictions: Predictions,
    chatflow_id: str,
    chat_id: str,
    decision: Decision,
    *,
    feedback: str | None,
    action: Action | None,
    start_node_id: str | None,
    override_config: Mapping[str, Any] | None,
    timeouts: Timeouts | float | None,
    **options: Any,
) -> Prediction:
    """`Predictions.resume` (see there); *options* are `create`'s per-call options."""
    _check_chat(chat_id)
    human, question = human_input_for(
        decision, feedback=feedback, action=action, start_node_id=start_node_id
    )
    try:
        return await predictions.create(
            chatflow_id,
            question,
            chat_id=chat_id,
            human_input=human,
            override_config=override_config,
            timeouts=timeouts,
            **options,
        )
    except APIStatusError as exc:
        error = not_waiting_error(exc.server_message or exc.message, chatflow_id, chat_id)
        if error is None:
            raise
    raise error


def resume_stream(
    predictions: Predictions,
    chatflow_id: str,
    chat_id: str,
    decision: Decision,
    *,
    feedback: str | None,
    action: Action | None,
    start_node_id: str | None,
    override_config: Mapping[str, Any] | None,
    abort_on_exit: bool | None,
    timeouts: Timeouts | float | None,
    **options: Any,
) -> EventStream:
    """`Predictions.resume_stream` (see there); *options* are `stream`'s per-call options."""
    _check_chat(chat_id)
    human, question = human_input_for(
        decision, feedback=feedback, action=action, start_node_id=start_node_id
    )
    stream = predictions.stream(
        chatflow_id,
        question,
        chat_id=chat_id,
        human_input=human,
        override_config=override_config,
        abort_on_exit=abort_on_exit,
        timeouts=timeouts,
        **options,
    )
    # The same stream, with the "cannot resume" error typed: ResumeStream adds no state
    # (empty __slots__), so the object only changes the class its methods come from.
    stream.__class__ = ResumeStream
    return stream
