"""
How a streamed run ended: `RunOutcome` watches the events that say so (``error``,
``agentFlowEvent``) and settles the assembled `Prediction`: its `RunStatus` and its typed
error (its summed `Usage` is what the events add to it, as the event table says).

The rules, in order: an ``error`` event (or an agent flow ending in ``ERROR``, ``TIMEOUT``
or ``TERMINATED``) makes the run ``FAILED``; a pending action makes it
``WAITING_FOR_INPUT``; neither text nor structured output makes it ``NO_ANSWER``; else it
is ``COMPLETE``. A failed run never looks complete, whatever text arrived before the error.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from . import events as ev
from ._exceptions import ServerEventError
from .models._prediction import Prediction, RunStatus, status_of


__all__ = ["RunOutcome", "server_error"]

#: Agent flow end states that are failures (``agentFlowEvent``).
_FAILED_STATES = frozenset({"ERROR", "TIMEOUT", "TERMINATED"})

_WATCHED = (ev.ErrorEvent, ev.AgentFlowEventEvent)


def server_error(chatflow_id: str, chat_id: str, message: str) -> ServerEventError:
    """The error of a run the server reported as failed (*message* already redacted)."""
    return ServerEventError(
        f"the server reported an error during the run of chatflow {chatflow_id} "
        f"(chat {chat_id}): {message} (the flow failed on the server: check its nodes and "
        "credentials, and the server's log)",
        server_message=message,
    )


class RunOutcome:
    """Collects what tells how a run ended; `settle` applies it to the assembled result."""

    __slots__ = ("_error", "_state")

    def __init__(self) -> None:
        self._error: str | None = None
        self._state: str | None = None

    @staticmethod
    def watches(event: ev.Event) -> bool:
        """Whether *event* matters to the outcome (the others need not be given to `add`)."""
        return isinstance(event, _WATCHED)

    def add(self, event: ev.Event) -> None:
        """Take one event into account (the first error is the one reported)."""
        if isinstance(event, ev.ErrorEvent):
            if self._error is None:
                self._error = str(event.message)
        elif isinstance(event, ev.AgentFlowEventEvent):
            self._state = event.state

    def settle(
        self,
        prediction: Prediction,
        *,
        chatflow_id: str,
        redact: Callable[[str], str],
    ) -> Prediction:
        """*prediction* with its status and error (see the module docstring)."""
        message = self._error
        if message is None and self._state in _FAILED_STATES:
            message = f"the agent flow ended in state {self._state}"
        chat_id = prediction.chat_id or ""
        if message is not None:
            error = server_error(chatflow_id, chat_id, redact(message))
            return attrs.evolve(prediction, status=RunStatus.FAILED, error=error)
        return attrs.evolve(prediction, status=status_of(prediction), error=None)
