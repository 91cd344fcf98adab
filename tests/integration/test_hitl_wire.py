"""
The bytes of an agent flow that waits for a person, on the real 3.0.13 and 3.1.4.

Runs the script of ``tests/_hitl_wire.py`` (a run that stops, streamed and plain; resume with
proceed and feedback, and with reject; resumes of a finished chat and of a chat that never ran;
the executions routes) and keeps what each line answered in
``tests/integration/wire/<line>-hitl-*`` (rewritten when ``FLOWISE_ASYNC_WRITE_WIRE=1`` or
missing). The fake server is checked against those files in ``tests/unit/test_testing_hitl.py``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from flowise_async import AsyncFlowise
from harness.server import RealFlowise
from tests import _hitl_wire as hw


pytestmark = pytest.mark.integration

LINES = ("3.0.13", "3.1.4")


@pytest.fixture
async def hitl_flow(client: AsyncFlowise, real_flowise: RealFlowise) -> AsyncIterator[str]:
    flow = await client.chatflows.create(
        name=f"it-hitl-wire-{uuid.uuid4().hex[:8]}",
        type="AGENTFLOW",
        flow_data=real_flowise.flow_data("agentflow-hitl"),
    )
    yield flow.id
    await client.chatflows.delete(flow.id)


async def test_waiting_runs_and_executions_keep_their_shape(
    real_flowise: RealFlowise, hitl_flow: str, flowise_line: str
) -> None:
    """The line answers the script as captured (event order, keys, value types)."""
    captured = await hw.capture_hitl(real_flowise.base_url, hitl_flow, api_key=real_flowise.api_key)

    # What the fake server relies on, read from the real answers.
    stopped = hw.event_names(captured["stopped"].body)
    assert stopped[-6:] == [
        "nextAgentFlow",
        "agentFlowExecutedData",
        "agentFlowEvent",
        "action",
        "metadata",
        "end",
    ] or stopped[-7:] == [
        "nextAgentFlow",
        "agentFlowExecutedData",
        "agentFlowEvent",
        "action",
        "agentFlowEvent",
        "metadata",
        "end",
    ]
    assert captured["execution"].decoded()["state"] == "STOPPED"
    assert "Echo: make it short" in captured["proceed"].body.decode()
    assert captured["reject-plain"].decoded()["text"] == "Request rejected."
    assert "Request rejected." in captured["reject"].body.decode()
    assert captured["not-waiting-plain"].status == 500
    assert "FINISHED" in captured["not-waiting-plain"].decoded()["message"]
    assert "error" in hw.event_names(captured["not-waiting"].body)
    assert captured["no-run-plain"].status == 500
    assert captured["public"].status == 200

    if (
        os.environ.get("FLOWISE_ASYNC_WRITE_WIRE") == "1"
        or not hw.path_of(flowise_line, "stopped").exists()
    ):
        hw.save(flowise_line, captured)
    stored = hw.load(flowise_line)
    for name in hw.NAMES:
        assert captured[name].status == stored[name].status, name
        if name in hw.STREAMED:
            assert hw.event_names(captured[name].body) == hw.event_names(stored[name].body), name
            real = [hw.shape(p) for p in hw.stream_payloads(captured[name].body)]
            kept = [hw.shape(p) for p in hw.stream_payloads(stored[name].body)]
            assert real == kept, name
        else:
            assert hw.shape(captured[name].decoded()) == hw.shape(stored[name].decoded()), name
