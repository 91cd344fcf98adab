"""Agent flow executions: the stored record of each agent flow run."""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from .._types import JSON, JSON_STRING
from ._prediction import Action, ExecutedNode


__all__ = ["Execution", "ExecutionState"]


class ExecutionState(enum.StrEnum):
    """
    The state of an agent flow execution (also the ``agentFlowEvent`` values).

    A state the client does not know is kept as the server's text.
    """

    INPROGRESS = "INPROGRESS"
    """The run is going on."""
    FINISHED = "FINISHED"
    """The run reached its end."""
    ERROR = "ERROR"
    """A node failed."""
    TERMINATED = "TERMINATED"
    """The run was aborted."""
    TIMEOUT = "TIMEOUT"
    """The run took too long."""
    STOPPED = "STOPPED"
    """The run waits for a person (a Human Input node, or a tool that needs approval)."""


@attrs.frozen(kw_only=True)
class Execution:
    """
    One run of an agent flow (``/api/v1/executions``).

    A run that stopped for a person and was resumed keeps one execution: it goes from
    ``STOPPED`` back to ``INPROGRESS`` and on to its end.

    Attributes:
        id: The execution id.
        state: Where the run is (`ExecutionState`; unknown states as the server's text).
        agentflow_id: The agent flow that ran.
        session_id: The session (the chat id, unless ``overrideConfig.sessionId`` set one).
        execution_data: The node states of the run, in order (decoded from the stored
            JSON text).
        action: The request the run waits on, when it is ``STOPPED``.
        is_public: Whether ``executions.get_public`` may read it without a key.
        created_date: ISO timestamp.
        updated_date: ISO timestamp.
        stopped_date: ISO timestamp of the end of the run, if it ended.
        workspace_id: The workspace it belongs to.
        agentflow: The agent flow row, as the listing joins it (decoded JSON).
        extra: Every other field the server sent.
    """

    id: str
    state: ExecutionState | str = ""
    agentflow_id: str | None = None
    session_id: str | None = None
    execution_data: list[ExecutedNode] = attrs.field(factory=list, metadata={JSON_STRING: True})
    action: Action | None = attrs.field(default=None, metadata={JSON_STRING: True})
    is_public: bool | None = None
    created_date: str | None = None
    updated_date: str | None = None
    stopped_date: str | None = None
    workspace_id: str | None = None
    agentflow: JSON = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)

    @property
    def pending_action(self) -> Action | None:
        """
        The request the run waits on (`action`) while the run is ``STOPPED``, else ``None``.

        Older servers store no ``action`` column; then it is read from the stopped node's
        output in `execution_data`.
        """
        if self.state != ExecutionState.STOPPED:
            return None
        if self.action is not None:
            return self.action
        for node in reversed(self.execution_data):
            if node.status == ExecutionState.STOPPED:
                return _node_action(node)
        return None


def _node_action(node: ExecutedNode) -> Action | None:
    data = node.data if isinstance(node.data, Mapping) else {}
    output = data.get("output")
    if not isinstance(output, Mapping):
        return None
    raw = output.get("humanInputAction")
    if not isinstance(raw, Mapping):
        return None
    from .._convert import structure  # noqa: PLC0415 (the converter imports the models)

    return structure(dict(raw), Action)
