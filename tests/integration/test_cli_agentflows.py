"""``flowise-async predict`` answers a waiting agent flow run from a terminal (real Flowise)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flowise_async import AsyncFlowise
from flowise_async.models import ExecutionState
from harness.server import RealFlowise


pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def hitl_flow(client: AsyncFlowise, real_flowise: RealFlowise) -> AsyncIterator[str]:
    flow = await client.chatflows.create(
        name=f"it-cli-hitl-{uuid.uuid4().hex[:8]}",
        type="AGENTFLOW",
        flow_data=real_flowise.flow_data("agentflow-hitl"),
    )
    yield flow.id
    await client.chatflows.delete(flow.id)


async def _predict(real: RealFlowise, *args: str, typed: bytes | None) -> tuple[int, str, str]:
    """Run ``predict``; with *typed*, its standard input is a terminal that receives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWISE_")}
    env.update(
        FLOWISE_BASE_URL=real.base_url,
        FLOWISE_API_KEY=real.api_key,
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    master, slave = pty.openpty() if typed is not None else (None, None)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "flowise_async",
            "predict",
            *args,
            stdin=slave if slave is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        if master is not None and typed is not None:
            os.write(master, typed)  # read by the terminal's line discipline when asked
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 120)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
    finally:
        for fd in (master, slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_predict_asks_and_resumes(
    real_flowise: RealFlowise, hitl_flow: str, client: AsyncFlowise
) -> None:
    """predict shows the approve/reject choice, reads the feedback and streams the rest."""
    code, out, err = await _predict(
        real_flowise, hitl_flow, "write the memo", typed=b"p\nkeep it brief\n"
    )
    assert code == 0, err
    assert "Shall I answer?" in out
    assert out.rstrip().endswith("Echo: keep it brief")
    assert "[Human Input] the run waits for your decision." in err
    assert "[p] Proceed / [r] Reject" in err
    page = await client.executions.list(agentflow_id=hitl_flow)
    assert [e.state for e in page.items] == [ExecutionState.FINISHED]


async def test_predict_no_stream_reject(real_flowise: RealFlowise, hitl_flow: str) -> None:
    """--no-stream waits for the whole answer, then asks; r takes the reject branch."""
    code, out, err = await _predict(
        real_flowise, hitl_flow, "delete it", "--no-stream", typed=b"r\n\n"
    )
    assert code == 0, err
    assert out.rstrip().endswith("Request rejected.")


async def test_predict_without_a_terminal_leaves_the_run_waiting(
    real_flowise: RealFlowise, hitl_flow: str, client: AsyncFlowise
) -> None:
    """Without a terminal nothing is asked: the run stays STOPPED and the chat is named."""
    code, _, err = await _predict(real_flowise, hitl_flow, "archive it", typed=None)
    assert code == 0, err
    assert "left waiting" in err
    page = await client.executions.list(agentflow_id=hitl_flow)
    assert [e.state for e in page.items] == [ExecutionState.STOPPED]
    assert f"chat {page.items[0].session_id}" in err
